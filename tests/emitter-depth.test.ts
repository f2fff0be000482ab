/**
 * gateway/broker/emitter-depth.ts on Aedes' own emitter: a backlog past the emitter's concurrency
 * whose listeners then complete synchronously drains in order, without the nested calls that overflow
 * the stack (mcollina/mqemitter#204; seen here when a cluster node closed under load).
 */
import { Aedes } from 'aedes';
import { describe, expect, it } from 'vitest';
import { boundEmitterDepth } from '../gateway/broker/emitter-depth.js';

interface Emitter {
  on(topic: string, fn: (msg: { topic: string; n: number }, done: () => void) => void, cb?: () => void): void;
  emit(msg: { topic: string; n: number }, cb?: (err?: Error) => void): void;
}

/** 20,000 messages queued behind one held listener call, then released: every later call completes synchronously. */
async function drainBacklog(guard: boolean): Promise<{ delivered: number[]; completed: number; error?: unknown }> {
  const aedes = await Aedes.createBroker({ concurrency: 1 });
  const mq = (aedes as unknown as { mq: Emitter }).mq;
  if (guard) boundEmitterDepth(mq);
  const delivered: number[] = [];
  let release: (() => void) | undefined;
  await new Promise<void>((resolve) => mq.on('t', (msg, done) => {
    delivered.push(msg.n);
    if (msg.n === 0) release = done; else done();
  }, resolve));
  let completed = 0;
  const total = 20_000;
  const all = new Promise<void>((resolve) => {
    for (let n = 0; n < total; n++) mq.emit({ topic: 't', n }, () => { if (++completed === total) resolve(); });
  });
  let error: unknown;
  try {
    release!();
  } catch (err) {
    error = err;
  }
  if (error === undefined) await all;
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
  return { delivered, completed, ...(error !== undefined ? { error } : {}) };
}

describe('emitter depth bound', () => {
  it('without it, the emitter overflows the stack (the upstream bug this guards against)', async () => {
    const { error } = await drainBacklog(false);
    expect(error).toBeInstanceOf(RangeError);
  });

  it('with it, a 20,000-message backlog drains completely and in order', async () => {
    const { delivered, completed, error } = await drainBacklog(true);
    expect(error).toBeUndefined();
    expect(completed).toBe(20_000);
    expect(delivered).toEqual(Array.from({ length: 20_000 }, (_, n) => n));
  });
});
