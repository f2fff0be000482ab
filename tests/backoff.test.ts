/**
 * The gateway's one retry policy (core/backoff.ts) and the wakeable sleep of its delivery loops
 * (core/wakeable.ts). Delays are computed with an injected random source; where a test asserts
 * when something happens, the timers are fake or injected, never a real wait.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ATTEMPT_ERRORS, AttemptError, Backoff, backoffDelay, httpAttemptError, isTransientStatus, networkAttemptError, parseRetryAfter,
} from '../core/backoff.js';
import { Wakeable, type TimerSource } from '../core/wakeable.js';
import { TS_ERRORS, classifyHttpFailure } from '../ingest/writers/influx/index.js';

describe('backoff', () => {
  const opts = { initialDelayMs: 100, maxDelayMs: 1000 };

  it('uses full jitter under an exponential ceiling capped at maxDelayMs', () => {
    const top = { ...opts, random: () => 0.999999 };
    expect(backoffDelay(1, top)).toBe(99);
    expect(backoffDelay(2, top)).toBe(199);
    expect(backoffDelay(4, top)).toBe(799);
    expect(backoffDelay(5, top)).toBe(999); // 1600 capped at 1000
    expect(backoffDelay(500, top)).toBe(999);
    expect(backoffDelay(3, { ...opts, random: () => 0 })).toBe(0);
    expect(backoffDelay(3, { ...opts, random: () => 0.5 })).toBe(200);
  });

  it('honours Retry-After as a lower bound, capped', () => {
    const low = { ...opts, random: () => 0 };
    expect(backoffDelay(1, low, 3000)).toBe(3000);
    expect(backoffDelay(1, { ...low, maxRetryAfterMs: 2000 }, 3000)).toBe(2000);
    expect(backoffDelay(1, { ...opts, random: () => 0.999 }, 10)).toBe(99);
  });

  it('parses Retry-After seconds and HTTP dates', () => {
    const now = Date.parse('2024-05-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(['2'], now)).toBe(2000);
    expect(parseRetryAfter('Wed, 01 May 2024 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 01 May 2024 00:00:00 GMT', now + 5000)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('counts attempts and resets', () => {
    const b = new Backoff({ ...opts, random: () => 0.999999 });
    expect([b.next(), b.next(), b.next()]).toEqual([99, 199, 399]);
    b.reset();
    expect(b.next()).toBe(99);
    expect(b.attempts).toBe(1);
  });

  it('keeps every jittered delay within [0, ceiling), for any random value and with Math.random', () => {
    const randoms = [0, 1e-9, 0.25, 0.5, 0.75, 0.999999];
    for (let attempt = 1; attempt <= 60; attempt++) {
      const ceiling = Math.min(opts.maxDelayMs, opts.initialDelayMs * 2 ** (attempt - 1));
      for (const r of randoms) {
        const d = backoffDelay(attempt, { ...opts, random: () => r });
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(ceiling);
        expect(Number.isInteger(d)).toBe(true);
      }
    }
    // the default source as well: a thousand draws, all inside the bounds, and not all the same
    const drawn = Array.from({ length: 1000 }, () => backoffDelay(4, opts));
    expect(Math.min(...drawn)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...drawn)).toBeLessThan(800);
    expect(new Set(drawn).size).toBeGreaterThan(100);
  });

  it('never passes the cap, however many failures in a row', () => {
    const b = new Backoff({ initialDelayMs: 1000, maxDelayMs: 30_000, random: () => 0.999999 });
    const delays = Array.from({ length: 2000 }, () => b.next());
    expect(Math.max(...delays)).toBe(29_999);
    expect(delays.slice(5).every((d) => d === 29_999)).toBe(true); // 1, 2, 4, 8, 16 s, then the cap
  });

  it('obeys a Retry-After only up to 5 minutes by default, or up to maxDelayMs when that is longer', () => {
    const day = 86_400_000;
    expect(backoffDelay(1, { ...opts, random: () => 0 }, day)).toBe(300_000);
    expect(backoffDelay(1, { initialDelayMs: 1000, maxDelayMs: 600_000, random: () => 0 }, day)).toBe(600_000);
  });
});

describe('retry decisions belong to the failure type', () => {
  const transient = [408, 429, 500, 502, 503, 504, 599];
  const permanent = [400, 401, 403, 404, 405, 409, 410, 413, 415, 422];

  it('408, 429 and 5xx are transient; every other 4xx is permanent', () => {
    for (const s of transient) {
      expect(isTransientStatus(s), String(s)).toBe(true);
      const e = httpAttemptError(s);
      expect(e.code).toBe(ATTEMPT_ERRORS.TRANSIENT);
      expect(e.transient).toBe(true);
      expect(e.status).toBe(s);
    }
    for (const s of permanent) {
      expect(isTransientStatus(s), String(s)).toBe(false);
      const e = httpAttemptError(s);
      expect(e.code).toBe(ATTEMPT_ERRORS.PERMANENT);
      expect(e.transient).toBe(false);
    }
  });

  it('reads Retry-After from the answer, in seconds or as an HTTP date, as the next delay\'s lower bound', () => {
    const now = Date.parse('2024-05-01T00:00:00Z');
    expect(httpAttemptError(429, '7', now).retryAfterMs).toBe(7000);
    expect(httpAttemptError(503, 'Wed, 01 May 2024 00:00:30 GMT', now).retryAfterMs).toBe(30_000);
    expect(httpAttemptError(503, null, now).retryAfterMs).toBeUndefined();
    const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000, random: () => 0.999999 });
    expect(b.next(httpAttemptError(429, '7', now).retryAfterMs)).toBe(7000);
    expect(b.next(httpAttemptError(503, null, now).retryAfterMs)).toBe(199);
  });

  it('a failure without an answer (refused, reset, timeout) is transient, whatever its message says', () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
    const e = networkAttemptError(refused);
    expect(e).toBeInstanceOf(AttemptError);
    expect(e.code).toBe(ATTEMPT_ERRORS.TRANSIENT);
    expect(e.message).toContain('ECONNREFUSED');
    expect(e.status).toBeUndefined();
    expect(networkAttemptError(new DOMException('This operation was aborted', 'AbortError')).transient).toBe(true);
    // the decision is not read from text: a message that looks like a refusal changes nothing
    expect(networkAttemptError(new Error('400 Bad Request')).transient).toBe(true);
  });

  it('the InfluxDB sinks classify statuses by the same rule: transient is UNAVAILABLE, permanent is told apart', () => {
    for (let s = 400; s < 600; s++) {
      const code = classifyHttpFailure(s, 'x').code;
      if (isTransientStatus(s)) expect(code, String(s)).toBe(TS_ERRORS.UNAVAILABLE);
      else expect([TS_ERRORS.AUTH, TS_ERRORS.NOT_FOUND, TS_ERRORS.REJECTED], String(s)).toContain(code);
    }
    expect(classifyHttpFailure(429, 'x', 5000).retryAfterMs).toBe(5000);
  });
});

describe('Wakeable', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  /** Resolves the promise's state without waiting: 'pending', or what it resolved with. */
  function track<T>(p: Promise<T>): { state: 'pending' | T } {
    const t: { state: 'pending' | T } = { state: 'pending' };
    void p.then((v) => { t.state = v; });
    return t;
  }

  it('sleeps its full time and resolves true', async () => {
    const w = new Wakeable<'idle'>();
    const s = track(w.sleep(1000, 'idle'));
    expect(w.sleeping).toBe('idle');
    await vi.advanceTimersByTimeAsync(999);
    expect(s.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(s.state).toBe(true);
    expect(w.sleeping).toBeNull();
  });

  it('wake() ends the sleep early (false) and clears its timer; waking nobody is a no-op', async () => {
    const w = new Wakeable<'backoff'>();
    expect(w.wake()).toBe(false);
    const s = track(w.sleep(60_000, 'backoff'));
    expect(vi.getTimerCount()).toBe(1);
    expect(w.wake()).toBe(true);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.state).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    expect(w.sleeping).toBeNull();
  });

  it('an endless sleep holds no timer and ends only when woken', async () => {
    const w = new Wakeable<'idle'>();
    const s = track(w.sleep(Infinity, 'idle'));
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10 * 86_400_000);
    expect(s.state).toBe('pending');
    w.wake();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.state).toBe(false);
  });

  it('close() ends the current sleep, and every later one resolves at once', async () => {
    const w = new Wakeable<'idle'>();
    const s = track(w.sleep(5000, 'idle'));
    w.close();
    expect(w.closed).toBe(true);
    const later = track(w.sleep(5000, 'idle'));
    await vi.advanceTimersByTimeAsync(0);
    expect(s.state).toBe(false);
    expect(later.state).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a new sleep ends the one still pending; a huge delay is clamped to what a Node timer can hold', async () => {
    const asked: number[] = [];
    const timers: TimerSource = { set: (_fn, ms) => { asked.push(ms); return asked.length; }, clear: () => undefined };
    const w = new Wakeable<'a' | 'b'>(timers);
    const first = track(w.sleep(10, 'a'));
    void w.sleep(2 ** 40, 'b');
    await Promise.resolve();
    expect(first.state).toBe(false);
    expect(w.sleeping).toBe('b');
    expect(asked).toEqual([10, 2 ** 31 - 1]);
  });
});
