/** Unit tests of the broker guards, with a fake clock. */
import { describe, expect, it } from 'vitest';
import { ConnectionLimiter, LoginAudit, LoginThrottle, PublishRateLimiter, type LoginAuditDetail, type LoginThrottleOptions } from '../gateway/broker/guards.js';

const NAT = '10.0.0.1';

/** A throttle on a fake clock; `opts` override the gateway's defaults. */
function throttle(opts: Partial<LoginThrottleOptions> = {}) {
  const clock = { now: 0 };
  const t = new LoginThrottle({ userFreeFailures: 5, addressFreeFailures: 100, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 30_000, maxWaiting: 4, ...opts }, () => clock.now);
  return { t, clock };
}

describe('LoginThrottle', () => {
  it('past its allowance, holds a username\'s next attempts one at a time, each no earlier than the doubling delay, and refuses the excess unseen', () => {
    const { t, clock } = throttle({ userFreeFailures: 3, baseDelayMs: 500, maxDelayMs: 4000, maxWaiting: 2 });
    for (let i = 0; i < 4; i++) {
      expect(t.admit(NAT, 'lift')?.delayMs).toBe(0);
      t.failed(NAT, 'lift');
    }
    // a burst of parallel attempts: two wait their turn (spaced as if each failed), the rest are refused without a look
    const held = [t.admit(NAT, 'lift'), t.admit(NAT, 'lift')];
    expect(held.map((h) => h?.delayMs)).toEqual([500, 1500]);
    expect(t.admit(NAT, 'lift')).toBeUndefined();
    clock.now = 500;
    held[0]!.done();
    t.failed(NAT, 'lift');
    // one place is free again; its turn is the one kept after the second held attempt (1500 + 2000)
    expect(t.admit(NAT, 'lift')?.delayMs).toBe(3500 - 500);
    expect(t.admit(NAT, 'lift')).toBeUndefined();
  });

  it('holds a right secret exactly like a wrong one, so a success cannot be told by a fast answer', () => {
    const { t } = throttle({ userFreeFailures: 1 });
    t.failed(NAT, 'lift');
    t.failed(NAT, 'lift');
    expect(t.admit(NAT, 'lift')?.delayMs).toBeGreaterThan(0);
  });

  it('keeps a neighbour behind the same address out of it: per-username and per-address allowances are separate', () => {
    const { t } = throttle({ userFreeFailures: 2, maxWaiting: 1 });
    for (let i = 0; i < 3; i++) t.failed(NAT, 'misconfigured');
    expect(t.admit(NAT, 'misconfigured')?.delayMs).toBeGreaterThan(0);
    expect(t.admit(NAT, 'misconfigured')).toBeUndefined();
    expect(t.admit(NAT, 'neighbour')?.delayMs).toBe(0);
    expect(t.admit('10.0.0.2', 'other')?.delayMs).toBe(0);
  });

  it('a success does not reset the address: an attacker cannot interleave logins of a device it owns', () => {
    const { t } = throttle({ userFreeFailures: 100, addressFreeFailures: 5 });
    for (let i = 0; i < 6; i++) {
      t.failed(NAT, `victim-${i}`);
      t.succeeded(NAT, 'owned-device');
    }
    // past the address's allowance: everything from it is held, whichever username
    expect(t.admit(NAT, 'victim-9')?.delayMs).toBeGreaterThan(0);
    expect(t.admit(NAT, 'owned-device')?.delayMs).toBeGreaterThan(0);
    expect(t.admit('10.0.0.2', 'victim-9')?.delayMs).toBe(0);
  });

  it('a success resets that username\'s own count', () => {
    const { t } = throttle({ userFreeFailures: 2 });
    for (let i = 0; i < 3; i++) t.failed(NAT, 'lift');
    expect(t.admit(NAT, 'lift')?.delayMs).toBeGreaterThan(0);
    t.succeeded(NAT, 'lift');
    expect(t.admit(NAT, 'lift')?.delayMs).toBe(0);
  });

  it('forgets failures after the window', () => {
    const { t, clock } = throttle({ userFreeFailures: 1, baseDelayMs: 100, maxDelayMs: 100 });
    t.failed(NAT, 'lift');
    t.failed(NAT, 'lift');
    expect(t.admit(NAT, 'lift')?.delayMs).toBe(100);
    clock.now = 60_001 + 200;
    expect(t.admit(NAT, 'lift')?.delayMs).toBe(0);
  });

  it('stays bounded under a spray of made-up usernames from many addresses', () => {
    const { t } = throttle();
    for (let i = 0; i < 150_000; i++) t.failed(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, `made-up-${i}-${'x'.repeat(1000)}`);
    const sizes = t as unknown as { byAddress: Map<string, unknown>; byUser: Map<string, unknown> };
    expect(sizes.byAddress.size).toBeLessThanOrEqual(100_000);
    expect(sizes.byUser.size).toBeLessThanOrEqual(100_000);
    expect(Math.max(...[...sizes.byUser.keys()].map((k) => k.length))).toBeLessThanOrEqual(256);
  });

  it('with the defaults, a community behind one NAT address with a misconfigured device retrying every second keeps reconnecting', () => {
    const { t, clock } = throttle();
    // the broken device: tries again 1 s after each answer, for 30 minutes
    let nextTry = 0;
    let evaluated = 0;
    let held: { at: number; done: () => void } | undefined;
    const fail = () => { t.failed(NAT, 'misconfigured'); evaluated++; nextTry = clock.now + 1000; };
    for (clock.now = 0; clock.now < 30 * 60_000; clock.now += 100) {
      if (held && held.at <= clock.now) { held.done(); held = undefined; fail(); }
      if (!held && clock.now >= nextTry) {
        const a = t.admit(NAT, 'misconfigured');
        if (!a) nextTry = clock.now + 1000;
        else if (a.delayMs === 0) { a.done(); fail(); }
        else held = { at: clock.now + a.delayMs, done: a.done };
      }
      // every 10 s one of the community's good devices reconnects: never held
      if (clock.now % 10_000 === 0) {
        const id = `lift-${clock.now / 10_000}`;
        const good = t.admit(NAT, id);
        expect(good?.delayMs, `at ${clock.now} ms`).toBe(0);
        good!.done();
        t.succeeded(NAT, id);
      }
    }
    // about a dozen checks a minute: far below the address's allowance of 100
    expect(evaluated / 30).toBeLessThan(15);
  });
});

