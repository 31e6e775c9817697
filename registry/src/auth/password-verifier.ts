// Password checks against bcrypt hashes: off the event loop, a bounded number at a time, with a memory of successes.
import { createHmac, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import bcrypt from 'bcrypt';
import pLimit, { type LimitFunction } from 'p-limit';

export interface PasswordVerifierOptions {
  /** successful checks remembered; least recently used forgotten first */
  maxRemembered?: number;
  /**
   * bcrypt checks running at once. The native bcrypt runs them on libuv's thread pool (4 threads by default), which
   * file reads share: two leave threads for storage and bound the CPU that failed logins can take.
   */
  maxConcurrentChecks?: number;
  /** checks waiting for a turn; beyond that, PasswordChecksBusy (the caller answers 429) */
  maxQueuedChecks?: number;
}

/** Thrown when the queue of password checks is full; nothing was checked. */
export class PasswordChecksBusy extends Error {
  constructor() {
    super('too many password checks waiting');
    this.name = 'PasswordChecksBusy';
  }
}

/**
 * bcrypt is deliberately slow (tens to hundreds of ms) and a client sends credentials on every request, so a
 * successful check is remembered. The key covers user, stored hash and password: a changed hash is a new key, and
 * a wrong password can never hit a remembered success. Failures are not remembered. Keys are HMACs under a
 * per-process secret, so the cache in a memory dump is no fast oracle for guessing passwords.
 */
export class PasswordVerifier {
  private readonly secret = randomBytes(32);
  private readonly remembered = new Map<string, true>();
  // a client pushing layers in parallel sends the same credentials at once: check them once
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly decoys = new Map<number, Promise<string>>();
  private readonly maxRemembered: number;
  private readonly maxQueued: number;
  private readonly checks: LimitFunction;
  private lastDecoyMs = 0;

  constructor(options: PasswordVerifierOptions = {}) {
    this.maxRemembered = options.maxRemembered ?? 10_000;
    this.maxQueued = options.maxQueuedChecks ?? 100;
    this.checks = pLimit(Math.max(1, options.maxConcurrentChecks ?? 2));
  }

  /** True when this exact check succeeded before; cheap, no bcrypt. */
  remembers(user: string, password: string, hash: string): boolean {
    const key = this.keyOf(user, hash, password);
    if (!this.remembered.delete(key)) return false;
    this.remembered.set(key, true);
    return true;
  }

  /** Throws PasswordChecksBusy when the queue is full. */
  async verify(user: string, password: string, hash: string): Promise<boolean> {
    if (this.remembers(user, password, hash)) return true;
    const key = this.keyOf(user, hash, password);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const check = this.schedule(() => bcrypt.compare(password, nativeHash(hash))).then((ok) => {
      if (ok) this.remember(key);
      return ok;
    }).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, check);
    return check;
  }

  /**
   * Spends as long as a real check at this cost, so the response time does not tell whether a user exists.
   * Throws PasswordChecksBusy when the queue is full, as a real check would.
   */
  async decoy(password: string, cost: number): Promise<false> {
    let decoyHash = this.decoys.get(cost);
    if (!decoyHash) {
      decoyHash = bcrypt.hash(randomBytes(16).toString('hex'), cost);
      this.decoys.set(cost, decoyHash);
    }
    const hash = await decoyHash;
    await this.schedule(async () => {
      const started = performance.now();
      await bcrypt.compare(password, hash);
      this.lastDecoyMs = performance.now() - started;
    });
    return false;
  }

  /**
   * Waits as long as the last decoy check took, without computing anything: for callers that must not spend CPU
   * on a request but must not answer faster than a real check either.
   */
  async pretend(): Promise<false> {
    if (this.full()) throw new PasswordChecksBusy();
    await sleep(this.lastDecoyMs);
    return false;
  }

  get rememberedCount(): number {
    return this.remembered.size;
  }

  /** checks running now and waiting for a turn */
  get load(): { running: number; waiting: number } {
    return { running: this.checks.activeCount, waiting: this.checks.pendingCount };
  }

  private schedule<T>(check: () => Promise<T>): Promise<T> {
    if (this.full()) return Promise.reject(new PasswordChecksBusy());
    return this.checks(check);
  }

  // p-limit starts a check a microtask after it is queued: count running and waiting together
  private full(): boolean {
    return this.checks.activeCount + this.checks.pendingCount >= this.checks.concurrency + this.maxQueued;
  }

  private remember(key: string): void {
    this.remembered.set(key, true);
    if (this.remembered.size > this.maxRemembered) {
      const oldest = this.remembered.keys().next().value;
      if (oldest !== undefined) this.remembered.delete(oldest);
    }
  }

  private keyOf(user: string, hash: string, password: string): string {
    const mac = createHmac('sha256', this.secret);
    // length prefixes: no choice of user and password can run into the next field
    for (const part of [user, hash, password]) mac.update(`${Buffer.byteLength(part)}:`).update(part);
    return mac.digest('base64');
  }
}

// Apache writes $2y$, which the native bcrypt refuses (it compares false); $2y$ and $2b$ are the same algorithm.
function nativeHash(hash: string): string {
  return hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash;
}
