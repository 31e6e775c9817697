// The garbage-collection fence between processes that share one storage (storage.shared: replicas on one
// ReadWriteMany volume or one bucket). content/gc-guard.ts coordinates a collection with the requests of its own process;
// a request served by another replica is invisible to it, so both sides also leave a note in storage, written
// BEFORE they read the other side's notes (Dekker's handshake): a request writes `gc/holds/<id>` {digests, at}
// before it checks that the digests exist; a sweep writes `gc/intents/<run>.<n>` {digests} before it lists the
// holds, deletes only digests no hold names, then removes the intent. With linearizable PUT, GET, LIST and
// DELETE (a local filesystem, S3 since 2020; see the README), at least one side sees the other: either the sweep
// sees the hold and keeps the blob, or the request sees the intent, waits until it is gone, and then finds the
// blob gone (MANIFEST_BLOB_UNKNOWN: the client uploads it again) or still there, kept.
//
// A hold lasts from before the existence check until the record that references the digests is written; then it
// is deleted, unless runs are listed in `gc/runs` at that moment: they may have read the repository before the
// record existed, so the hold is left for them, renamed `<id>.for.<run>...` (written anew, then the old name
// deleted: a sweep listing in between sees one or the other), and they honour it to their end; the end of the last
// of them removes it. A hold a crashed request left (no `.for.`) is removed by the end of a run when older than
// HOLD_EXPIRY_MS and no other run is listed; a request that has not written its record within HOLD_USE_MS of its
// hold gives up (503) instead, so no hold a request still relies on is ever that old (the replicas' wall clocks
// may differ by up to the margin between the two).
//
// A run writes `gc/runs/<id>` before its mark phase and rewrites it every HEARTBEAT_MS. A request waiting for an
// intent stops waiting when the intent's run object is gone or has not changed for RUN_EXPIRY_MS as that request
// measures it (the replica crashed); a run stops deleting when it could not refresh its object for half that
// time, so a run others take for dead deletes nothing more. The next run removes objects of runs dead for
// STALE_MS and intents of runs that are gone.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, registryError } from '../errors.ts';
import type { StorageDriver } from '../storage/driver.ts';
import { readJsonFile } from '../storage/json-file.ts';
import { GC_FENCE_ROOTS } from './paths.ts';
import { GcAlreadyRunningError } from './gc-guard.ts';
import { forEachConcurrently } from '../storage/parallel.ts';

const { runs: RUNS, holds: HOLDS, intents: INTENTS } = GC_FENCE_ROOTS;

export const HOLD_EXPIRY_MS = 10 * 60_000;
export const HOLD_USE_MS = HOLD_EXPIRY_MS / 2;
export const HEARTBEAT_MS = 15_000;
export const RUN_EXPIRY_MS = 2 * 60_000;
export const STALE_MS = 60 * 60_000;
/** a waiting request first asks whether the intent's run still lives after this long, then this often */
const LIVENESS_CHECK_MS = 2_000;
/** intents and run observations a process remembers at most (a few per run) */
const MAX_REMEMBERED = 1000;
/** runs a hold's name can list (names stay well under 255 bytes); with more, the hold is left to expire */
const MAX_RUNS_NAMED = 4;
const LEFT_FOR = '.for.';

interface HoldObject {
  digests: string[];
  /** when the request wrote it (its wall clock, ms) */
  at: number;
}

interface IntentObject {
  run: string;
  digests: string[];
}

interface RunObject {
  startedAt: number;
  heartbeatAt: number;
}

export interface FenceOptions {
  /** wall clock in ms; tests move it */
  now?: () => number;
  /** first pause between checks whether an intent is gone; doubles up to 16 times that */
  pollMs?: number;
  heartbeatMs?: number;
  /** storage requests a run keeps in flight when it reads many holds */
  ioConcurrency?: number;
}

export interface FenceHold {
  /** Throws UNAVAILABLE once the hold is too old to be relied on: call just before writing the record. */
  assertFresh(): void;
  /** Deletes the hold unless a collection is listed, which then keeps honouring it; never rejects. */
  release(): Promise<void>;
}

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.set(key, value);
  if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value!);
}

function runOfIntent(name: string): string {
  return name.slice(0, name.lastIndexOf('.'));
}

/** the runs a hold was left for (by its name), or null for a hold of a request in flight (or a crashed one) */
function runsOfHold(name: string): string[] | null {
  const at = name.indexOf(LEFT_FOR);
  return at < 0 ? null : name.slice(at + LEFT_FOR.length).split('.');
}

