import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mirrorPrefix, mirrorsProblem, quantityBytes } from './mirrors.ts';
import type { Registry, RegistryMirror } from './registry.ts';

function registry(mirrors: RegistryMirror[]): Registry {
  return { apiVersion: 'regop.dev/v1alpha1', kind: 'Registry', metadata: { name: 'cache', namespace: 'infra' }, spec: { mirrors } };
}

const hub = { registry: 'docker.io', upstream: 'https://registry-1.docker.io' };

describe('spec.mirrors', () => {
  it('serves a host under a prefix that is a valid repository name', () => {
    assert.equal(mirrorPrefix('docker.io'), 'docker.io');
    assert.equal(mirrorPrefix('10.217.0.1:24443'), '10.217.0.1-24443');
  });

  it('reads quantities as Kubernetes does, binary and decimal', () => {
    assert.equal(quantityBytes('10Gi'), 10 * 2 ** 30);
    assert.equal(quantityBytes('500M'), 500e6);
    assert.equal(quantityBytes('1.5Ki'), 1536);
    assert.equal(quantityBytes('12345'), 12345);
    assert.ok(Number.isNaN(quantityBytes('10GB')));
  });

  it('accepts a sound list', () => {
    assert.equal(mirrorsProblem(registry([hub, { registry: 'ghcr.io', upstream: 'https://ghcr.io/', tagTTL: '1h', maxSize: '20Gi', ca: { configMapKeyRef: { name: 'ca' } } }])), null);
  });

  it('names the mirror and what is wrong with it', () => {
    const cases: Array<[RegistryMirror, RegExp]> = [
      [{ registry: 'docker.io', upstream: 'http://registry-1.docker.io' }, /docker\.io: upstream must be an https/],
      [{ registry: 'docker.io', upstream: 'https://user:pw@registry-1.docker.io' }, /without path, query or credentials/],
      [{ registry: 'docker.io', upstream: 'https://registry-1.docker.io/v2/' }, /without path/],
      [{ registry: 'docker.io', upstream: 'not a url' }, /is not a URL/],
      [{ ...hub, tagTTL: 'soon' }, /tagTTL must be a duration/],
      [{ ...hub, maxSize: '0' }, /maxSize must be a positive quantity/],
      [{ ...hub, ca: {} }, /exactly one of configMapKeyRef and secretKeyRef/],
      [{ registry: 'Docker.IO', upstream: hub.upstream }, /lower-case host/],
      [{ registry: 'other.team.svc', upstream: hub.upstream }, /cluster Service name cannot be mirrored/],
    ];
    for (const [mirror, message] of cases) assert.match(mirrorsProblem(registry([mirror])) ?? '', message, JSON.stringify(mirror));
  });

  it('refuses two hosts that would share one prefix', () => {
    const problem = mirrorsProblem(registry([{ registry: 'a-1', upstream: 'https://a' }, { registry: 'a:1', upstream: 'https://a:1' }]));
    assert.match(problem ?? '', /a-1 and a:1 would share the repository prefix a-1/);
  });

  it('never throws on a malformed list (the node agent reads stored objects)', () => {
    assert.match(mirrorsProblem(registry([null as unknown as RegistryMirror])) ?? '', /needs registry and upstream/);
    assert.match(mirrorsProblem(registry('docker.io' as unknown as RegistryMirror[])) ?? '', /must be a list/);
  });
});