describe('LoginAudit', () => {
  it('writes at most one row per address and reason per minute, carrying the count since the previous one', () => {
    let now = 0;
    const rows: Array<{ address: string; detail: LoginAuditDetail }> = [];
    const audit = new LoginAudit((address, detail) => rows.push({ address, detail }), { intervalMs: 60_000, maxKeys: 100 }, () => now);
    audit.refused(NAT, 'bad_secret', 'lift-1');
    expect(rows).toEqual([{ address: NAT, detail: { reason: 'bad_secret', count: 1, since: 0, usernames: ['lift-1'], unknownUsernames: 0 } }]);
    for (let i = 0; i < 1000; i++) { now += 10; audit.refused(NAT, 'bad_secret', i % 2 ? 'lift-1' : undefined); }
    audit.refused(NAT, 'unknown_user');
    audit.flush();
    expect(rows.map((r) => [r.address, r.detail.reason, r.detail.count])).toEqual([[NAT, 'bad_secret', 1], [NAT, 'unknown_user', 1]]);
    now = 60_000;
    audit.flush();
    expect(rows.slice(2)).toEqual([{ address: NAT, detail: { reason: 'bad_secret', count: 1000, since: 10, usernames: ['lift-1'], unknownUsernames: 500 } }]);
    // nothing new: nothing written, and the idle key is dropped
    now = 180_000;
    audit.flush();
    expect(rows).toHaveLength(3);
    audit.refused(NAT, 'bad_secret');
    expect(rows).toHaveLength(4);
  });

  it('folds a flood from many addresses into one row per reason past `maxKeys`', () => {
    let now = 0;
    const rows: Array<{ address: string; detail: LoginAuditDetail }> = [];
    const audit = new LoginAudit((address, detail) => rows.push({ address, detail }), { intervalMs: 60_000, maxKeys: 3 }, () => now);
    for (let i = 0; i < 1000; i++) audit.refused(`10.1.${i >> 8}.${i & 255}`, 'unknown_user');
    now = 60_000;
    audit.flush(true);
    expect(rows.length).toBeLessThanOrEqual(3 + 2);
    const folded = rows.filter((r) => r.address === '*');
    expect(folded.reduce((n, r) => n + r.detail.count, 0) + rows.filter((r) => r.address !== '*').reduce((n, r) => n + r.detail.count, 0)).toBe(1000);
    expect(Math.max(...folded.map((r) => r.detail.addresses ?? 0))).toBeGreaterThan(900);
  });

  it('keeps at most a few usernames per row', () => {
    const rows: LoginAuditDetail[] = [];
    const audit = new LoginAudit((_a, d) => rows.push(d), { intervalMs: 60_000, maxKeys: 10 }, () => 0);
    for (let i = 0; i < 50; i++) audit.refused(NAT, 'bad_secret', `lift-${i}`);
    audit.flush(true);
    expect(rows.at(-1)!.usernames.length).toBeLessThanOrEqual(5);
    expect(rows.at(-1)!.count).toBe(49);
  });
});

describe('ConnectionLimiter', () => {
  it('refuses past the cap per address and frees a place on release', () => {
    const l = new ConnectionLimiter(2);
    expect([l.acquire('a'), l.acquire('a'), l.acquire('a'), l.acquire('b')]).toEqual([true, true, false, true]);
    l.release('a');
    expect(l.acquire('a')).toBe(true);
    expect(new ConnectionLimiter(0).acquire('x')).toBe(true);
  });
});

describe('PublishRateLimiter', () => {
  it('allows the burst, then spaces messages at the rate', () => {
    let now = 1000;
    const r = new PublishRateLimiter(10, 5, () => now);
    const bucket = { tokens: 0, at: 0 };
    expect(Array.from({ length: 5 }, () => r.delayFor(bucket))).toEqual([0, 0, 0, 0, 0]);
    expect(r.delayFor(bucket)).toBe(100);
    expect(r.delayFor(bucket)).toBe(200);
    now += 1000; // 10 tokens back, but the debt of 2 is paid first
    expect(r.delayFor(bucket)).toBe(0);
  });

  it('keeps no state of its own: each device\'s bucket, kept by the caller, is limited apart from the others', () => {
    const now = 1000;
    const r = new PublishRateLimiter(10, 2, () => now);
    const chatty = PublishRateLimiter.emptyBucket();
    const quiet = PublishRateLimiter.emptyBucket();
    expect([r.delayFor(chatty), r.delayFor(chatty), r.delayFor(chatty)]).toEqual([0, 0, 100]);
    expect(r.delayFor(quiet)).toBe(0);
    expect(PublishRateLimiter.emptyBucket()).not.toBe(PublishRateLimiter.emptyBucket());
  });
});
