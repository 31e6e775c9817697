import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, ConfigError } from './config.ts';

describe('config: storage', () => {
  it('stores in a directory, not shared, by default', () => {
    const { storage } = buildConfig({ storage: { root: '/var/lib/registry' } });
    assert.equal(storage.root, '/var/lib/registry');
    assert.equal(storage.s3, undefined);
    assert.equal(storage.shared, false);
  });

  it('reads an S3 bucket, which is always shared, with path-style addressing for a custom endpoint', () => {
    const { storage } = buildConfig({
      storage: {
        s3: {
          bucket: 'team-a', prefix: '/registries/a/', endpoint: 'http://127.0.0.1:9000/',
          accessKeyFile: '/s3/accessKeyId', secretKeyFile: '/s3/secretAccessKey',
        },
      },
    });
    assert.equal(storage.root, undefined);
    assert.equal(storage.shared, true);
    assert.deepEqual(storage.s3, {
      bucket: 'team-a', prefix: 'registries/a', endpoint: 'http://127.0.0.1:9000', region: 'us-east-1',
      forcePathStyle: true, accessKeyFile: '/s3/accessKeyId', secretKeyFile: '/s3/secretAccessKey', redirect: false,
    });
  });

  it('addresses AWS by virtual host unless told, and takes credentials from the SDK chain without files', () => {
    const { storage } = buildConfig({ storage: { s3: { bucket: 'images', region: 'eu-west-1', redirect: true } } });
    assert.deepEqual(storage.s3, { bucket: 'images', prefix: '', region: 'eu-west-1', forcePathStyle: false, redirect: true });
  });

  it('rejects what cannot work, saying which key', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{}, /storage.root \(or --storage\) or storage.s3 is required/],
      [{ root: '/x', s3: { bucket: 'abc' } }, /not both/],
      [{ s3: {} }, /storage.s3.bucket must be a bucket name/],
      [{ s3: { bucket: 'Upper_Case' } }, /storage.s3.bucket must be a bucket name/],
      [{ s3: { bucket: 'abc', endpoint: 'ftp://x' } }, /storage.s3.endpoint must be an http/],
      [{ s3: { bucket: 'abc', endpoint: 'http://key:secret@x' } }, /must not hold credentials/],
      [{ s3: { bucket: 'abc', accessKeyFile: '/a' } }, /must be given together/],
      [{ s3: { bucket: 'abc', prefix: 'a/../b' } }, /storage.s3.prefix/],
      [{ s3: { bucket: 'abc', acessKey: 'x' } }, /unknown key s3.acessKey/],
    ];
    for (const [storage, message] of cases) {
      assert.throws(() => buildConfig({ storage }), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(storage));
    }
  });
});
