// Failed logins per client address: after maxFailures within windowMs the address is locked out for lockoutMs.
export interface RateLimitOptions {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  /** addresses remembered at most, so that an attacker rotating addresses cannot grow memory without bound */
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

  /** milliseconds until the address may try again, or 0 */
  lockedFor(address: string, now = Date.now()): number {
    const entry = this.entries.get(address);
    return entry && entry.lockedUntil > now ? entry.lockedUntil - now : 0;
  }

  /**
   * Marks a login attempt as running. False when the address's recent failures plus its running attempts reach
   * maxFailures: without this, parallel requests would all pass the lockout check before any failure counts.
   */
  begin(address: string, now = Date.now()): boolean {
    const entry = this.entries.get(address);
    const failures = entry && now - entry.windowStart < this.options.windowMs ? entry.failures : 0;
    const running = this.running.get(address) ?? 0;
    if (failures + running >= this.options.maxFailures) return false;
    this.running.set(address, running + 1);
    return true;
  }

  /** Ends an attempt started with begin(), after its outcome was recorded. */
  end(address: string): void {
    const running = (this.running.get(address) ?? 1) - 1;
    if (running > 0) this.running.set(address, running);
    else this.running.delete(address);
  }

  recordFailure(address: string, now = Date.now()): void {
    const previous = this.entries.get(address);
    const entry = previous && now - previous.windowStart < this.options.windowMs
      ? previous
      : { failures: 0, windowStart: now, lockedUntil: previous?.lockedUntil ?? 0 };
    entry.failures++;
    if (entry.failures >= this.options.maxFailures) {
      entry.lockedUntil = now + this.options.lockoutMs;
      // after the lockout the address starts with a clean window, not one failure away from the next lockout
      entry.failures = 0;
      entry.windowStart = now;
    }
    this.entries.delete(address);
    this.entries.set(address, entry);
    this.evict(now);
  }

  /** Forgets the address's failures, unless it is locked: a lockout runs its course. */
  recordSuccess(address: string, now = Date.now()): void {
    const entry = this.entries.get(address);
    if (entry && entry.lockedUntil <= now) this.entries.delete(address);
  }

  get trackedCount(): number {
    return this.entries.size;
  }

  private evict(now: number): void {
    for (const [address, entry] of this.entries) {
      const stale = now - entry.windowStart >= this.options.windowMs && entry.lockedUntil <= now;
      if (!stale && this.entries.size <= this.options.maxTracked) return;
      this.entries.delete(address);
    }
  }
}
