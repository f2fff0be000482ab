/**
 * The loop that moves batches from the spool to the sink, with retries and outage accounting.
 *
 * It sends a batch when `batchSize` lines or `batchBytes` bytes are pending, or when the oldest
 * pending point has waited `flushIntervalMs`, and commits the spool cursor on success. On failure it
 * retries the same lines with the core backoff (honouring Retry-After), forever: the spool on disk
 * is the buffer, and its cap is the only place points are given up for an outage. Delivery is
 * at-least-once; a replayed batch overwrites identical points, so duplicates are harmless.
 *
 * What the backend's answers mean (decided by the error code, not by messages):
 * - 2xx: written.
 * - "partial write" (1.x: 400, 2.x: 422 or 400, "... dropped=N"): written except N points, which
 *   are counted as dropped with reason `rejected_by_backend`. Limitation: when one 1.x request has
 *   both a field-type conflict and an unparseable line, InfluxDB 1.6 reports only the conflict
 *   (seen with 1.6.7), so the unparseable lines are written off uncounted. Our lines come from
 *   validated schemas, so unparseable lines should not occur in practice.
 * - another 4xx (400 bad line protocol, 413 too large, 422): the batch itself is bad. It is split in
 *   halves and retried to isolate the bad lines (bounded: at most BISECT_BUDGET extra requests per
 *   batch), the rest is written, the bad points are logged and counted as `rejected_by_backend`,
 *   and the queue moves on: one poison line cannot block it, nor take 4,999 good points with it.
 * - 401 / 403 and 404 (database / bucket not found) are permanent refusals in HTTP terms, but NOT
 *   bad batches: they are configuration problems that would reject every batch, so dropping data
 *   for them would empty the buffer into the void. They are retried like an outage (1.x: the
 *   database is re-created).
 * - 408, 429, 5xx, network errors, timeouts: retried.
 */
import { setMaxListeners } from 'node:events';
import { Backoff } from '../../../core/backoff.js';
import type { Logger } from '../../../core/log.js';
import { Wakeable } from '../../../core/wakeable.js';
import { LineBatches, splitHalf } from './batches.js';
import { TS_ERRORS, TimeSeriesError, networkError, truncate, type TimeSeriesSink } from './sink.js';

/** At most this many extra requests per batch to isolate rejected lines; past it whole halves are dropped. */
export const BISECT_BUDGET = 32;

export interface ForwarderMetrics {
  written: { inc(n: number): void };
  rejected: { inc(n: number): void };
  latency: { observe(s: number): void };
  errors: { inc(): void };
}

export interface ForwarderOptions {
  sink: TimeSeriesSink;
  batches: LineBatches;
  flushIntervalMs: number;
  retry: { initialDelayMs: number; maxDelayMs: number };
  log: Logger;
  metrics: ForwarderMetrics;
  /** Random source of the backoff jitter (tests). */
  random?: (() => number) | undefined;
  /** stop(): how long to try to flush while the backend is healthy, then how long to wait for the write in flight. */
  closeTimeoutMs: number;
}

interface FlushWaiter {
  target: number;
  resolve: (ok: boolean) => void;
  timer?: NodeJS.Timeout;
}

interface Delivered {
  written: number;
  dropped: number;
}

export class Forwarder {
  private readonly sink: TimeSeriesSink;
  private readonly batches: LineBatches;
  private readonly log: Logger;
  private readonly m: ForwarderMetrics;
  private readonly backoff: Backoff;
  /** Idle: waiting for data or the interval (appends may wake it). Backoff: waiting out a failure (they may not). */
  private readonly nap = new Wakeable<'idle' | 'backoff'>();
  private loop: Promise<void> | null = null;
  private ready = false;
  /** When the oldest pending point arrived (0 = send now). */
  private pendingSince = 0;
  private flushWaiters: FlushWaiter[] = [];
  private lastOk: boolean | undefined;
  private lastError: string | undefined;
  private inflightAbort: AbortController | null = null;

