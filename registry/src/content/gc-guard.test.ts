import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GcGuard } from './gc-guard.ts';

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

  it('keeps a held digest protected across a new run, and until the end of a run during which it is released', async () => {
    const guard = new GcGuard();
    const release = await guard.hold(['sha256:h']);
    guard.begin();
    assert.equal(await guard.deleteUnlessProtected('sha256:h', async () => {}), false, 'a run that began after the hold swept it');
    release();
    assert.equal(await guard.deleteUnlessProtected('sha256:h', async () => {}), false, 'released during the run, swept before its end');
    guard.end();
    guard.begin();
    assert.equal(await guard.deleteUnlessProtected('sha256:h', async () => {}), true, 'a later run still protects it');
    guard.end();
  });

  it('makes protect wait for every removal of a digest in flight, the blob and its links', async () => {
    const guard = new GcGuard();
    guard.begin();
    const finishers: Array<() => void> = [];
    const removal = () => new Promise<void>((resolve) => { finishers.push(resolve); });
    const removals = [guard.deleteUnlessProtected('sha256:e', removal), guard.deleteUnlessProtected('sha256:e', removal)];
    let protectedDone = false;
    const protecting = guard.protect('sha256:e').then(() => { protectedDone = true; });
    finishers[0]!();
    await new Promise((r) => setImmediate(r));
    assert.equal(protectedDone, false, 'protect returned while a link removal was still in flight');
    finishers[1]!();
    await Promise.all([...removals, protecting]);
    assert.equal(protectedDone, true);
    assert.equal(await guard.deleteUnlessProtected('sha256:e', async () => {}), false);
    guard.end();
  });

  it('removes a batch at once except the digests protected or held, and makes protect wait for that removal', async () => {
    const guard = new GcGuard();
    guard.begin();
    await guard.protect('sha256:kept');
    const release = await guard.hold(['sha256:held']);
    let finish!: () => void;
    const removing: string[][] = [];
    const removal = guard.deleteManyUnlessProtected(['sha256:kept', 'sha256:held', 'sha256:x', 'sha256:y'], (digests) => {
      removing.push(digests);
      return new Promise<void>((resolve) => { finish = resolve; });
    });
    assert.deepEqual(removing, [['sha256:x', 'sha256:y']]);
    let protectedDone = false;
    const protecting = guard.protect('sha256:y').then(() => { protectedDone = true; });
    await new Promise((r) => setImmediate(r));
    assert.equal(protectedDone, false, 'protect returned while the batch removing its digest was in flight');
    finish();
    assert.deepEqual(await removal, ['sha256:x', 'sha256:y']);
    await protecting;
    release();
    guard.end();
  });

  it('remembers touches outside a run, for the grace period', async () => {
    const guard = new GcGuard();
    await guard.protect('sha256:d', 1234);
    assert.equal(guard.lastTouched('sha256:d'), 1234);
    assert.throws(() => { guard.begin(); guard.begin(); }, /already running/);
  });
});
