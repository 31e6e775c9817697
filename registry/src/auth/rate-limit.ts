// Failed logins per client address: after maxFailures within windowMs the address is locked out for lockoutMs.
// The map is capped so that an attacker rotating addresses cannot grow memory without bound.
export interface RateLimitOptions {
  maxFailures: number;
  windowMs: number;
  lockoutMs: number;
  maxTracked?: number;
}

interface Entry {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

export class FailedLoginLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly options: Required<RateLimitOptions>;

  constructor(options: RateLimitOptions) {
    this.options = { maxTracked: 100_000, ...options };
  }

  /** milliseconds until the address may try again, or 0 */
  lockedFor(address: string, now = Date.now()): number {
    const entry = this.entries.get(address);
    return entry && entry.lockedUntil > now ? entry.lockedUntil - now : 0;
  }

  recordFailure(address: string, now = Date.now()): void {
    let entry = this.entries.get(address);
    if (!entry || now - entry.windowStart > this.options.windowMs) {
      entry = { failures: 0, windowStart: now, lockedUntil: entry?.lockedUntil ?? 0 };
    }
    entry.failures++;
    if (entry.failures >= this.options.maxFailures) {
      entry.lockedUntil = now + this.options.lockoutMs;
      entry.failures = 0;
      entry.windowStart = now;
    }
    this.entries.delete(address);
    this.entries.set(address, entry);
    if (this.entries.size > this.options.maxTracked) {
      // oldest insertion first: Map keeps insertion order and entries are re-inserted on every failure
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  recordSuccess(address: string, now = Date.now()): void {
    const entry = this.entries.get(address);
    if (entry && entry.lockedUntil <= now) this.entries.delete(address);
  }
}
