import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GcGuard } from './guard.ts';

describe('GC guard', () => {
  it('does not delete a digest protected during the run', async () => {
    const guard = new GcGuard();
    guard.begin();
    await guard.protect('sha256:a');
    let removed = false;
    assert.equal(await guard.deleteUnlessProtected('sha256:a', async () => { removed = true; }), false);
    assert.equal(removed, false);
    assert.equal(await guard.deleteUnlessProtected('sha256:b', async () => { removed = true; }), true);
    assert.equal(removed, true);
    guard.end();
  });

  it('makes protect wait for a deletion already under way, so the caller then sees the blob gone', async () => {
    const guard = new GcGuard();
    guard.begin();
    let exists = true;
    let finish!: () => void;
    const deletion = guard.deleteUnlessProtected('sha256:c', () => new Promise<void>((resolve) => { finish = () => { exists = false; resolve(); }; }));
    let protectedAt: boolean | undefined;
    const protecting = guard.protect('sha256:c').then(() => { protectedAt = exists; });
    await new Promise((r) => setImmediate(r));
    assert.equal(protectedAt, undefined, 'protect returned while the deletion was in flight');
    finish();
    await Promise.all([deletion, protecting]);
    assert.equal(protectedAt, false);
    guard.end();
  });

  it('remembers touches outside a run, for the grace period', async () => {
    const guard = new GcGuard();
    await guard.protect('sha256:d', 1234);
    assert.equal(guard.lastTouched('sha256:d'), 1234);
    assert.throws(() => { guard.begin(); guard.begin(); }, /already running/);
  });
});
