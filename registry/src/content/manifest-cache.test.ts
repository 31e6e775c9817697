import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManifestCache } from './manifest-cache.ts';

describe('ManifestCache', () => {
  it('keeps a manifest that is a view of a larger buffer in a buffer of its own, so the rest can be freed', () => {
    const socketRead = Buffer.alloc(64 * 1024, 1);
    const manifest = socketRead.subarray(100, 1100);
    const cache = new ManifestCache(1024 * 1024);
    cache.set('sha256:a', manifest);
    const cached = cache.get('sha256:a')!;
    assert.deepEqual(cached, manifest);
    assert.equal(cached.buffer.byteLength, 1000, 'the cached bytes do not keep the 64 KiB read alive');
  });

  it('evicts the least recently read manifests past its byte budget', () => {
    const cache = new ManifestCache(3000);
    for (const name of ['a', 'b', 'c']) cache.set(name, Buffer.alloc(1000, name));
    cache.get('a');
    cache.set('d', Buffer.alloc(1000, 'd'));
    assert.equal(cache.get('b'), undefined, 'b was read least recently');
    for (const name of ['a', 'c', 'd']) assert.deepEqual(cache.get(name), Buffer.alloc(1000, name));
  });
});
