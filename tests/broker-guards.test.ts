/** Unit tests of the broker guards, with a fake clock. */
import { describe, expect, it } from 'vitest';
import { ConnectionLimiter, LoginThrottle, PublishRateLimiter } from '../gateway/broker/guards.js';

describe('LoginThrottle', () => {
  it('lets a few failures through, then doubles the delay up to the cap, and forgets after the window', () => {
    let now = 0;
    const t = new LoginThrottle({ freeFailures: 3, windowMs: 60_000, baseDelayMs: 500, maxDelayMs: 4000 }, () => now);
    expect([1, 2, 3].map(() => t.failed('10.0.0.1'))).toEqual([0, 0, 0]);
    expect([1, 2, 3, 4, 5].map(() => t.failed('10.0.0.1'))).toEqual([500, 1000, 2000, 4000, 4000]);
    expect(t.failed('10.0.0.2')).toBe(0); // another address is not affected
    now += 60_001;
    expect(t.failed('10.0.0.1')).toBe(0);
  });

  it('a successful login clears the record', () => {
    const t = new LoginThrottle({ freeFailures: 1, windowMs: 60_000, baseDelayMs: 100, maxDelayMs: 1000 }, () => 0);
    t.failed('a');
    expect(t.failed('a')).toBe(100);
    t.succeeded('a');
    expect(t.failed('a')).toBe(0);
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
});
