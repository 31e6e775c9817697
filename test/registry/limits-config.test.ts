// The `limits` section of the registry config: defaults that keep every client working, and bad values refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, ConfigError } from '../../registry/src/config.ts';

const base = { storage: { root: '/tmp/regop-limits-config' } };

describe('limits config', () => {
  it('defaults to 1000 connections, a 60 s idle timeout and 100 upload sessions per user', () => {
    assert.deepEqual(buildConfig(base).limits, { maxConnections: 1000, idleTimeoutMs: 60_000, maxUploadSessionsPerUser: 100 });
  });

  it('takes each limit, 0 turning it off', () => {
    const config = buildConfig({ ...base, limits: { maxConnections: 0, idleTimeout: '2m', maxUploadSessionsPerUser: 5 } });
    assert.deepEqual(config.limits, { maxConnections: 0, idleTimeoutMs: 120_000, maxUploadSessionsPerUser: 5 });
  });

  it('refuses unknown keys and values that are not counts or durations', () => {
    for (const limits of [{ maxConnection: 5 }, { maxConnections: -1 }, { idleTimeout: 'soon' }, { maxUploadSessionsPerUser: 1.5 }]) {
      assert.throws(() => buildConfig({ ...base, limits }), ConfigError, JSON.stringify(limits));
    }
  });
});
