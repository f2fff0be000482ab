/**
 * Webhook delivery against a local HTTP server acting as the agency's receiver: which answers are
 * retried (and after how long), and what happens to a message the receiver refuses for good. The
 * deliverer runs on a real store and queue log; its backoff timers are injected, so the tests read
 * the delay it chose and fire the timer themselves instead of waiting for it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openDatabase, sqliteDatabase, type Db } from '../core/db/sqlite.js';
import { AuditLog } from '../core/audit.js';
import type { TimerSource } from '../core/wakeable.js';
import { webhookSchema } from '../alerts/config.js';
import { QueueLog } from '../alerts/queues.js';
import type { Alert } from '../alerts/model.js';
import { WebhookDelivery, signature } from '../alerts/delivery/webhooks.js';
import { waitFor } from './harness/gateway.js';

const QUEUE = 'property/co-hook';
const SECRET = 'webhook-secret-0123456789';
/** A whole second, so that an HTTP date (1 s resolution) says exactly what the test means. */
const NOW = Date.parse('2024-05-01T08:00:00Z');

/** Timers that fire only when the test says so; `pending` shows what the deliverer is waiting for. */
class ManualTimers implements TimerSource {
  pending: Array<{ id: number; ms: number; fn: () => void }> = [];
  scheduled: number[] = [];
  private nextId = 1;
  set(fn: () => void, ms: number): number {
    const id = this.nextId++;
    this.pending.push({ id, ms, fn });
    this.scheduled.push(ms);
    return id;
  }
  clear(handle: unknown): void {
    this.pending = this.pending.filter((t) => t.id !== handle);
  }
  /** Fires the one pending timer and returns its delay. */
  fire(): number {
    expect(this.pending).toHaveLength(1);
    const t = this.pending.shift()!;
    t.fn();
    return t.ms;
  }
}

interface Received { cursor: number; event: string; headers: IncomingMessage['headers']; body: string }
type Answer = { status: number; headers?: Record<string, string> } | 'hang';

