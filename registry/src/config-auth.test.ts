import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig } from './config.ts';

const withAuth = (auth: Record<string, unknown>) => buildConfig({ storage: { root: '/tmp/x' }, auth });

describe('config: auth', () => {
  it('defaults to no trusted proxies and two password checks at once with 100 waiting', () => {
    const { auth } = withAuth({});
    assert.deepEqual(auth.trustedProxies, []);
    assert.equal(auth.maxConcurrentPasswordChecks, 2);
    assert.equal(auth.maxQueuedPasswordChecks, 100);
  });

  it('takes trusted proxies as addresses, CIDRs and proxy-addr range names', () => {
    const proxies = ['10.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1', 'loopback', 'uniquelocal'];
    assert.deepEqual(withAuth({ trustedProxies: proxies }).auth.trustedProxies, proxies);
  });

  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com', '10.0.0.1/8/8', '', 42]) {
    it(`refuses ${JSON.stringify(bad)} as a trusted proxy, naming the key`, () => {
      assert.throws(() => withAuth({ trustedProxies: [bad] }), /auth\.trustedProxies entries must be IP addresses or CIDRs/);
    });
  }

  it('refuses a trustedProxies that is not a list', () => {
    assert.throws(() => withAuth({ trustedProxies: '10.0.0.1' }), /auth\.trustedProxies must be a list/);
  });
});
