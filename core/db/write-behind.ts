/**
 * The PostgreSQL write path of cluster mode: the writes of the synchronous domain are taken in the
 * order they are made and committed in batches, one PostgreSQL transaction each, one batch at a
 * time. While a batch commits, the next one fills (the group commit grows with the load, as the
 * ingest pipeline's does); `durable()` and `afterCommit` wait for the batch holding the newest write.
 *
 * Failures. A batch that failed for a reason that can pass (the server is restarting or unreachable,
 * a connection dropped, a deadlock, a serialization failure) is committed again, the same writes in
 * the same order, after a backoff, until it succeeds: meanwhile nothing waiting on it is released,
 * so no device is acknowledged and no agency is told of a change that is not stored, and the
 * writes made meanwhile wait in the next batch (bounded: `saturated` tells the ingest and the HTTP
 * changes to refuse new work). A batch the database refused for good (a constraint, a bug) is
 * dropped whole: its waiters get a StoreUnavailableError and its `afterCommit` callbacks never run,
 * so devices are not acknowledged and resend; it is logged and counted, never retried forever.
 *
 * While idle, a probe every `probeMs` notices an unreachable server before a write does, so that
 * `/readyz` says so and acknowledgements wait for it to come back.
 *
 * A commit whose answer was lost (the connection dropped after the server committed) must not be
 * applied twice by its retry: each batch first inserts its own id into `store_commits`, so a retry
 * that finds the id there knows the batch is in, and rolls back instead of repeating it. The
 * results its writes reported (the cursors the database gave) are those of the attempt that
 * committed: that attempt ran every write before sending COMMIT.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { backoffDelay, type BackoffOptions } from '../backoff.js';
import { StoreConflictError, StoreUnavailableError, type WriteResult } from './store.js';

interface Write { sql: string; params: unknown[]; then?: ((r: WriteResult) => void) | undefined }

interface Batch {
  /** Set at its first attempt: the row it leaves in `store_commits`. */
  id?: string;
  writes: Write[];
  after: Array<() => void>;
  waiters: Array<{ resolve: () => void; reject: (err: Error) => void }>;
}

export interface WriteBehindOptions {
  /** More writes than this waiting: `saturated`. */
  maxPendingWrites: number;
  backoff: BackoffOptions;
  /** How often an idle node checks the server is there. */
  probeMs: number;
  onError: (err: unknown, what: string) => void;
  /** Each commit that succeeded: its writes and how long it took. */
  onCommit?: (writes: number, seconds: number) => void;
  /** Each failed attempt: whether it will be retried. */
  onFailure?: (transient: boolean) => void;
  /** A batch refused for good, after its waiters were failed. */
  onRefused?: () => void;
}

const newBatch = (): Batch => ({ writes: [], after: [], waiters: [] });

/** Failures worth committing the same batch again for: the connection, the server's state, a conflict of timing. */
export function isTransient(err: unknown): boolean {
  if (err instanceof StoreConflictError) return false;
  const code = (err as { code?: unknown } | null)?.code;
  // no SQLSTATE: a network error (ECONNREFUSED, ECONNRESET) or the driver's own ("Connection terminated")
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') // connection exception
    || code.startsWith('53') // insufficient resources
    || code === '57P01' || code === '57P02' || code === '57P03' // shutdown, crash, starting up
    || code === '40001' || code === '40P01' // serialization failure, deadlock
    || code === '55P03'; // lock not available
}

/** The table every batch marks itself in (created by `openPostgresDatabase`'s migration). */
export const COMMIT_MARKS_MIGRATION = 'CREATE TABLE store_commits (id TEXT PRIMARY KEY, at BIGINT NOT NULL)';
/** Marks older than this are deleted (a retry comes within seconds, at most minutes, of its attempt). */
const MARK_RETENTION_MS = 24 * 3_600_000;

export class WriteBehind {
  private readonly tag = randomUUID();
  private batches = 0;
  private open = newBatch();
  private inFlight: Batch | null = null;
  private scheduled = false;
  private attempts = 0;
  private failing = false;
  private lastError: string | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private lastActivity = Date.now();
  /** Waiting for the server to come back while nothing is pending (see `durable`). */
  private recovered: Array<() => void> = [];
  private idle: Array<() => void> = [];

  constructor(private readonly pool: pg.Pool, private readonly opts: WriteBehindOptions) {
    this.probeTimer = setInterval(() => void this.probe(), opts.probeMs);
    this.probeTimer.unref();
  }

  get pendingWrites(): number { return this.open.writes.length + (this.inFlight?.writes.length ?? 0); }
  get ok(): boolean { return !this.failing; }
  get error(): string | undefined { return this.failing ? this.lastError : undefined; }
  get saturated(): boolean { return this.pendingWrites >= this.opts.maxPendingWrites; }

  write(sql: string, params: unknown[], then?: (r: WriteResult) => void): void {
    if (this.closed) throw new StoreUnavailableError('the store is closed');
    this.open.writes.push({ sql, params, then });
    if (!this.scheduled && this.inFlight === null) {
      this.scheduled = true;
      // the rest of this turn's writes join the same commit
      setImmediate(() => { this.scheduled = false; this.next(); });
    }
  }