export class StorageFence {
  private readonly driver: StorageDriver;
  private readonly now: () => number;
  private readonly pollMs: number;
  private readonly heartbeatMs: number;
  private readonly ioConcurrency: number;
  /** intents read so far (immutable once written), by name */
  private readonly intents = new Map<string, IntentObject>();
  /** run id → the heartbeat last read from its object, and when this process first read that value */
  private readonly observedRuns = new Map<string, { heartbeatAt: number; since: number }>();
  /** runs found stopped: their leftover intents delay no request any more (a stopped run never resumes) */
  private readonly stoppedRuns = new Map<string, true>();

  constructor(driver: StorageDriver, options: FenceOptions = {}) {
    this.driver = driver;
    this.now = options.now ?? Date.now;
    this.pollMs = options.pollMs ?? 20;
    this.heartbeatMs = options.heartbeatMs ?? HEARTBEAT_MS;
    this.ioConcurrency = options.ioConcurrency ?? 16;
  }

  // ---- the request side

  /**
   * Writes a hold naming the digests, then waits until no sweep batch that may delete them is under way. Call
   * before checking that they exist; release once the record referencing them is written, or the request failed.
   */
  async hold(digests: Iterable<string>): Promise<FenceHold> {
    const unique = [...new Set(digests)];
    const { id, at, content } = await this.placeHold(unique, []);
    const path = `${HOLDS}/${id}`;
    return {
      assertFresh: () => {
        if (this.now() - at > HOLD_USE_MS) throw tooSlow();
      },
      release: async () => {
        try {
          const runs = await this.driver.list(RUNS);
          if (runs.length > MAX_RUNS_NAMED) return;
          if (runs.length > 0) await this.driver.putContent(`${path}${LEFT_FOR}${runs.join('.')}`, content, { durable: false });
          await this.driver.delete(path);
        } catch {
          // the hold stays, and the end of a later run removes it once expired
        }
      },
    };
  }

  /**
   * Protects a digest from every collection running now, in any process (what GcGuard.protect does in one):
   * one listing of gc/runs; only while runs are listed, a hold left for them. Call before checking that it exists.
   */
  async protect(digest: string): Promise<void> {
    const runs = await this.driver.list(RUNS);
    if (runs.length === 0) return;
    // never released: the runs it names honour it to their end, and the last of them removes it
    await this.placeHold([digest], runs.length > MAX_RUNS_NAMED ? [] : runs);
  }

  /** Writes a hold (left for `runs` when some are given), then waits out the sweep batches that name its digests. */
  private async placeHold(digests: string[], runs: string[]): Promise<{ id: string; at: number; content: string }> {
    const id = `${randomUUID()}${runs.length > 0 ? `${LEFT_FOR}${runs.join('.')}` : ''}`;
    const at = this.now();
    const content = JSON.stringify({ digests, at } satisfies HoldObject);
    // durability adds nothing: a hold matters only while its request runs, and a crash ends the request
    await this.driver.putContent(`${HOLDS}/${id}`, content, { durable: false });
    try {
      await this.waitOutIntents(new Set(digests), at + HOLD_USE_MS);
    } catch (error) {
      await this.driver.delete(`${HOLDS}/${id}`).catch(() => undefined);
      throw error;
    }
    return { id, at, content };
  }

  /** Waits until every intent listed now that names one of the digests is gone, or its run has stopped. */
  private async waitOutIntents(digests: Set<string>, deadline: number): Promise<void> {
    const names = await this.driver.list(INTENTS);
    const blocking: Array<{ name: string; intent: IntentObject }> = [];
    await Promise.all(names.map(async (name) => {
      const intent = await this.readIntent(name);
      if (intent?.digests.some((digest) => digests.has(digest))) blocking.push({ name, intent });
    }));
    // an intent written after the listing above lists the holds after this request's hold was written: it sees it
    for (const { name, intent } of blocking) await this.waitGone(name, intent.run, deadline);
  }

  private async readIntent(name: string): Promise<IntentObject | null> {
    const known = this.intents.get(name);
    if (known) return known;
    const intent = await readJsonFile<IntentObject>(this.driver, `${INTENTS}/${name}`);
    if (intent) remember(this.intents, name, intent);
    return intent;
  }

  private async waitGone(name: string, run: string, deadline: number): Promise<void> {
    let pause = this.pollMs;
    let livenessAt = this.now() + LIVENESS_CHECK_MS;
    for (;;) {
      if (this.stoppedRuns.has(run) || !(await this.driver.statFile(`${INTENTS}/${name}`))) break;
      if (this.now() >= livenessAt) {
        if (await this.runStopped(run)) {
          remember(this.stoppedRuns, run, true);
          break;
        }
        livenessAt = this.now() + LIVENESS_CHECK_MS;
      }
      if (this.now() >= deadline) throw tooSlow();
      await sleep(pause);
      pause = Math.min(pause * 2, this.pollMs * 16);
    }
    this.intents.delete(name);
  }

