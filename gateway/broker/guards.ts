/**
 * Connection and publish guards of the broker: a slow-down for repeated bad logins from one
 * address, a cap on connections per address, and a per-device publish rate limit. Each one pushes
 * back on the sender (delay) before it refuses anything, and everything it does is counted.
 * Time comes from an injected clock so tests need not sleep.
 */

/**
 * Bad logins from one address: after `freeFailures` failures inside `windowMs`, each further
 * refusal is delayed, doubling from `baseDelayMs` up to `maxDelayMs`. A brute-force client is slowed
 * to a crawl; a misconfigured device is not locked out (its correct secret still works at once).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; first: number }>();

  constructor(private readonly opts: { freeFailures: number; windowMs: number; baseDelayMs: number; maxDelayMs: number }, private readonly now: () => number = Date.now) {}

  /** Records a failure; returns how long to hold the refusal. */
  failed(address: string): number {
    const now = this.now();
    let entry = this.failures.get(address);
    if (!entry || now - entry.first > this.opts.windowMs) {
      entry = { count: 0, first: now };
      this.failures.set(address, entry);
    }
    entry.count++;
    if (this.failures.size > 100_000) this.prune(now);
    const excess = entry.count - this.opts.freeFailures;
    if (excess <= 0) return 0;
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(excess - 1, 20));
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }

  private prune(now: number): void {
    for (const [address, e] of this.failures) if (now - e.first > this.opts.windowMs) this.failures.delete(address);
  }
}

/** Open connections per remote address, refused past `max` (0 = no limit). */
export class ConnectionLimiter {
  private readonly open = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** True if one more connection from `address` is allowed; it is then counted until `release`. */
  acquire(address: string): boolean {
    const n = this.open.get(address) ?? 0;
    if (this.max > 0 && n >= this.max) return false;
    this.open.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    const n = (this.open.get(address) ?? 1) - 1;
    if (n <= 0) this.open.delete(address);
    else this.open.set(address, n);
  }

  count(address: string): number { return this.open.get(address) ?? 0; }
}

/**
 * Per-device token bucket: `perSecond` messages with bursts of `burst`. Returns how long the
 * message must wait (0 = go). Waiting holds back the device's acknowledgement and, through Aedes,
 * the reading of its socket: a chatty device is slowed, not cut off, and loses nothing.
 */
export class PublishRateLimiter {
  constructor(private readonly perSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {}

  get enabled(): boolean { return this.perSecond > 0; }

  /** `bucket` is per-device state kept by the caller (on the device's context), so lookups stay O(1). */
  delayFor(bucket: { tokens: number; at: number }): number {
    const now = this.now();
    if (bucket.at === 0) { bucket.tokens = this.burst; bucket.at = now; }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.perSecond) / 1000);
    bucket.at = now;
    bucket.tokens -= 1;
    return bucket.tokens >= 0 ? 0 : Math.ceil((-bucket.tokens * 1000) / this.perSecond);
  }
}
