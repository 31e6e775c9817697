import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { planEviction, type CachedManifest } from './eviction.ts';

const image = (digest: string, lastPulledAt: number, blobs: string[]): CachedManifest =>
  ({ repository: 'docker.io/x', digest, size: 10, blobs, lastPulledAt });

describe('mirror eviction plan', () => {
  const sizes = new Map([['a', 1000], ['b', 1000], ['shared', 500]]);

  it('evicts nothing under the limit or without one, and reports what the mirror holds (shared blobs once)', () => {
    const manifests = [image('m1', 1, ['a', 'shared']), image('m2', 2, ['b', 'shared'])];
    assert.deepEqual(planEviction(manifests, sizes, undefined), { cachedBytes: 2520, evict: [], bytesAfter: 2520 });
    assert.equal(planEviction(manifests, sizes, 2520).evict.length, 0);
  });

  it('evicts the least recently pulled first until the rest fits, freeing a shared blob only with its last user', () => {
    const manifests = [image('new', 3, ['b', 'shared']), image('old', 1, ['a', 'shared']), image('mid', 2, ['shared'])];
    const plan = planEviction(manifests, sizes, 1600);
    assert.deepEqual(plan.evict.map((m) => m.digest), ['old']);
    assert.equal(plan.bytesAfter, 1520);
  });

  it('keeps the most recently pulled manifest even when it alone exceeds the limit', () => {
    const plan = planEviction([image('old', 1, ['a']), image('new', 2, ['b'])], sizes, 10);
    assert.deepEqual(plan.evict.map((m) => m.digest), ['old']);
  });
});
