// Failed logins per key: after maxFailures within windowMs the key is locked out for lockoutMs. The caller picks the
// key: the authenticator counts per (user name, client address), so one user's failures never lock out another.
export interface RateLimitOptions {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  /** keys remembered at most, so that an attacker rotating addresses or names cannot grow memory without bound */
  maxTracked?: number;
}

interface Entry {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

export class FailedLoginLimiter {
  // insertion order is last-failure order: every failure re-inserts its entry, so the stalest come first
  private readonly entries = new Map<string, Entry>();
  // attempts being checked now; bounded by the requests in flight, so it needs no cap of its own
  private readonly running = new Map<string, number>();
  private readonly options: Required<RateLimitOptions>;

  constructor(options: RateLimitOptions) {
    this.options = { maxTracked: 100_000, ...options };
  }

  /** milliseconds until the key may try again, or 0 */
  lockedFor(key: string, now = Date.now()): number {
    const entry = this.entries.get(key);
    return entry && entry.lockedUntil > now ? entry.lockedUntil - now : 0;
  }

  /**
   * Marks a login attempt as running. False when the key's recent failures plus its running attempts reach
   * maxFailures: without this, parallel requests would all pass the lockout check before any failure counts.
   */
  begin(key: string, now = Date.now()): boolean {
    const entry = this.entries.get(key);
    const failures = entry && now - entry.windowStart < this.options.windowMs ? entry.failures : 0;
    const running = this.running.get(key) ?? 0;
    if (failures + running >= this.options.maxFailures) return false;
    this.running.set(key, running + 1);
    return true;
  }

  /** Ends an attempt started with begin(), after its outcome was recorded. */
  end(key: string): void {
    const running = (this.running.get(key) ?? 1) - 1;
    if (running > 0) this.running.set(key, running);
    else this.running.delete(key);
  }

  /** True when this failure started a lockout. */
  recordFailure(key: string, now = Date.now()): boolean {
    const previous = this.entries.get(key);
    const entry = previous && now - previous.windowStart < this.options.windowMs
      ? previous
      : { failures: 0, windowStart: now, lockedUntil: previous?.lockedUntil ?? 0 };
    entry.failures++;
    const lockingOut = entry.failures >= this.options.maxFailures;
    if (lockingOut) {
      entry.lockedUntil = now + this.options.lockoutMs;
      // after the lockout the key starts with a clean window, not one failure away from the next lockout
      entry.failures = 0;
      entry.windowStart = now;
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.evict(now);
    return lockingOut;
  }

  /** Forgets the key's failures, unless it is locked: a lockout runs its course. */
  recordSuccess(key: string, now = Date.now()): void {
    const entry = this.entries.get(key);
    if (entry && entry.lockedUntil <= now) this.entries.delete(key);
  }

  get lockoutMs(): number {
    return this.options.lockoutMs;
  }

  get trackedCount(): number {
    return this.entries.size;
  }

  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      const stale = now - entry.windowStart >= this.options.windowMs && entry.lockedUntil <= now;
      if (!stale && this.entries.size <= this.options.maxTracked) return;
      this.entries.delete(key);
    }
  }
}
