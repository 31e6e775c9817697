import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemDriver } from '../storage/filesystem.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { type FenceRun, HOLD_EXPIRY_MS, HOLD_USE_MS, RUN_EXPIRY_MS, STALE_MS, StorageFence } from './gc-fence.ts';
import { GcAlreadyRunningError } from './gc-guard.ts';

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

interface Gate {
  /** resolves when the gated call is reached (and held) */
  reached: Promise<void>;
  open(): void;
}

/**
 * A FilesystemDriver another replica would share, whose calls are recorded and can be held at a gate: two of
 * them over one directory act as two processes, and a test decides which storage call happens first.
 */
class Replica {
  readonly driver: StorageDriver;
  readonly calls: string[] = [];
  private readonly gates: Array<{ method: string; path: string; gate: Gate; hold: Promise<void>; hit: () => void }> = [];

  constructor(root: string) {
    const inner = new FilesystemDriver(root);
    this.driver = new Proxy(inner, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const path = String(args[0]);
          this.calls.push(`${String(property)} ${path}`);
          const index = this.gates.findIndex((gate) => gate.method === property && path.startsWith(gate.path));
          if (index >= 0) {
            const [gated] = this.gates.splice(index, 1);
            gated!.hit();
            await gated!.hold;
          }
          return value.apply(target, args);
        };
      },
    }) as StorageDriver;
  }

  /** Holds the next `method` call on a path starting with `path` until open() is called. */
  gate(method: string, path: string): Gate {
    let hit!: () => void;
    let open!: () => void;
    const reached = new Promise<void>((resolve) => { hit = resolve; });
    const hold = new Promise<void>((resolve) => { open = resolve; });
    this.gates.push({ method, path, gate: { reached, open }, hold, hit });
    return { reached, open };
  }

  /** storage calls made since the last call of this */
  take(): string[] {
    return this.calls.splice(0);
  }
}

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'regop-fence-'));
  roots.push(root);
  let clock = Date.parse('2030-01-01T00:00:00Z');
  const now = () => clock;
  const a = new Replica(root);
  const b = new Replica(root);
  const options = { now, pollMs: 1, heartbeatMs: 3_600_000 };
  const blob = (digest: string) => join(root, 'blobs', digest);
  const store = (digest: string) => writeFileSync(blob(digest), digest);
  mkdirSync(join(root, 'blobs'));
  return {
    root, a, b, now,
    requests: new StorageFence(a.driver, options),
    collector: new StorageFence(b.driver, options),
    advance: (ms: number) => { clock += ms; },
    blob, store,
    /** what a sweep's `remove` does: deletes the blob files, reports them removed */
    removeBlobs: async (digests: string[]) => {
      for (const digest of digests) rmSync(blob(digest), { force: true });
      return digests;
    },
    holds: () => new FilesystemDriver(root).list('gc/holds'),
  };
}

/** yields to the event loop until the condition holds (the other side's storage calls are real I/O) */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Two runs at once, as when two replicas start collections together: the second has checked that none runs and
 * not yet written its run object when the first starts, and began a moment earlier by its own clock, so it does
 * not give way either. Each honours every hold.
 */
async function concurrentRuns(replica: Replica, collector: StorageFence, now: () => number): Promise<[FenceRun, FenceRun]> {
  const writing = replica.gate('putContent', 'gc/runs/');
  const secondRun = new StorageFence(replica.driver, { now: () => now() - 1 }).beginRun();
  await writing.reached;
  const first = await collector.beginRun();
  writing.open();
  return [first, await secondRun];
}

