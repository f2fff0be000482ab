/** The queue of connections waiting for their address's turn to log in (gateway/broker/login-queue.ts), on a fake clock. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LoginQueue } from '../gateway/broker/login-queue.js';

beforeEach(() => { vi.useFakeTimers(); });
afterEach(() => { vi.useRealTimers(); });

const item = (name: string) => ({ name });

describe('LoginQueue', () => {
  it('gives each address its longest-waiting connection first; addresses do not share a line', () => {
    const q = new LoginQueue<{ name: string }>(1000, () => undefined);
    const [a1, a2, b1, a3] = [item('a1'), item('a2'), item('b1'), item('a3')];
    q.add('A', a1); q.add('A', a2); q.add('B', b1); q.add('A', a3);
    expect(q.size).toBe(4);
    expect(q.take('A')).toBe(a1);
    expect(q.take('B')).toBe(b1);
    expect(q.take('B')).toBeUndefined();
    expect(q.take('A')).toBe(a2);
    expect(q.take('A')).toBe(a3);
    expect(q.take('A')).toBeUndefined();
    expect(q.size).toBe(0);
  });

  it('one that left while waiting is not given a turn, nor timed out', () => {
    const timedOut: string[] = [];
    const q = new LoginQueue<{ name: string }>(1000, (i) => timedOut.push(i.name));
    const [a1, a2] = [item('a1'), item('a2')];
    q.add('A', a1); q.add('A', a2);
    expect(q.remove('A', a1)).toBe(true);
    expect(q.remove('A', a1)).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(timedOut).toEqual(['a2']);
    expect(q.take('A')).toBeUndefined();
  });

  it('times out each at its own deadline, not before; one whose turn came is not timed out', () => {
    const timedOut: string[] = [];
    const q = new LoginQueue<{ name: string }>(1000, (i, address) => timedOut.push(`${address}:${i.name}`));
    const [a1, a2, a3] = [item('a1'), item('a2'), item('a3')];
    q.add('A', a1);
    vi.advanceTimersByTime(400);
    q.add('A', a2); q.add('A', a3);
    expect(q.take('A')).toBe(a1);
    vi.advanceTimersByTime(599);
    expect(timedOut).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(timedOut).toEqual([]);
    vi.advanceTimersByTime(400);
    expect(timedOut).toEqual(['A:a2', 'A:a3']);
    expect(q.size).toBe(0);
  });

  it('clear hands back every waiting connection (to be closed) and stops their timers', () => {
    const timedOut: string[] = [];
    const q = new LoginQueue<{ name: string }>(1000, (i) => timedOut.push(i.name));
    q.add('A', item('a1')); q.add('B', item('b1'));
    expect(q.clear().map((i) => i.name).sort()).toEqual(['a1', 'b1']);
    vi.advanceTimersByTime(5000);
    expect(timedOut).toEqual([]);
    expect(q.size).toBe(0);
  });
});