  /** Where the open batch stands, to take back what a failed unit added (`truncate`). */
  mark(): { writes: number; after: number } { return { writes: this.open.writes.length, after: this.open.after.length }; }

  truncate(m: { writes: number; after: number }): void {
    this.open.writes.length = m.writes;
    this.open.after.length = m.after;
  }

  /** The batch that holds the newest write, if it is not committed yet. */
  private newest(): Batch | null {
    return this.open.writes.length > 0 ? this.open : this.inFlight;
  }

  afterCommit(fn: () => void): void {
    const b = this.newest();
    if (b) b.after.push(fn);
    else fn();
  }

  durable(): Promise<void> | undefined {
    const b = this.newest();
    if (b) return new Promise((resolve, reject) => b.waiters.push({ resolve, reject }));
    // nothing pending, but the server is away: what the caller wants to confirm could not be
    // written now either, so it waits for the server to be back
    if (this.failing) return new Promise((resolve) => this.recovered.push(resolve));
    return undefined;
  }

  private next(): void {
    if (this.inFlight !== null || this.open.writes.length === 0) {
      if (this.inFlight === null) this.settleIdle();
      return;
    }
    this.inFlight = this.open;
    this.open = newBatch();
    void this.commit(this.inFlight);
  }

  private async commit(batch: Batch): Promise<void> {
    const started = performance.now();
    try {
      await this.execute(batch);
    } catch (err) {
      const transient = isTransient(err) && !this.closed;
      this.opts.onFailure?.(transient);
      this.lastError = err instanceof Error ? err.message : String(err);
      if (transient) {
        this.setFailing(true);
        this.attempts++;
        this.opts.onError(err, `store commit failed (attempt ${this.attempts}); retrying the same ${batch.writes.length} writes`);
        this.retryTimer = setTimeout(() => void this.commit(batch), backoffDelay(this.attempts, this.opts.backoff));
        return;
      }
      this.opts.onError(err, `store commit refused; ${batch.writes.length} writes dropped, their messages not acknowledged`);
      const failure = new StoreUnavailableError(`the store refused a commit: ${this.lastError}`, { cause: err });
      for (const w of batch.waiters) w.reject(failure);
      this.inFlight = null;
      this.attempts = 0;
      this.opts.onRefused?.();
      this.next();
      return;
    }
    this.lastActivity = Date.now();
    this.attempts = 0;
    this.setFailing(false);
    this.opts.onCommit?.(batch.writes.length, (performance.now() - started) / 1000);
    this.inFlight = null;
    for (const fn of batch.after) {
      try { fn(); } catch (err) { this.opts.onError(err, 'after-commit callback failed'); }
    }
    for (const w of batch.waiters) w.resolve();
    this.next();
  }

  private async execute(batch: Batch): Promise<void> {
    const client = await this.pool.connect();
    let broken = false;
    // a connection the server ends between two queries says so here (unheard, it would end the process); the next query fails
    const dropped = () => { broken = true; };
    client.on('error', dropped);
    try {
      await client.query('BEGIN');
      const retry = batch.id !== undefined;
      batch.id ??= `${this.tag}:${++this.batches}`;
      try {
        await client.query('INSERT INTO store_commits (id, at) VALUES ($1, $2)', [batch.id, Date.now()]);
      } catch (err) {
        if (retry && (err as { code?: string }).code === '23505') {
          // the earlier attempt committed; its answer was lost
          await client.query('ROLLBACK');
          this.opts.onError(err, `store commit ${batch.id} had committed before its answer was lost; not repeated`);
          return;
        }
        throw err;
      }
      for (const w of batch.writes) {
        const r = await client.query(w.sql, w.params);
        w.then?.({ changes: r.rowCount ?? 0, rows: r.rows });
      }
      // now and then, the marks no retry can need any more
      if (this.batches % 1000 === 0) await client.query('DELETE FROM store_commits WHERE at < $1', [Date.now() - MARK_RETENTION_MS]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => { broken = true; });
      throw err;
    } finally {
      client.off('error', dropped);
      // a connection that could not even roll back is not given back to the pool
      client.release(broken);
    }
  }

  private setFailing(failing: boolean): void {
    if (this.failing === failing) return;
    this.failing = failing;
    if (!failing) {
      const waiting = this.recovered;
      this.recovered = [];
      for (const r of waiting) r();
    }
  }

  private async probe(): Promise<void> {
    if (this.closed || this.inFlight !== null || Date.now() - this.lastActivity < this.opts.probeMs) return;
    try {
      await this.pool.query('SELECT 1');
      this.lastActivity = Date.now();
      this.setFailing(false);
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      if (!this.failing) this.opts.onError(err, 'the store is unreachable');
      this.setFailing(true);
    }
  }

  private settleIdle(): void {
    const waiting = this.idle;
    this.idle = [];
    for (const r of waiting) r();
  }

  /** Commits what is pending (for at most `timeoutMs`), then stops. */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    if (this.pendingWrites > 0 && !this.failing) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idle.push(resolve)),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
      ]);
      clearTimeout(timer);
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pendingWrites > 0) this.opts.onError(new StoreUnavailableError('closed'), `store closed with ${this.pendingWrites} writes not committed`);
  }
}
