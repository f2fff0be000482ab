/**
 * Connection and publish guards of the broker: a slow-down for repeated bad logins, caps on
 * connections per address, and a per-device publish rate limit; and the bounded audit of refused
 * logins. Each one pushes back on the sender (delay) before it refuses anything, and everything it
 * does is counted. Time comes from an injected clock so tests need not sleep.
 */

export interface LoginThrottleOptions {
  /** Failures of one username (device or account id) inside the window before its attempts are held. */
  userFreeFailures: number;
  /**
   * Failures from one address inside the window before all its attempts are held. Higher than the
   * username's: a whole community may come through one NAT address, and one broken device there
   * must not hold up the others.
   */
  addressFreeFailures: number;
  windowMs: number;
  /** Spacing of held attempts past the allowance; it doubles with every further failure up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts that may wait their turn per key; more are refused at once, their password never looked at. */
  maxWaiting: number;
}

/** What to do with one login attempt: evaluate it after `delayMs` (0 = now), then call `done`. */
export interface Admission { delayMs: number; done(): void }

interface FailureCount { count: number; first: number; nextAt: number; waiting: number }

/**
 * Keys remembered per map. Past it, expired keys go first, then the oldest: memory stays bounded
 * under a spray of made-up usernames from many addresses (each address is held after its own
 * allowance, so a spray needs many of them).
 */
const MAX_KEYS = 100_000;
/** A username is whatever the client sent (up to the CONNECT limit); its key need not be longer than any id. */
const MAX_KEY_LENGTH = 256;

const NOTHING_HELD: Admission = { delayMs: 0, done: () => undefined };

/**
 * Guessing credentials, counted per address and per username. Under its allowance a login is
 * evaluated at once. Past it, the key's next attempts are held and evaluated one at a time, each no
 * earlier than the doubling delay after the one before, right or wrong alike: an attacker who opens
 * many connections at once, or who watches for a fast answer to spot a success, gains nothing. A few
 * may wait per key; the rest are refused at once without their password being checked. A success
 * clears that username's count but never the address's, so owning one device does not let an
 * attacker interleave successes to keep guessing others.
 */
export class LoginThrottle {
  private readonly byAddress = new Map<string, FailureCount>();
  private readonly byUser = new Map<string, FailureCount>();

  constructor(private readonly opts: LoginThrottleOptions, private readonly now: () => number = Date.now) {}

  /** `undefined`: refused without evaluation, too many attempts already wait. */
  admit(address: string, username: string): Admission | undefined {
    const now = this.now();
    const gates: Array<{ entry: FailureCount; free: number }> = [];
    const a = this.current(this.byAddress, address, now);
    if (a && a.count > this.opts.addressFreeFailures) gates.push({ entry: a, free: this.opts.addressFreeFailures });
    const u = this.current(this.byUser, username.slice(0, MAX_KEY_LENGTH), now);
    if (u && u.count > this.opts.userFreeFailures) gates.push({ entry: u, free: this.opts.userFreeFailures });
    if (gates.length === 0) return NOTHING_HELD;
    if (gates.some((g) => g.entry.waiting >= this.opts.maxWaiting)) return undefined;
    const at = Math.max(now, ...gates.map((g) => g.entry.nextAt));
    for (const g of gates) {
      // the turn after this one is spaced as if this attempt fails too: the schedule of a sequential guesser
      g.entry.nextAt = at + this.delay(g.entry.count + g.entry.waiting + 1, g.free);
      g.entry.waiting++;
    }
    let released = false;
    return {
      delayMs: at - now,
      done: () => {
        if (released) return;
        released = true;
        for (const g of gates) g.entry.waiting--;
      },
    };
  }

  failed(address: string, username: string): void {
    const now = this.now();
    this.count(this.byAddress, address, this.opts.addressFreeFailures, now);
    this.count(this.byUser, username.slice(0, MAX_KEY_LENGTH), this.opts.userFreeFailures, now);
  }

  succeeded(_address: string, username: string): void {
    const u = this.byUser.get(username.slice(0, MAX_KEY_LENGTH));
    if (u) { u.count = 0; u.first = this.now(); }
  }

  private current(map: Map<string, FailureCount>, key: string, now: number): FailureCount | undefined {
    const e = map.get(key);
    if (e && now - e.first > this.opts.windowMs) { e.count = 0; e.first = now; }
    return e;
  }

  private count(map: Map<string, FailureCount>, key: string, free: number, now: number): void {
    let e = this.current(map, key, now);
    if (!e) {
      if (map.size >= MAX_KEYS) this.prune(map, now);
      e = { count: 0, first: now, nextAt: 0, waiting: 0 };
      map.set(key, e);
    }
    e.count++;
    if (e.count > free) e.nextAt = Math.max(e.nextAt, now + this.delay(e.count, free));
  }

  /** Wait after the `n`-th failure of a key whose allowance is `free`. */
  private delay(n: number, free: number): number {
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(Math.max(n - free - 1, 0), 20));
  }

  private prune(map: Map<string, FailureCount>, now: number): void {
    for (const [key, e] of map) if (e.waiting === 0 && now - e.first > this.opts.windowMs && e.nextAt <= now) map.delete(key);
    // still full: the oldest go (a Map iterates in insertion order), a tenth at a time
    let excess = map.size - Math.floor(MAX_KEYS * 0.9);
    for (const [key, e] of map) {
      if (excess <= 0) break;
      if (e.waiting === 0) { map.delete(key); excess--; }
    }
  }
}

