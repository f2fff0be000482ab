/**
 * The write-behind commit on a real PostgreSQL, with a pool whose connections can be made to fail
 * at a chosen statement: batches commit in order, one at a time; a failure that can pass is retried
 * with the same writes until it commits; a commit whose answer was lost is not applied twice; a
 * refusal drops the batch and fails its waiters; a unit that throws leaves nothing behind.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startPostgres, type PostgresHandle } from './harness/postgres.js';
import { COMMIT_MARKS_MIGRATION, WriteBehind } from '../core/db/write-behind.js';
import { StoreConflictError, StoreUnavailableError } from '../core/db/store.js';

let server: PostgresHandle;
let pool: pg.Pool;
/** Fails the next statement that matches, after running it or instead of running it. */
let trap: { match: RegExp; after: boolean; error: Error & { code?: string } } | undefined;
const errors: string[] = [];

beforeAll(async () => {
  server = await startPostgres();
  pool = new pg.Pool({ connectionString: server.url, max: 2 });
  pool.on('error', () => undefined);
  // every checked-out client goes through the trap
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : '';
      const t = trap;
      if (t && t.match.test(text)) {
        trap = undefined;
        if (t.after) await query(...args);
        throw t.error;
      }
      return query(...args);
    };
  });
  await pool.query(COMMIT_MARKS_MIGRATION);
  await pool.query('CREATE TABLE wb (k TEXT PRIMARY KEY, n INTEGER NOT NULL)');
});
afterAll(async () => {
  await pool?.end();
  await server?.stop();
});
beforeEach(async () => {
  trap = undefined;
  errors.length = 0;
  await pool.query('DELETE FROM wb');
});

const writer = (maxPendingWrites = 1000) => new WriteBehind(pool, {
  maxPendingWrites, probeMs: 60_000, backoff: { initialDelayMs: 1, maxDelayMs: 5 },
  onError: (err, what) => errors.push(`${what}: ${(err as Error).message}`),
});
const insert = (k: string, n = 1): [string, unknown[]] => ['INSERT INTO wb (k, n) VALUES ($1, $2)', [k, n]];
const rows = async () => (await pool.query<{ k: string; n: number }>('SELECT k, n FROM wb ORDER BY k')).rows;
const networkError = () => Object.assign(new Error('Connection terminated unexpectedly'), {});

describe('write-behind', () => {
  it('commits a turn\'s writes together, in order, and runs what waits for them after', async () => {
    const w = writer();
    const order: string[] = [];
    w.write(...insert('a'));
    w.write('UPDATE wb SET n = n + 1 WHERE k = $1', ['a'], ({ changes }) => order.push(`updated ${changes}`));
    w.afterCommit(() => order.push('after'));
    expect(w.pendingWrites).toBe(2);
    await w.durable();
    expect(order).toEqual(['updated 1', 'after']);
    expect(await rows()).toEqual([{ k: 'a', n: 2 }]);
    expect(w.durable()).toBeUndefined();
    await w.close(1000);
  });

  it('retries a batch whose connection dropped, with the same writes, until it commits; nothing waiting is released before', async () => {
    const w = writer();
    trap = { match: /^INSERT INTO wb/, after: false, error: networkError() };
    w.write(...insert('b'));
    let released = false;
    const done = w.durable()!.then(() => { released = true; });
    await expect.poll(() => errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatch(/retrying the same 1 writes/);
    await done;
    expect(released).toBe(true);
    expect(await rows()).toEqual([{ k: 'b', n: 1 }]);
    await w.close(1000);
  });

  it('a commit whose answer was lost is not applied twice by its retry', async () => {
    const w = writer();
    // COMMIT runs on the server, then the client hears only a dropped connection
    trap = { match: /^COMMIT/, after: true, error: networkError() };
    let cursor = 0;
    w.write('INSERT INTO wb (k, n) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET n = wb.n + 1 RETURNING n', ['c'], ({ rows: r }) => { cursor = (r[0] as { n: number }).n; });
    await w.durable();
    expect(await rows()).toEqual([{ k: 'c', n: 1 }]);
    expect(cursor).toBe(1);
    expect(errors.some((e) => /had committed before its answer was lost; not repeated/.test(e))).toBe(true);
    await w.close(1000);
  });

  it('a batch the database refuses is dropped whole: its waiters fail, what waits for it never runs, and the next batch goes on', async () => {
    const w = writer();
    await pool.query("INSERT INTO wb (k, n) VALUES ('dup', 1)");
    let refused = 0;
    const refusing = new WriteBehind(pool, {
      maxPendingWrites: 1000, probeMs: 60_000, backoff: { initialDelayMs: 1, maxDelayMs: 5 },
      onError: () => undefined, onRefused: () => { refused++; },
    });
    let ran = false;
    refusing.write(...insert('d1'));
    refusing.write(...insert('dup'));
    refusing.afterCommit(() => { ran = true; });
    await expect(refusing.durable()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(ran).toBe(false);
    expect(refused).toBe(1);
    expect((await rows()).map((r) => r.k)).toEqual(['dup']);
    refusing.write(...insert('d2'));
    await refusing.durable();
    expect((await rows()).map((r) => r.k)).toEqual(['d2', 'dup']);
    await refusing.close(1000);
    await w.close(1000);
  });

  it('a conflict reported by a write\'s own check refuses the batch (never retried)', async () => {
    const w = writer();
    w.write('UPDATE wb SET n = 2 WHERE k = $1', ['missing'], ({ changes }) => { if (changes !== 1) throw new StoreConflictError('changed elsewhere'); });
    await expect(w.durable()).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(errors.some((e) => /refused/.test(e))).toBe(true);
    expect(errors.some((e) => /retrying/.test(e))).toBe(false);
    await w.close(1000);
  });

  it('takes back what a unit added when the unit throws', async () => {
    const w = writer();
    w.write(...insert('kept'));
    const mark = w.mark();
    w.write(...insert('dropped'));
    w.afterCommit(() => { throw new Error('must not run'); });
    w.truncate(mark);
    await w.durable();
    expect((await rows()).map((r) => r.k)).toEqual(['kept']);
    expect(errors).toEqual([]);
    await w.close(1000);
  });

  it('is saturated once more writes wait than its bound', async () => {
    const w = writer(3);
    for (const k of ['s1', 's2']) w.write(...insert(k));
    expect(w.saturated).toBe(false);
    w.write(...insert('s3'));
    expect(w.saturated).toBe(true);
    await w.durable();
    expect(w.saturated).toBe(false);
    await w.close(1000);
  });
});