  /**
   * Whether a run has stopped for good: its object is gone, or stale by this clock, or this process has seen the
   * same heartbeat for RUN_EXPIRY_MS (measured here, so the replicas' clocks need not agree).
   */
  private async runStopped(run: string): Promise<boolean> {
    const object = await readJsonFile<RunObject>(this.driver, `${RUNS}/${run}`);
    if (!object) return true;
    const now = this.now();
    if (now - object.heartbeatAt > STALE_MS) return true;
    const seen = this.observedRuns.get(run);
    if (!seen || seen.heartbeatAt !== object.heartbeatAt) {
      remember(this.observedRuns, run, { heartbeatAt: object.heartbeatAt, since: now });
      return false;
    }
    return now - seen.since >= RUN_EXPIRY_MS;
  }

  // ---- the collection side

  /**
   * Announces a collection: writes its run object (requests then leave their holds for it), then refuses when
   * another live run began first (GcAlreadyRunningError), and removes what runs that died long ago left behind.
   */
  async beginRun(): Promise<FenceRun> {
    // a run under way elsewhere is refused before anything is written (a client may retry in a loop)
    const listed = await this.driver.list(RUNS);
    const runs = await Promise.all(listed.map((other) => readJsonFile<RunObject>(this.driver, `${RUNS}/${other}`)));
    if (runs.some((run) => run && this.now() - run.heartbeatAt < RUN_EXPIRY_MS)) throw new GcAlreadyRunningError();
    const id = randomUUID();
    const startedAt = this.now();
    const path = `${RUNS}/${id}`;
    await this.driver.putContent(path, JSON.stringify({ startedAt, heartbeatAt: startedAt } satisfies RunObject));
    try {
      // intents are listed before runs: a run object is written before its intents, so an intent whose run is
      // not listed afterwards belongs to a run that has ended (or was removed as stale)
      const intentNames = await this.driver.list(INTENTS);
      const present = new Set<string>([id]);
      for (const other of await this.driver.list(RUNS)) {
        if (other === id) continue;
        const run = await readJsonFile<RunObject>(this.driver, `${RUNS}/${other}`);
        if (!run) continue;
        const age = this.now() - run.heartbeatAt;
        if (age > STALE_MS) {
          await this.driver.delete(`${RUNS}/${other}`);
          continue;
        }
        present.add(other);
        const first = run.startedAt < startedAt || (run.startedAt === startedAt && other < id);
        // two runs starting at once both see each other, and only the later one gives way; were both to go on,
        // each would still honour every hold (harmless, only slower)
        if (age < RUN_EXPIRY_MS && first) throw new GcAlreadyRunningError();
      }
      await forEachConcurrently(intentNames.filter((name) => !present.has(runOfIntent(name))), this.ioConcurrency,
        (name) => this.driver.delete(`${INTENTS}/${name}`));
    } catch (error) {
      await this.driver.delete(path).catch(() => undefined);
      throw error;
    }
    return new FenceRun(this.driver, id, startedAt, {
      now: this.now, heartbeatMs: this.heartbeatMs, ioConcurrency: this.ioConcurrency,
    });
  }
}

/** One collection's side of the fence: its run object, heartbeat, intents and what it has read of the holds. */
export class FenceRun {
  readonly id: string;
  private readonly driver: StorageDriver;
  private readonly startedAt: number;
  private readonly now: () => number;
  private readonly ioConcurrency: number;
  private readonly timer: NodeJS.Timeout;
  private beating: Promise<void> | null = null;
  /** when the last heartbeat that reached storage was taken */
  private lastBeat: number;
  private intentCount = 0;
  /** this run's intents not yet removed */
  private readonly openIntents = new Set<string>();
  /** holds read during this run (each once: they never change), by name */
  private readonly holds = new Map<string, HoldObject>();
  /** digest → how many of those holds name it */
  private readonly held = new Map<string, number>();
  /** hold listings are taken one at a time, so two batches never update the counts at once */
  private refreshing: Promise<unknown> = Promise.resolve();

  constructor(driver: StorageDriver, id: string, startedAt: number, options: { now: () => number; heartbeatMs: number; ioConcurrency: number }) {
    this.driver = driver;
    this.id = id;
    this.startedAt = startedAt;
    this.now = options.now;
    this.ioConcurrency = options.ioConcurrency;
    this.lastBeat = startedAt;
    this.timer = setInterval(() => this.beat(), options.heartbeatMs);
    this.timer.unref();
  }