export interface LoginAuditDetail {
  reason: string;
  /** Refusals since the previous row of this address and reason. */
  count: number;
  /** Time of the first of them. */
  since: number;
  /** A few of the registered ids that were tried; anything else is only counted (it may be a mistyped secret). */
  usernames: string[];
  unknownUsernames: number;
  /** Rows folded from many addresses (address `*`): how many distinct ones, counted up to 10,000. */
  addresses?: number;
}

interface AuditKey { address: string; reason: string; lastAt: number; count: number; since: number; usernames: Set<string>; unknown: number; addresses?: Set<string> }

/**
 * Refused logins, for the audit log, without letting a flood of them flood it: the first refusal of an
 * (address, reason) is written at once, the following ones are counted and written as one row when
 * the minute since the previous row is over. Past `maxKeys` distinct pairs, further addresses are
 * folded into one row per reason (address `*`), so a flood from many addresses stays bounded too.
 */
export class LoginAudit {
  private readonly keys = new Map<string, AuditKey>();

  constructor(private readonly write: (address: string, detail: LoginAuditDetail) => void,
    private readonly opts: { intervalMs: number; maxKeys: number } = { intervalMs: 60_000, maxKeys: 100 },
    private readonly now: () => number = Date.now) {}

  /** `knownUsername`: only a registered device or account id, never whatever the client sent. */
  refused(address: string, reason: string, knownUsername?: string): void {
    const now = this.now();
    let k = this.keys.get(`${reason}\u0000${address}`);
    if (!k && this.keys.size >= this.opts.maxKeys) {
      k = this.keys.get(`${reason}\u0000*`);
      if (!k) this.keys.set(`${reason}\u0000*`, k = { ...this.fresh('*', reason, now), addresses: new Set() });
      if (k.addresses!.size < 10_000) k.addresses!.add(address);
    }
    if (!k) this.keys.set(`${reason}\u0000${address}`, k = this.fresh(address, reason, now));
    if (k.count === 0) k.since = now;
    k.count++;
    if (knownUsername === undefined) k.unknown++;
    else if (k.usernames.size < 5) k.usernames.add(knownUsername);
    if (now - k.lastAt >= this.opts.intervalMs) this.emit(k, now);
  }

  /** Writes the counts whose minute is over (all of them with `all`, at shutdown) and forgets idle keys. */
  flush(all = false): void {
    const now = this.now();
    for (const [id, k] of this.keys) {
      const due = all || now - k.lastAt >= this.opts.intervalMs;
      if (k.count > 0 && due) this.emit(k, now);
      else if (k.count === 0 && due) this.keys.delete(id);
    }
  }

  private fresh(address: string, reason: string, now: number): AuditKey {
    return { address, reason, lastAt: -Infinity, count: 0, since: now, usernames: new Set(), unknown: 0 };
  }

  private emit(k: AuditKey, now: number): void {
    this.write(k.address, {
      reason: k.reason, count: k.count, since: k.since, usernames: [...k.usernames], unknownUsernames: k.unknown,
      ...(k.addresses ? { addresses: k.addresses.size } : {}),
    });
    k.lastAt = now;
    k.count = 0;
    k.unknown = 0;
    k.usernames.clear();
    k.addresses?.clear();
  }
}

/**
 * Connections per remote address, refused past `max` (0 = no limit). Used twice: for all open
 * connections, and for those that have not logged in yet.
 */
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

/** One device's token bucket: tokens left, and when they were last counted (0 = never used). */
export interface RateBucket { tokens: number; at: number }

/**
 * Per-device token bucket: `perSecond` messages with bursts of `burst`. Returns how long the
 * message must wait (0 = go). Waiting holds back the device's acknowledgement and, through Aedes,
 * the reading of its socket: a chatty device is slowed, not cut off, and loses nothing.
 */
export class PublishRateLimiter {
  constructor(private readonly perSecond: number, private readonly burst: number, private readonly now: () => number = Date.now) {}

  get enabled(): boolean { return this.perSecond > 0; }

  /** A device's bucket before its first message (filled to the burst on first use). */
  static emptyBucket(): RateBucket { return { tokens: 0, at: 0 }; }

  /**
   * `bucket` is the device's state, kept by the caller where the message already leads (the
   * broker keeps it on the session's identity): no lookup and no allocation per message.
   */
  delayFor(bucket: RateBucket): number {
    const now = this.now();
    if (bucket.at === 0) { bucket.tokens = this.burst; bucket.at = now; }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) * this.perSecond) / 1000);
    bucket.at = now;
    bucket.tokens -= 1;
    return bucket.tokens >= 0 ? 0 : Math.ceil((-bucket.tokens * 1000) / this.perSecond);
  }

  /** For a caller that refuses rather than holds (the HTTP device API): a token if there is one (0), else the wait for one, taking nothing. */
  tryTake(bucket: RateBucket): number {
    const delay = this.delayFor(bucket);
    if (delay > 0) bucket.tokens += 1;
    return delay;
  }
}
