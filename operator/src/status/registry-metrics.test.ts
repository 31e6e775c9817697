import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryMetrics } from '../../../registry/src/ops/metrics.ts';
import { failedAuthFiles, hitRatio, mirrorFigures, scrapablePods, storedBytes } from './registry-metrics.ts';

describe('registry metrics', () => {
  it('names the auth files a registry failed to reload, and none when all load', () => {
    const text = [
      '# HELP regop_registry_auth_reload_failed 1 while a file failed to load',
      '# TYPE regop_registry_auth_reload_failed gauge',
      'regop_registry_auth_reload_failed{file="htpasswd"} 0',
      'regop_registry_auth_reload_failed{file="access"} 1',
      'regop_registry_storage_bytes 1234',
    ].join('\n');
    assert.deepEqual(failedAuthFiles(text), ['access']);
    assert.deepEqual(failedAuthFiles(text.replace('"access"} 1', '"access"} 0')), []);
    assert.deepEqual(failedAuthFiles('regop_registry_auth_reload_failed{file="htpasswd",pod="a"} 1'), ['htpasswd']);
    assert.deepEqual(failedAuthFiles(''), []);
  });

  it('reads what the registry really exports', async () => {
    const metrics = new RegistryMetrics();
    let failed: Array<'htpasswd' | 'access'> = ['htpasswd'];
    metrics.trackAuthReloads(() => failed);
    assert.deepEqual(failedAuthFiles((await metrics.render()).body), ['htpasswd']);
    failed = [];
    assert.deepEqual(failedAuthFiles((await metrics.render()).body), []);
  });

  it('reads the store size the registry really exports, and null from metrics without it', async () => {
    assert.equal(storedBytes('regop_registry_http_requests_total 5\n'), null);
    const metrics = new RegistryMetrics();
    const bytes = 3 * 1024 * 1024 * 1024 + 17;
    metrics.trackStorage(() => bytes);
    assert.equal(storedBytes((await metrics.render()).body), bytes);
  });

  it('asks only running pods that have an address and are not terminating', () => {
    const pods = scrapablePods([
      { metadata: { name: 'a' }, status: { phase: 'Running', podIP: '10.0.0.1' } },
      { metadata: { name: 'b' }, status: { phase: 'Pending' } },
      { metadata: { name: 'c', deletionTimestamp: new Date() }, status: { phase: 'Running', podIP: '10.0.0.3' } },
    ]);
    assert.deepEqual(pods, [{ name: 'a', ip: '10.0.0.1' }]);
  });

  it('reads each mirror\'s hits, misses and cached bytes from what the registry really exports, summed over pods', async () => {
    const pod = () => {
      const metrics = new RegistryMetrics();
      metrics.trackMirrors(['docker.io', '10.217.0.1-24443'], (mirror) => (mirror === 'docker.io' ? 5 * 1024 * 1024 : null));
      return metrics;
    };
    const [a, b] = [pod(), pod()];
    a.mirrorServed('docker.io', 'hit');
    a.mirrorServed('docker.io', 'miss');
    b.mirrorServed('docker.io', 'hit');
    b.mirrorServed('docker.io', 'hit');
    const figures = mirrorFigures([(await a.render()).body, (await b.render()).body]);
    assert.deepEqual(figures.get('docker.io'), { hits: 3, misses: 1, cachedBytes: 5 * 1024 * 1024 });
    assert.equal(hitRatio(figures.get('docker.io')!), '0.75');
    assert.deepEqual(figures.get('10.217.0.1-24443'), { hits: 0, misses: 0, cachedBytes: null });
    assert.equal(hitRatio(figures.get('10.217.0.1-24443')!), undefined);
  });
});