/** The agency's receiver: answers each request with what `answer` says (by cursor and attempt). */
async function receiver(answer: (cursor: number, attempt: number) => Answer) {
  const got: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const cursor = Number(req.headers['x-gateway-cursor']);
      got.push({ cursor, event: String(req.headers['x-gateway-event']), headers: req.headers, body });
      const a = answer(cursor, got.filter((g) => g.cursor === cursor).length);
      if (a === 'hang') { hanging.push(res); return; }
      res.writeHead(a.status, a.headers ?? {});
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/alerts`;
  return {
    url,
    got,
    cursors: () => got.map((g) => g.cursor),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function memoryLogger() {
  const records: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'warn' }, stream), records };
}

function alert(id: number): Alert {
  return { id, type: 'water.flooded', deviceId: 'pump-1', companyId: 'co-hook' } as Alert;
}

const dirs: string[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A deliverer for one webhook on a fresh store, with jitter pinned by `random`. */
async function setup(url: string, opts: { random?: number; retryInitial?: number; retryMax?: number; timeout?: number; db?: Db } = {}) {
  let db = opts.db;
  if (!db) {
    const dir = mkdtempSync(join(tmpdir(), 'webhooks-test-'));
    dirs.push(dir);
    db = openDatabase(dir, 'gateway.sqlite');
    const opened = db;
    cleanups.push(() => { opened.close(); });
  }
  const database = sqliteDatabase(db);
  const queues = await QueueLog.open(database, (err) => { throw err; });
  const config = webhookSchema.parse({
    id: 'co-hook-system', queue: QUEUE, url, secret: SECRET, from: 'start',
    retryInitial: opts.retryInitial ?? 100, retryMax: opts.retryMax ?? 400, timeout: opts.timeout ?? 5000,
  });
  const timers = new ManualTimers();
  const counts = { delivered: 0, failed: 0, refused: 0 };
  const mem = memoryLogger();
  const random = opts.random ?? 0;
  const delivery = await WebhookDelivery.open(database, queues, [config], mem.log, {
    delivered: () => counts.delivered++,
    failed: () => counts.failed++,
    refused: () => counts.refused++,
  }, { audit: await AuditLog.open(database), random: () => random, now: () => NOW, timers });
  queues.onMessage(delivery.onMessage);
  cleanups.push(() => delivery.close());
  let alertId = 0;
  /** Appends `n` messages to the queue and hands them to the live consumers, as the ledger does after a commit. */
  const append = (n: number) => {
    for (let i = 0; i < n; i++) queues.append(QUEUE, 'raised', NOW, alert(++alertId));
    queues.takePending()();
  };
  const savedCursor = () => (db.prepare('SELECT cursor FROM alert_webhooks WHERE id = ?').get(config.id) as { cursor: number }).cursor;
  return { db, queues, delivery, timers, counts, records: mem.records, append, savedCursor };
}

describe('webhook retries', () => {
  it('a 429 with Retry-After in seconds: the retry waits that long, not the shorter backoff, then the message is delivered', async () => {
    const r = await receiver((_c, attempt) => (attempt === 1 ? { status: 429, headers: { 'retry-after': '7' } } : { status: 204 }));
    cleanups.push(r.close);
    // the largest jitter the backoff could pick is 99 ms: the Retry-After must win
    const w = await setup(r.url, { random: 0.999999 });
    w.append(1);
    w.delivery.start();
    await waitFor(() => w.timers.pending.length === 1);
    expect(w.timers.pending[0]!.ms).toBe(7000);
    expect(r.cursors()).toEqual([1]); // asleep: nothing more can happen until the timer fires
    w.timers.fire();
    await waitFor(() => w.counts.delivered === 1);
    expect(r.cursors()).toEqual([1, 1]);
    expect(w.counts.failed).toBe(1);
    expect(w.savedCursor()).toBe(1);
    const warn = w.records.find((l) => l.webhook === 'co-hook-system' && l.status === 429);
    expect(warn).toMatchObject({ cursor: 1, attempt: 1, retryInMs: 7000 });
  });

  it('a 503 with Retry-After as an HTTP date: the retry waits until that date', async () => {
    const at = new Date(NOW + 30_000).toUTCString();
    const r = await receiver((_c, attempt) => (attempt === 1 ? { status: 503, headers: { 'retry-after': at } } : { status: 200 }));
    cleanups.push(r.close);
    const w = await setup(r.url, { random: 0.5 });
    w.append(1);
    w.delivery.start();
    await waitFor(() => w.timers.pending.length === 1);
    expect(w.timers.pending[0]!.ms).toBe(30_000);
    w.timers.fire();
    await waitFor(() => w.counts.delivered === 1);
    expect(r.cursors()).toEqual([1, 1]);
  });

  it('408, 429 and 5xx are retried with jittered exponential backoff, capped at retryMax, until the receiver takes the message', async () => {
    const answers = [408, 429, 500, 502, 503, 504];
    const r = await receiver((cursor, attempt) => ({ status: cursor === 1 ? answers[attempt - 1] ?? 204 : 204 }));
    cleanups.push(r.close);
    const w = await setup(r.url, { random: 0.999999, retryInitial: 100, retryMax: 400 });
    w.append(2);
    w.delivery.start();
    const delays: number[] = [];
    for (let i = 0; i < answers.length; i++) {
      await waitFor(() => w.timers.pending.length === 1);
      delays.push(w.timers.fire());
    }
    await waitFor(() => w.counts.delivered === 2);
    // ceilings 100, 200, 400, then the 400 cap; the jitter picks just under each
    expect(delays).toEqual([99, 199, 399, 399, 399, 399]);
    expect(r.cursors()).toEqual([1, 1, 1, 1, 1, 1, 1, 2]);
    expect(w.counts.failed).toBe(6);
    // a success starts the next message's backoff from the beginning: nothing else was scheduled
    expect(w.timers.scheduled).toEqual(delays);
    // every attempt carried a valid signature
    for (const g of r.got) expect(g.headers['x-gateway-signature']).toBe(signature(SECRET, String(NOW), g.body));
  });

  it('a receiver that does not answer in time is retried (a timeout is transient)', async () => {
    const r = await receiver((_c, attempt) => (attempt === 1 ? 'hang' : { status: 204 }));
    cleanups.push(r.close);
    const w = await setup(r.url, { timeout: 100, random: 0 });
    w.append(1);
    w.delivery.start();
    await waitFor(() => w.timers.pending.length === 1);
    expect(w.counts.failed).toBe(1);
    expect(w.counts.refused).toBe(0);
    w.timers.fire();
    await waitFor(() => w.counts.delivered === 1);
    expect(r.cursors()).toEqual([1, 1]);
  });
});

describe('webhook permanent refusals', () => {
  it('400, 401, 403 and 404 are not retried: each is recorded, and the cursor moves on to the next message, also to live ones', async () => {
    const refusals: Record<number, number> = { 1: 400, 2: 401, 3: 403, 4: 404 };
    const r = await receiver((cursor) => ({ status: refusals[cursor] ?? 204 }));
    cleanups.push(r.close);
    const w = await setup(r.url);
    w.append(4);
    w.delivery.start();
    await waitFor(() => w.counts.refused === 4);
    // one message arriving after the refusals still gets through
    w.append(1);
    await waitFor(() => w.counts.delivered === 1);
    expect(r.cursors()).toEqual([1, 2, 3, 4, 5]); // each refused message was sent exactly once
    expect(w.timers.scheduled).toEqual([]); // and the deliverer never backed off
    expect(w.counts.failed).toBe(4);
    expect(w.savedCursor()).toBe(5);
    expect(w.delivery.lag()).toEqual([{ id: 'co-hook-system', lag: 0 }]);

    const audit = (await (await AuditLog.open(sqliteDatabase(w.db))).list({ target: `queue:${QUEUE}`, limit: 10 })).reverse();
    expect(audit.map((a) => [a.actor, a.action])).toEqual(Array.from({ length: 4 }, () => ['webhook:co-hook-system', 'queue.webhook_refused']));
    expect(audit.map((a) => a.detail)).toEqual([1, 2, 3, 4].map((cursor) => ({
      webhook: 'co-hook-system', cursor, event: 'raised', alertId: cursor, status: refusals[cursor],
    })));
    const errors = w.records.filter((l) => l.level === 50 && l.webhook === 'co-hook-system');
    expect(errors.map((l) => [l.cursor, l.status])).toEqual([[1, 400], [2, 401], [3, 403], [4, 404]]);
  });

  it('after a restart the refused messages are not sent again', async () => {
    const r = await receiver((cursor) => ({ status: cursor === 1 ? 422 : 204 }));
    cleanups.push(r.close);
    const first = await setup(r.url);
    first.append(2);
    first.delivery.start();
    await waitFor(() => first.counts.delivered === 1);
    await first.delivery.close();
    const again = await setup(r.url, { db: first.db });
    again.append(1);
    again.delivery.start();
    await waitFor(() => again.counts.delivered === 1);
    expect(r.cursors()).toEqual([1, 2, 3]);
    expect(again.counts.refused).toBe(0);
  });
});