  /**
   * Removes (through `remove`) those of the digests no hold names, fenced against requests in every process:
   * the intent is written first, the holds listed after it. Returns what `remove` reports removed.
   */
  async removeUnheld(digests: string[], remove: (unheld: string[]) => Promise<string[]>): Promise<string[]> {
    if (digests.length === 0) return [];
    const name = `${this.id}.${this.intentCount++}`;
    const intent: IntentObject = { run: this.id, digests };
    await this.driver.putContent(`${INTENTS}/${name}`, JSON.stringify(intent), { durable: false });
    this.openIntents.add(name);
    try {
      const unheld = await this.serially(async () => {
        await this.refreshHolds();
        return digests.filter((digest) => !this.held.has(digest));
      });
      if (unheld.length === 0) return [];
      this.assertAlive();
      return await remove(unheld);
    } finally {
      await this.removeIntent(name);
    }
  }

  /**
   * Ends the run: its intents go, then the holds left only for runs no longer listed, and, when no other run is
   * listed, the holds crashed requests left (expired), then its object. Best effort (what is left is removed by a
   * later run); returns how many holds it removed.
   */
  async end(): Promise<number> {
    clearInterval(this.timer);
    await this.beating;
    let removed = 0;
    try {
      await Promise.all([...this.openIntents].map((name) => this.removeIntent(name)));
      const others = new Set((await this.driver.list(RUNS)).filter((run) => run !== this.id));
      const now = this.now();
      await forEachConcurrently(await this.driver.list(HOLDS), this.ioConcurrency, async (name) => {
        const leftFor = runsOfHold(name);
        if (leftFor) {
          if (leftFor.some((run) => others.has(run))) return;
        } else {
          // a request in flight, or one that crashed after writing its record: a listed run may rely on it
          if (others.size > 0) return;
          const hold = this.holds.get(name) ?? (await readJsonFile<HoldObject>(this.driver, `${HOLDS}/${name}`));
          if (!hold || now - hold.at <= HOLD_EXPIRY_MS) return;
        }
        await this.driver.delete(`${HOLDS}/${name}`);
        removed++;
      });
    } catch {
      // left for a later run
    }
    await this.driver.delete(`${RUNS}/${this.id}`).catch(() => undefined);
    return removed;
  }

  /** Lists the holds and reads those not read before; forgets those gone (their requests ended). */
  private async refreshHolds(): Promise<void> {
    const listed = new Set(await this.driver.list(HOLDS));
    for (const [name, hold] of this.holds) {
      if (listed.has(name)) continue;
      this.holds.delete(name);
      for (const digest of hold.digests) {
        const count = this.held.get(digest)! - 1;
        if (count === 0) this.held.delete(digest);
        else this.held.set(digest, count);
      }
    }
    const unread = [...listed].filter((name) => !this.holds.has(name));
    await forEachConcurrently(unread, this.ioConcurrency, async (name) => {
      // a hold deleted since the listing was released before this run began: its record was there to mark
      const hold = await readJsonFile<HoldObject>(this.driver, `${HOLDS}/${name}`);
      if (!hold) return;
      this.holds.set(name, hold);
      for (const digest of new Set(hold.digests)) this.held.set(digest, (this.held.get(digest) ?? 0) + 1);
    });
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.refreshing.then(work);
    this.refreshing = result.catch(() => undefined);
    return result;
  }

  private async removeIntent(name: string): Promise<void> {
    try {
      await this.driver.delete(`${INTENTS}/${name}`);
      this.openIntents.delete(name);
    } catch {
      // requests waiting for it stop once this run has ended; the next run removes it
    }
  }

  /** Others take this run for dead RUN_EXPIRY_MS after its last heartbeat: it stops deleting well before. */
  private assertAlive(): void {
    if (this.now() - this.lastBeat > RUN_EXPIRY_MS / 2) {
      throw new Error(`garbage collection stopped: its run object ${RUNS}/${this.id} could not be refreshed`);
    }
  }

  private beat(): void {
    if (this.beating) return;
    const at = this.now();
    const run: RunObject = { startedAt: this.startedAt, heartbeatAt: at };
    this.beating = this.driver.putContent(`${RUNS}/${this.id}`, JSON.stringify(run))
      .then(() => { this.lastBeat = Math.max(this.lastBeat, at); }, () => undefined)
      .finally(() => { this.beating = null; });
  }
}

function tooSlow(): Error {
  return registryError(ErrorCodes.UNAVAILABLE, 'a garbage collection is deleting blobs this request references; retry');
}
