import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from './config.ts';

const withMirrors = (mirrors: unknown) => buildConfig({ storage: { root: '/tmp/x' }, mirrors });

describe('config: mirrors', () => {
  it('has no mirrors by default', () => {
    assert.deepEqual(buildConfig({ storage: { root: '/tmp/x' } }).mirrors, []);
  });

  it('defaults tagTTL to 5m, the upstream timeout to 30s and no size limit', () => {
    const [mirror] = withMirrors([{ name: 'docker.io', upstream: 'https://registry-1.docker.io' }]).mirrors;
    assert.deepEqual(mirror, { name: 'docker.io', upstream: 'https://registry-1.docker.io', tagTtlMs: 300_000, timeoutMs: 30_000 });
  });

  it('reads every key, sizes in bytes or Kubernetes quantities', () => {
    const [mirror, second, third] = withMirrors([
      { name: 'docker.io', upstream: 'https://registry-1.docker.io/', credentialsFile: '/c', caFile: '/ca.pem', tagTTL: '1h', timeout: '5s', maxSize: '10Gi' },
      { name: '10.0.0.1-5000', upstream: 'https://10.0.0.1:5000', maxSize: 1000 },
      { name: 'quay.io', upstream: 'https://quay.io', maxSize: '1.5G' },
    ]).mirrors;
    assert.deepEqual(mirror, {
      name: 'docker.io', upstream: 'https://registry-1.docker.io', credentialsFile: '/c', caFile: '/ca.pem',
      tagTtlMs: 3_600_000, timeoutMs: 5000, maxSizeBytes: 10 * 2 ** 30,
    });
    assert.equal(second!.maxSizeBytes, 1000);
    assert.equal(third!.maxSizeBytes, 1_500_000_000);
  });

  const refused: Array<[string, unknown, RegExp]> = [
    ['an unknown key', [{ name: 'a', upstream: 'https://a', ttl: '5m' }], /unknown key mirrors\[0\]\.ttl/],
    ['a name with a port colon', [{ name: 'host:5000', upstream: 'https://a' }], /mirrors\[0\]\.name must be a repository name prefix/],
    ['a missing upstream', [{ name: 'a' }], /mirrors\[0\]\.upstream is required/],
    ['an upstream with a path', [{ name: 'a', upstream: 'https://a/v2' }], /without a path/],
    ['an upstream with credentials', [{ name: 'a', upstream: 'https://u:p@a' }], /must not hold credentials/],
    ['an upstream that is no URL', [{ name: 'a', upstream: 'registry-1.docker.io' }], /must be a URL/],
    ['a bad size', [{ name: 'a', upstream: 'https://a', maxSize: '10 GB' }], /mirrors\[0\]\.maxSize must be a size/],
    ['a bad TTL', [{ name: 'a', upstream: 'https://a', tagTTL: 'soon' }], /mirrors\[0\]\.tagTTL must be a duration/],
    ['overlapping prefixes', [{ name: 'a', upstream: 'https://a' }, { name: 'a/b', upstream: 'https://b' }], /overlap/],
    ['a duplicate', [{ name: 'a', upstream: 'https://a' }, { name: 'a', upstream: 'https://b' }], /overlap/],
    ['a mapping instead of a list', { name: 'a', upstream: 'https://a' }, /mirrors must be a list/],
  ];
  for (const [what, mirrors, message] of refused) {
    it(`refuses ${what}`, () => assert.throws(() => withMirrors(mirrors), message));
  }
});