async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => { done = true; }, () => { done = true; });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('GC fence across processes sharing one storage', () => {
  it('keeps a blob that a request in another process holds: the sweep sees the hold', async () => {
    const { requests, collector, store, blob, removeBlobs } = setup();
    store('sha256:held');
    store('sha256:garbage');
    const hold = await requests.hold(['sha256:held']);
    const run = await collector.beginRun();
    const removed = await run.removeUnheld(['sha256:held', 'sha256:garbage'], removeBlobs);
    assert.deepEqual(removed, ['sha256:garbage']);
    assert.ok(existsSync(blob('sha256:held')));
    assert.ok(!existsSync(blob('sha256:garbage')));
    await hold.release();
    await run.end();
  });

  it('makes a request that finds its digest in a sweep batch wait for the batch, then see the blob gone', async () => {
    const { a, requests, collector, store, blob } = setup();
    store('sha256:d');
    const run = await collector.beginRun();
    let finishRemoval!: () => void;
    const removalReached = new Promise<void>((resolve) => {
      // the sweep has listed the holds (none yet) and is deleting: a hold written now comes too late for it
      void run.removeUnheld(['sha256:d'], async (digests) => {
        resolve();
        await new Promise<void>((done) => { finishRemoval = done; });
        rmSync(blob('sha256:d'));
        return digests;
      });
    });
    await removalReached;
    a.take();
    const holding = requests.hold(['sha256:d']);
    // it polls the intent: wait until it has looked twice, so it is certainly waiting, not yet racing
    await until(() => a.calls.filter((call) => call.startsWith('statFile gc/intents/')).length >= 2);
    assert.equal(await settled(holding), false, 'the request went on while the batch naming its digest was deleting');
    finishRemoval();
    const hold = await holding;
    assert.equal(existsSync(blob('sha256:d')), false, 'after the wait the request sees the blob gone (and reports it unknown)');
    await hold.release();
    await run.end();
  });

  it('when both write before either reads, both see each other: the sweep keeps the blob and the request waits', async () => {
    const { a, b, requests, collector, store, blob, removeBlobs } = setup();
    store('sha256:both');
    const run = await collector.beginRun();
    a.take();
    // the sweep has written its intent and is about to list the holds
    const listing = b.gate('list', 'gc/holds');
    const sweeping = run.removeUnheld(['sha256:both'], removeBlobs);
    await listing.reached;
    // meanwhile the request writes its hold and lists the intents: it finds the sweep's
    const holding = requests.hold(['sha256:both']);
    await until(() => a.calls.includes('list gc/intents'));
    listing.open();
    assert.deepEqual(await sweeping, [], 'the sweep deleted a held blob');
    const hold = await holding;
    assert.ok(existsSync(blob('sha256:both')));
    await hold.release();
    await run.end();
  });

  it('costs a manifest push four storage calls, and a commit or mount one listing while no collection runs', async () => {
    const { a, requests, collector } = setup();
    a.take();
    const hold = await requests.hold(['sha256:p', 'sha256:q']);
    hold.assertFresh();
    await hold.release();
    const id = (calls: string[]) => calls.map((call) => call.replace(/[0-9a-f-]{36}/g, '<id>'));
    assert.deepEqual(id(a.take()), ['putContent gc/holds/<id>', 'list gc/intents', 'list gc/runs', 'delete gc/holds/<id>']);
    await requests.protect('sha256:p');
    assert.deepEqual(a.take(), ['list gc/runs']);
    // while a run is listed, a release leaves the hold for it under a name that says so
    const run = await collector.beginRun();
    await (await requests.hold(['sha256:p'])).release();
    assert.deepEqual(id(a.take()), [
      'putContent gc/holds/<id>', 'list gc/intents', 'list gc/runs', 'putContent gc/holds/<id>.for.<id>', 'delete gc/holds/<id>',
    ]);
    await run.end();
  });

  it('leaves a hold released during a run for that run, which removes it at its end', async () => {
    const { requests, collector, holds } = setup();
    const run = await collector.beginRun();
    await (await requests.hold(['sha256:late'])).release();
    await requests.protect('sha256:mounted');
    assert.deepEqual((await holds()).map((name) => name.endsWith(`.for.${run.id}`)), [true, true]);
    assert.equal(await run.end(), 2);
    assert.deepEqual(await holds(), []);
  });

  it('keeps a hold left for two runs until the last of them ends', async () => {
    const { a, requests, collector, holds, now } = setup();
    const [first, second] = await concurrentRuns(a, collector, now);
    await (await requests.hold(['sha256:k'])).release();
    assert.equal(await first.end(), 0, 'a hold went while another run it was left for was listed');
    assert.equal((await holds()).length, 1);
    assert.equal(await second.end(), 1);
    assert.deepEqual(await holds(), []);
  });

  it('removes the hold of a crashed request once 10 minutes old, and only when no other run is listed', async () => {
    const { a, requests, collector, advance, holds, now } = setup();
    await requests.hold(['sha256:crashed']);
    advance(HOLD_EXPIRY_MS / 2);
    const early = await collector.beginRun();
    assert.equal(await early.end(), 0, 'a hold a request may still rely on was removed');
    advance(HOLD_EXPIRY_MS / 2 + 2);
    const [first, second] = await concurrentRuns(a, collector, now);
    assert.equal(await first.end(), 0, 'an expired hold went while another run, which may rely on it, was listed');
    assert.equal(await second.end(), 1);
    assert.deepEqual(await holds(), []);
  });

  it('refuses a second run while a live one is listed, and allows one after it ended', async () => {
    const { requests, collector, advance } = setup();
    const run = await collector.beginRun();
    advance(1);
    await assert.rejects(requests.beginRun(), GcAlreadyRunningError);
    await run.end();
    await (await requests.beginRun()).end();
  });

  it('of two runs that start together, the one that began later gives way and leaves no run object', async () => {
    const { a, collector, now } = setup();
    const writing = a.gate('putContent', 'gc/runs/');
    const later = new StorageFence(a.driver, { now: () => now() + 1 }).beginRun();
    await writing.reached;
    const first = await collector.beginRun();
    writing.open();
    await assert.rejects(later, GcAlreadyRunningError);
    assert.deepEqual(await a.driver.list('gc/runs'), [first.id]);
    await first.end();
  });

  it('lets a request stop waiting for an intent whose run stopped heartbeating, and the next run clears it up', async () => {
    const { a, requests, collector, advance, store, blob, root } = setup();
    store('sha256:stuck');
    const run = await collector.beginRun();
    // the collecting replica dies in the middle of a batch: its intent and run object stay
    void run.removeUnheld(['sha256:stuck'], () => new Promise<string[]>(() => {}));
    await until(() => existsSync(join(root, 'gc', 'intents', `${run.id}.0`)));
    a.take();
    const holding = requests.hold(['sha256:stuck']);
    // first look at the run once the request has waited a while, then RUN_EXPIRY_MS later on its own clock
    await until(() => a.calls.some((call) => call.startsWith('statFile gc/intents/')));
    advance(2_000);
    // it has read the run's heartbeat once it polls the intent again
    await until(() => {
      const read = a.calls.indexOf(`getContent gc/runs/${run.id}`);
      return read >= 0 && a.calls.slice(read).some((call) => call.startsWith('statFile gc/intents/'));
    });
    assert.equal(await settled(holding), false, 'stopped waiting while the run could still be alive');
    advance(RUN_EXPIRY_MS + 2_000);
    const hold = await holding;
    assert.ok(existsSync(blob('sha256:stuck')));
    // a request of the same process does not wait for that run again
    a.take();
    await (await requests.hold(['sha256:stuck'])).release();
    assert.ok(!a.calls.some((call) => call.startsWith('getContent gc/runs/')));
    await hold.release();
    // the dead run's objects go once stale; its intent with them
    advance(STALE_MS);
    const next = await collector.beginRun();
    await next.end();
    const left = new FilesystemDriver(root);
    assert.deepEqual([await left.list('gc/runs'), await left.list('gc/intents')], [[], []]);
  });

  it('stops a run from deleting once it could not refresh its run object, before others take it for dead', async () => {
    const { collector, advance, removeBlobs } = setup();
    const run = await collector.beginRun();
    advance(RUN_EXPIRY_MS / 2 + 1);
    await assert.rejects(run.removeUnheld(['sha256:z'], removeBlobs), /could not be refreshed/);
    await run.end();
  });

  it('makes a request give up (503) rather than write a record after its hold grew too old to rely on', async () => {
    const { requests, advance } = setup();
    const hold = await requests.hold(['sha256:slow']);
    advance(HOLD_USE_MS + 1);
    assert.throws(() => hold.assertFresh(), /retry/);
    await hold.release();
  });
});