  constructor(private readonly opts: ForwarderOptions) {
    this.sink = opts.sink;
    this.batches = opts.batches;
    this.log = opts.log;
    this.m = opts.metrics;
    this.backoff = new Backoff({ initialDelayMs: opts.retry.initialDelayMs, maxDelayMs: opts.retry.maxDelayMs, random: opts.random });
  }

  /** The last attempt failed (and why); undefined before the first attempt. */
  get status(): { ok: boolean | undefined; error: string | undefined } {
    return { ok: this.lastOk, error: this.lastError };
  }

  /** One attempt to reach the backend now; when it is down the caller still starts and the loop keeps trying. */
  async start(): Promise<void> {
    const pending = this.batches.pending;
    await this.tryInit();
    this.pendingSince = pending > 0 ? 0 : Date.now();
    this.loop = this.run();
  }

  /** After an append: wakes an idle loop to start the interval clock, or to send a full batch now. */
  appended(wasEmpty: boolean): void {
    if (wasEmpty) this.pendingSince = Date.now();
    // A loop in backoff is not woken: appends must not defeat the backoff.
    if (this.nap.sleeping === 'idle' && (wasEmpty || this.batches.full)) this.nap.wake();
  }

  /**
   * Resolves true once every point appended before the call is written (or counted as dropped);
   * false after `timeoutMs`. It sends partial batches at once and, if the loop is waiting out a
   * backoff (even a server's Retry-After), retries once right away: an explicit flush (shutdown,
   * tests) is worth one early attempt.
   */
  flush(timeoutMs?: number): Promise<boolean> {
    const target = this.batches.appended;
    if (this.batches.done >= target) return Promise.resolve(true);
    if (!this.loop || this.nap.closed) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: FlushWaiter = { target, resolve };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.flushWaiters = this.flushWaiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs);
      }
      this.flushWaiters.push(waiter);
      this.nap.wake();
    });
  }

  /** Flushes while the backend is healthy (bounded), then ends the loop; unsent lines stay in the spool. */
  async stop(): Promise<void> {
    const { closeTimeoutMs } = this.opts;
    if (this.loop) {
      if (this.ready && this.lastOk !== false && this.batches.pending > 0) await this.flush(closeTimeoutMs);
      this.nap.close();
      // Wait for the write in flight; past the grace period abort it (its lines stay in the spool).
      const timer = setTimeout(() => this.inflightAbort?.abort(), closeTimeoutMs);
      await this.loop;
      clearTimeout(timer);
    }
    for (const w of this.flushWaiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.flushWaiters = [];
  }

  private async run(): Promise<void> {
    while (!this.nap.closed) {
      try {
        if (!this.ready && !(await this.tryInit())) {
          await this.nap.sleep(this.backoff.next(), 'backoff');
          continue;
        }
        if (this.batches.pending === 0) {
          this.settleFlushWaiters();
          await this.nap.sleep(Infinity, 'idle');
          continue;
        }
        if (this.flushWaiters.length === 0 && !this.batches.full) {
          const wait = this.pendingSince + this.opts.flushIntervalMs - Date.now();
          if (wait > 0) {
            await this.nap.sleep(wait, 'idle');
            continue;
          }
        }
        await this.sendOne();
      } catch (err) {
        // A bug or a disk error must not kill the loop silently: log, back off, go on.
        this.log.error({ err: (err as Error).message }, 'time-series forwarder error');
        await this.nap.sleep(this.backoff.next(), 'backoff');
      }
    }
  }

  private async sendOne(): Promise<void> {
    const batch = this.batches.read();
    if (!batch) {
      this.settleFlushWaiters();
      return;
    }
    const tookAll = batch.lines >= this.batches.pending;
    const readAt = Date.now();
    const abort = new AbortController();
    // One signal serves the batch and its split halves; the 2.x transport never removes its listener.
    setMaxListeners(BISECT_BUDGET + 2, abort.signal);
    this.inflightAbort = abort;
    const started = performance.now();
    try {
      const result = await this.deliver(batch.text, batch.lines, abort.signal, { left: BISECT_BUDGET }, true);
      this.m.latency.observe((performance.now() - started) / 1000);
      this.batches.commit(batch.next);
      if (result.written > 0) this.m.written.inc(result.written);
      if (result.dropped > 0) this.m.rejected.inc(result.dropped);
      if (this.lastOk === false) this.log.info({ pendingPoints: this.batches.pending }, 'time-series backend reachable again; draining the outage buffer');
      this.lastOk = true;
      this.lastError = undefined;
      this.backoff.reset();
      // What is left was appended after this batch was read, unless the batch was cut by size (a backlog: go on now).
      this.pendingSince = tookAll ? readAt : 0;
    } catch (err) {
      const lost = this.batches.release();
      // Sinks only throw TimeSeriesError; anything else is local (the spool's disk).
      const e = err instanceof TimeSeriesError ? err : new TimeSeriesError(TS_ERRORS.UNAVAILABLE, `local error: ${(err as Error).message}`);
      this.m.errors.inc();
      const repeated = this.lastError === e.message;
      this.lastOk = false;
      this.lastError = e.message;
      if (e.code === TS_ERRORS.NOT_FOUND) this.ready = false; // 1.x: create the database again
      const delay = this.backoff.next(e.retryAfterMs);
      const attempt = this.backoff.attempts;
      const fields = { code: e.code, status: e.status, err: e.message, attempt, retryInMs: delay, pendingPoints: this.batches.pending, lostToCap: lost || undefined };
      // An outage can last hours: warn on the first failure, on a new error, and every 10th attempt.
      if (e.code === TS_ERRORS.AUTH) this.log.error(fields, 'time-series write refused: check the InfluxDB credentials; will retry');
      else if (!repeated || attempt === 1 || attempt % 10 === 0) this.log.warn(fields, 'time-series write failed; will retry');
      else this.log.debug(fields, 'time-series write failed; will retry');
      await this.nap.sleep(delay, 'backoff');
    } finally {
      this.inflightAbort = null;
      this.settleFlushWaiters();
    }
  }

  /**
   * Writes lines; a rejected batch is split in halves to isolate the bad lines (within `budget`
   * extra requests). Retryable errors propagate: the whole batch is retried later.
   */
  private async deliver(text: string, lines: number, signal: AbortSignal, budget: { left: number }, top: boolean): Promise<Delivered> {
    try {
      const r = await this.sink.write(text, lines, signal);
      if (r.dropped > 0) this.log.warn({ lines, dropped: r.dropped, detail: r.detail }, 'backend dropped points of a batch (partial write)');
      return { written: lines - r.dropped, dropped: r.dropped };
    } catch (err) {
      if (!(err instanceof TimeSeriesError) || err.code !== TS_ERRORS.REJECTED) throw err;
      if (lines > 1 && budget.left >= 2) {
        if (top) this.log.warn({ lines, status: err.status, err: err.message }, 'backend rejected a batch; splitting it to isolate the bad points');
        budget.left -= 2;
        const [a, aLines, b, bLines] = splitHalf(text, lines);
        const ra = await this.deliver(a, aLines, signal, budget, false);
        const rb = await this.deliver(b, bLines, signal, budget, false);
        return { written: ra.written + rb.written, dropped: ra.dropped + rb.dropped };
      }
      this.log.error({ lines, status: err.status, err: err.message, firstLine: truncate(text.slice(0, text.indexOf('\n')), 300) },
        'backend rejected points; they are dropped (rejected_by_backend)');
      return { written: 0, dropped: lines };
    }
  }

  private async tryInit(): Promise<boolean> {
    try {
      await this.sink.init();
      this.ready = true;
      return true;
    } catch (err) {
      const e = err instanceof TimeSeriesError ? err : networkError(err);
      if (this.lastError !== e.message) this.log.warn({ code: e.code, err: e.message }, 'time-series backend not ready; buffering on disk and retrying');
      this.lastOk = false;
      this.lastError = e.message;
      return false;
    }
  }

  private settleFlushWaiters(): void {
    if (this.flushWaiters.length === 0) return;
    const done = this.batches.done;
    const still: FlushWaiter[] = [];
    for (const w of this.flushWaiters) {
      if (w.target <= done) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else {
        still.push(w);
      }
    }
    this.flushWaiters = still;
  }
}
