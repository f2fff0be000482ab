/**
 * The InfluxDB time-series writer, for 1.x (through `influx`) and 2.x / 1.8+ (through
 * `@influxdata/influxdb-client`). Only a small "sink" differs per version (post raw line protocol,
 * query, ping); everything else is shared:
 *
 *   append(points) ──► Spool (on disk, durable when append returns) ──► forwarder loop ──► sink
 *
 * The forwarder reads a batch from the spool when `batchSize` lines or `batchBytes` bytes are
 * pending, or when the oldest pending point has waited `flushIntervalMs`; it writes it and commits
 * the spool cursor on success. On failure it retries the same lines with exponential backoff and
 * full jitter (honouring Retry-After), forever: the spool on disk is the buffer, and its cap (the
 * oldest segments are dropped, counted as `buffer_cap`) is the only place points are given up for
 * an outage. Delivery is at-least-once; a replayed batch overwrites identical points (same
 * measurement, tags and timestamp), so duplicates are harmless.
 *
 * What the backend's answers mean (retry decisions come from the error code, not from messages):
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
 * - 401 / 403 and 404 (database / bucket not found) are NOT treated as bad batches: they are
 *   configuration problems that would reject every batch, so dropping data for them would empty
 *   the buffer into the void. They are retried like an outage (1.x: the database is re-created).
 * - 408, 429, 5xx, network errors, timeouts: retried.
 */
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { InfluxDB as Influx1Client } from 'influx';
import { Pool, RequestError } from 'influx/lib/src/pool.js';
import { InfluxDB as Influx2Client, HttpError, flux, fluxDateTime, fluxExpression, type FluxTableMetaData, type Transport } from '@influxdata/influxdb-client';
import type { InfluxSettings, TimeseriesSettings } from '../config.js';
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import { toLine, type Point } from '../points.js';
import { Backoff, parseRetryAfter } from '../../core/backoff.js';
import { Spool } from './spool.js';
import type { TelemetryQuery, TelemetryRow, TimeSeriesWriter, WriterHealth } from './writer.js';

export type InfluxBackend = 'influx1' | 'influx2';

/** Error codes of the time-series backends. `retryable` is decided by the code. */
export const TS_ERRORS = {
  /** Network error, timeout, 408, 429, 5xx: the backend is (temporarily) not there. */
  UNAVAILABLE: 'INGEST_TS_UNAVAILABLE',
  /** 401 / 403: credentials are wrong; retried, never a reason to drop data. */
  AUTH: 'INGEST_TS_AUTH',
  /** 404: database or bucket missing; retried (1.x re-creates the database). */
  NOT_FOUND: 'INGEST_TS_NOT_FOUND',
  /** Another 4xx: the batch is bad; isolated and dropped (`rejected_by_backend`). */
  REJECTED: 'INGEST_TS_REJECTED',
  /** A query with invalid input (field name, measurement, range, limit). */
  BAD_QUERY: 'INGEST_TS_BAD_QUERY',
} as const;
export type TsErrorCode = (typeof TS_ERRORS)[keyof typeof TS_ERRORS];

export class TimeSeriesError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly code: TsErrorCode,
    message: string,
    readonly status?: number,
    /** From the server's Retry-After, in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TimeSeriesError';
    this.retryable = code === TS_ERRORS.UNAVAILABLE || code === TS_ERRORS.AUTH || code === TS_ERRORS.NOT_FOUND;
  }
}

/** How a batch write ended when the backend accepted it (possibly partly). */
export interface SinkWriteResult {
  /** Points the backend refused although it took the request (partial write). */
  dropped: number;
  /** The backend's explanation of the drops. */
  detail?: string;
}

/** The version-specific part: raw line protocol in, rows out. Throws TimeSeriesError. */
export interface TimeSeriesSink {
  readonly backend: InfluxBackend;
  /** Prepares the backend (1.x: create the database if missing). Throws when unreachable. */
  init(): Promise<void>;
  /** Posts newline-separated line protocol with ms timestamps. */
  write(body: string, lines: number, signal?: AbortSignal): Promise<SinkWriteResult>;
  query(q: TelemetryQuery): Promise<TelemetryRow[]>;
  ping(): Promise<boolean>;
}

/** At most this many extra requests per batch to isolate rejected lines; past it whole halves are dropped. */
export const BISECT_BUDGET = 32;
const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ERROR_TEXT_MAX = 500;

function truncate(s: string, max = ERROR_TEXT_MAX): string {
  return s.length > max ? s.slice(0, max) + '…' : s;
}

/** A URL for logs: without user:password. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}

/**
 * InfluxDB's "partial write" answer (1.x: `partial write: <reason> dropped=N`; unparseable lines are
 * listed as `unable to parse '...'` and not included in N). Undefined when it is not one.
 */
export function parsePartialWrite(message: string, lines: number): SinkWriteResult | undefined {
  if (!/partial write/i.test(message)) return undefined;
  let dropped = 0;
  for (const m of message.matchAll(/dropped=(\d+)/g)) dropped += Number(m[1]);
  dropped += (message.match(/unable to parse/g) ?? []).length;
  return { dropped: Math.min(lines, dropped), detail: truncate(message) };
}

/** Maps an HTTP failure to a coded error (shared by both sinks). */
export function classifyHttpFailure(status: number, message: string, retryAfterMs?: number): TimeSeriesError {
  const text = truncate(message);
  if (status === 401 || status === 403) return new TimeSeriesError(TS_ERRORS.AUTH, `authentication failed (${status}): ${text}`, status);
  if (status === 404) return new TimeSeriesError(TS_ERRORS.NOT_FOUND, `not found (${status}): ${text}`, status);
  if (status === 408 || status === 429 || status >= 500) return new TimeSeriesError(TS_ERRORS.UNAVAILABLE, `backend unavailable (${status}): ${text}`, status, retryAfterMs);
  if (status >= 400) return new TimeSeriesError(TS_ERRORS.REJECTED, `rejected (${status}): ${text}`, status);
  return new TimeSeriesError(TS_ERRORS.UNAVAILABLE, `unexpected status ${status}: ${text}`, status);
}

function networkError(err: unknown): TimeSeriesError {
  const e = err as { code?: string; message?: string; name?: string };
  const what = [e.code, e.message || e.name].filter(Boolean).join(' ');
  return new TimeSeriesError(TS_ERRORS.UNAVAILABLE, `backend unreachable: ${truncate(what || String(err))}`);
}

// --- query input ---------------------------------------------------------------------------

function badQuery(message: string): TimeSeriesError {
  return new TimeSeriesError(TS_ERRORS.BAD_QUERY, message, 400);
}

/** Checks a query before any of it is put into InfluxQL or Flux text. Returns the field list (undefined = all). */
export function validateQuery(q: TelemetryQuery): string[] | undefined {
  if (typeof q.measurement !== 'string' || !IDENT_RE.test(q.measurement)) throw badQuery(`invalid measurement: ${JSON.stringify(q.measurement)}`);
  if (typeof q.deviceId !== 'string' || q.deviceId.length === 0) throw badQuery('deviceId is required');
  // 8.64e15 ms is the range of a JS Date (the Flux query renders RFC 3339 times).
  if (!Number.isSafeInteger(q.from) || !Number.isSafeInteger(q.to) || Math.abs(q.from) > 8.64e15 || Math.abs(q.to) >= 8.64e15) {
    throw badQuery('from and to must be integer epoch milliseconds');
  }
  if (q.from > q.to) throw badQuery('from must not be after to');
  if (!Number.isSafeInteger(q.limit) || q.limit < 1) throw badQuery('limit must be a positive integer');
  if (q.fields === undefined || q.fields.length === 0) return undefined;
  for (const f of q.fields) {
    if (typeof f !== 'string' || !IDENT_RE.test(f)) throw badQuery(`invalid field name: ${JSON.stringify(f)}`);
  }
  return [...new Set(q.fields)];
}

/** An InfluxQL string literal: backslash and quote escaped (the `influx` package escapes only the quote). */
function influxqlString(s: string): string {
  return "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'";
}

/** Events carry their `type` as a tag; return it like the embedded store does. */
function isEventMeasurement(m: string): boolean {
  return m.endsWith('_event');
}

/** The InfluxQL of a telemetry query (1.x). Validates first. */
export function buildInfluxQL(q: TelemetryQuery): string {
  const fields = validateQuery(q);
  const select = fields
    ? fields.map((f) => `"${f}"`).join(', ')
    : isEventMeasurement(q.measurement) ? '*::field, "type"' : '*::field';
  return `SELECT ${select} FROM "${q.measurement}" WHERE "device" = ${influxqlString(q.deviceId)}`
    + ` AND time >= ${q.from}ms AND time <= ${q.to}ms ORDER BY time ASC LIMIT ${q.limit}`;
}

/** The Flux of a telemetry query (2.x). Validates first; strings go through the client's `flux` escaping. */
export function buildFlux(q: TelemetryQuery, bucket: string): string {
  const fields = validateQuery(q);
  // range() excludes its stop; +1 ms makes `to` inclusive (timestamps are whole milliseconds).
  const start = fluxDateTime(new Date(q.from).toISOString());
  const stop = fluxDateTime(new Date(q.to + 1).toISOString());
  const fieldFilter = fields
    ? fluxExpression(' and (' + fields.map((f) => `r._field == "${f}"`).join(' or ') + ')')
    : fluxExpression('');
  // pivot() turns one row per field into one row per timestamp; sort/limit apply per series
  // (tag set), the rows of several series are merged and cut to `limit` in mapFluxRows.
  return flux`from(bucket: ${bucket})
  |> range(start: ${start}, stop: ${stop})
  |> filter(fn: (r) => r._measurement == ${q.measurement} and r.device == ${q.deviceId}${fieldFilter})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> sort(columns: ["_time"])
  |> limit(n: ${q.limit})`.toString();
}

const FLUX_SYSTEM_COLUMNS = new Set(['result', 'table', '_start', '_stop', '_time', '_measurement']);

/** One Flux result row to a TelemetryRow: `_time` → ts, tag (group-key) columns left out, except an event's `type`. */
function fluxRow(values: string[], meta: FluxTableMetaData, keepType: boolean): TelemetryRow | undefined {
  const time = meta.get(values, '_time') as unknown;
  const ts = typeof time === 'number' ? time : Date.parse(String(time));
  if (Number.isNaN(ts)) return undefined;
  const row: TelemetryRow = { ts };
  for (const col of meta.columns) {
    if (FLUX_SYSTEM_COLUMNS.has(col.label)) continue;
    if (col.group && !(keepType && col.label === 'type')) continue;
    const v = col.get(values) as unknown;
    row[col.label] = v === undefined ? null : (v as TelemetryRow[string]);
  }
  return row;
}

// --- InfluxDB 1.x --------------------------------------------------------------------------

/** The `influx` pool disables a host after a failure for a backoff period; we retry ourselves, so never disable. */
const NEVER_DISABLE = { getDelay: () => 0, next() { return NEVER_DISABLE; }, reset() { return NEVER_DISABLE; } };

export interface Influx1SinkOptions {
  url: string;
  database: string;
  username?: string;
  password?: string;
  requestTimeoutMs?: number;
}

export class Influx1Sink implements TimeSeriesSink {
  readonly backend = 'influx1' as const;
  private readonly client: Influx1Client;
  /**
   * The `influx` client's own HTTP pool, used directly for writes: `writePoints` would re-encode
   * points we already hold as line protocol. Same transport, auth and error types as the client.
   */
  private readonly pool: Pool;
  private readonly auth: string | undefined;
  private readonly database: string;

  constructor(opts: Influx1SinkOptions) {
    const u = new URL(opts.url);
    const username = opts.username ?? (u.username ? decodeURIComponent(u.username) : undefined);
    const password = opts.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
    const protocol = u.protocol === 'https:' ? 'https' : 'http';
    const port = u.port ? Number(u.port) : protocol === 'https' ? 443 : 8086;
    const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
    const poolOptions = { maxRetries: 0, requestTimeout: opts.requestTimeoutMs ?? 30_000, backoff: NEVER_DISABLE };
    this.database = opts.database;
    this.client = new Influx1Client({ host: u.hostname, port, protocol, path, database: opts.database, username, password, pool: poolOptions });
    this.pool = new Pool(poolOptions);
    this.pool.addHost(`${protocol}://${u.hostname}:${port}${path}`);
    this.auth = username !== undefined ? `${username}:${password ?? ''}` : undefined;
  }

  async init(): Promise<void> {
    let names: string[];
    try {
      names = await this.client.getDatabaseNames();
    } catch (err) {
      throw this.toError(err);
    }
    if (names.includes(this.database)) return;
    try {
      await this.client.createDatabase(this.database);
    } catch (err) {
      const e = this.toError(err);
      // A non-admin user may not create databases; the writes will tell whether it exists.
      if (e.code !== TS_ERRORS.AUTH && e.code !== TS_ERRORS.REJECTED) throw e;
    }
  }

  async write(body: string, lines: number, signal?: AbortSignal): Promise<SinkWriteResult> {
    try {
      await this.pool.discard({ method: 'POST', path: '/write', query: { db: this.database, precision: 'ns' }, body, auth: this.auth, signal });
      return { dropped: 0 };
    } catch (err) {
      if (err instanceof RequestError) {
        const partial = parsePartialWrite(err.message, lines);
        if (partial && err.res.statusCode === 400) return partial;
      }
      throw this.toError(err);
    }
  }

  async query(q: TelemetryQuery): Promise<TelemetryRow[]> {
    const ql = buildInfluxQL(q);
    let rows: Array<Record<string, unknown>>;
    try {
      rows = await this.client.query<Record<string, unknown>>(ql, { database: this.database, precision: 'ms' });
    } catch (err) {
      throw this.toError(err);
    }
    const out: TelemetryRow[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      const row: TelemetryRow = { ts: (r.time as Date).getTime() };
      for (const key in r) {
        if (key !== 'time') row[key] = (r[key] ?? null) as TelemetryRow[string];
      }
      out[i] = row;
    }
    return out;
  }

  async ping(): Promise<boolean> {
    const hosts = await this.client.ping(2000);
    return hosts.some((h) => h.online);
  }

  private toError(err: unknown): TimeSeriesError {
    if (err instanceof TimeSeriesError) return err;
    if (err instanceof RequestError) {
      const status = err.res.statusCode ?? 0;
      return classifyHttpFailure(status, err.message, parseRetryAfter(err.res.headers['retry-after']));
    }
    // ServiceNotAvailableError (5xx, timeouts), ECONNREFUSED & co., aborts.
    return networkError(err);
  }
}

// --- InfluxDB 2.x / 1.8+ -------------------------------------------------------------------

export interface Influx2SinkOptions {
  url: string;
  /** 2.x API token; for 1.8 `username:password`. */
  token?: string;
  /** 1.8 ignores the organisation. */
  org: string;
  /** 1.8: `database/retention-policy` or `database`. */
  bucket: string;
  requestTimeoutMs?: number;
}

export class Influx2Sink implements TimeSeriesSink {
  readonly backend = 'influx2' as const;
  private readonly client: Influx2Client;
  /**
   * The client's transport, used directly: its WriteApi is fire-and-forget with an in-memory,
   * lossy retry buffer (and logs to the console); we need "did this exact batch land?" to commit
   * the spool, and our own retry.
   */
  private readonly transport: Transport;
  private readonly writePath: string;

  constructor(private readonly opts: Influx2SinkOptions) {
    this.client = new Influx2Client({ url: opts.url, token: opts.token, timeout: opts.requestTimeoutMs ?? 30_000 });
    this.transport = this.client.transport;
    this.writePath = `/api/v2/write?org=${encodeURIComponent(opts.org)}&bucket=${encodeURIComponent(opts.bucket)}&precision=ns`;
  }

  async init(): Promise<void> {
    // The bucket must exist (creating one needs the org id and an all-access token); a missing
    // bucket shows up as NOT_FOUND on write and is retried.
    if (!(await this.ping())) throw new TimeSeriesError(TS_ERRORS.UNAVAILABLE, 'backend unreachable: /ping failed');
  }

  async write(body: string, lines: number, signal?: AbortSignal): Promise<SinkWriteResult> {
    try {
      await this.transport.request(this.writePath, body, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        // Same threshold as the client's WriteApi: line protocol compresses ~10x.
        gzipThreshold: 1000,
        signal,
      });
      return { dropped: 0 };
    } catch (err) {
      if (err instanceof HttpError) {
        const message = err.body || err.message;
        const partial = parsePartialWrite(message, lines);
        if (partial && (err.statusCode === 422 || err.statusCode === 400)) return partial;
        const retryAfter = err.headers?.['retry-after'];
        throw classifyHttpFailure(err.statusCode, message, parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter));
      }
      throw networkError(err);
    }
  }

  async query(q: TelemetryQuery): Promise<TelemetryRow[]> {
    const text = buildFlux(q, this.opts.bucket);
    const keepType = isEventMeasurement(q.measurement);
    let rows: TelemetryRow[];
    try {
      rows = await this.client.getQueryApi(this.opts.org).collectRows(text, (values, meta) => fluxRow(values, meta, keepType));
    } catch (err) {
      if (err instanceof HttpError) throw classifyHttpFailure(err.statusCode, err.body || err.message);
      throw networkError(err);
    }
    // Several series (tag sets) come as separate tables: merge them in time order.
    rows.sort((a, b) => a.ts - b.ts);
    return rows.length > q.limit ? rows.slice(0, q.limit) : rows;
  }

  /** True when the server answers at all: an HTTP error status still means it is reachable. */
  async ping(): Promise<boolean> {
    try {
      await this.transport.request('/ping', '', { method: 'GET' });
      return true;
    } catch (err) {
      return err instanceof HttpError;
    }
  }
}

/** Builds the sink for `config.influx` (url required). */
export function createSink(influx: InfluxSettings, requestTimeoutMs?: number): TimeSeriesSink {
  if (!influx.url) throw new Error('influx.url is not set');
  if (influx.version === '2') {
    const token = influx.token ?? (influx.username !== undefined ? `${influx.username}:${influx.password ?? ''}` : undefined);
    return new Influx2Sink({ url: influx.url, token, org: influx.org ?? '', bucket: influx.bucket || influx.database, requestTimeoutMs });
  }
  return new Influx1Sink({ url: influx.url, database: influx.database, username: influx.username, password: influx.password, requestTimeoutMs });
}

// --- the writer (shared forwarder) ---------------------------------------------------------

export interface InfluxWriterConfig {
  dataDir: string;
  influx: InfluxSettings;
  timeseries: Pick<TimeseriesSettings, 'batchSize' | 'batchBytes' | 'flushIntervalMs' | 'bufferMaxBytes' | 'bufferSegmentBytes' | 'retry'>;
}

export interface InfluxWriterOptions {
  config: InfluxWriterConfig;
  log: Logger;
  metrics: Metrics;
  /** Replaces the sink built from `config.influx` (tests, other backends speaking line protocol). */
  sink?: TimeSeriesSink;
  /** fdatasync every append (survives an OS crash, not only a process crash). Default false. */
  fsync?: boolean;
  /** Random source of the backoff jitter (tests). */
  random?: () => number;
  /** close(): how long to try to flush while the backend is healthy, then how long to wait for the write in flight. Default 2000. */
  closeTimeoutMs?: number;
  /** Per-request timeout of the backend client. Default 30 s. */
  requestTimeoutMs?: number;
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

export class InfluxWriter implements TimeSeriesWriter {
  readonly backend: InfluxBackend;
  private readonly sink: TimeSeriesSink;
  private readonly spool: Spool;
  private readonly ts: InfluxWriterConfig['timeseries'];
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly closeTimeoutMs: number;
  private readonly m: {
    written: { inc(n: number): void };
    rejected: { inc(n: number): void };
    latency: { observe(s: number): void };
    errors: { inc(): void };
  };

  private loop: Promise<void> | null = null;
  private started = false;
  private stopping = false;
  private closed = false;
  private ready = false;
  /** Resolves the loop's current sleep early. */
  private wake: (() => void) | null = null;
  private sleeping: 'idle' | 'backoff' | null = null;
  /** When the oldest pending point arrived (0 = send now). */
  private pendingSince = 0;
  private flushWaiters: FlushWaiter[] = [];
  private lastOk: boolean | undefined;
  private lastError: string | undefined;
  private inflightAbort: AbortController | null = null;
  /** For the start-up log line only (credentials removed before logging). */
  private readonly targetUrl: string | undefined;

  constructor(opts: InfluxWriterOptions) {
    const { config } = opts;
    this.sink = opts.sink ?? createSink(config.influx, opts.requestTimeoutMs);
    this.targetUrl = opts.sink ? undefined : config.influx.url;
    this.backend = this.sink.backend;
    this.ts = config.timeseries;
    this.log = opts.log.child({ component: 'timeseries', backend: this.backend });
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 2000;
    this.backoff = new Backoff({ initialDelayMs: config.timeseries.retry.initialDelayMs, maxDelayMs: config.timeseries.retry.maxDelayMs, random: opts.random });
    this.spool = new Spool({
      dir: join(config.dataDir, 'spool'),
      maxBytes: config.timeseries.bufferMaxBytes,
      segmentBytes: config.timeseries.bufferSegmentBytes,
      fsync: opts.fsync,
      metrics: opts.metrics,
      log: this.log,
    });
    // Label children resolved once: append and the loop run often.
    this.m = {
      written: opts.metrics.pointsWritten.labels(this.backend),
      rejected: opts.metrics.pointsDropped.labels('rejected_by_backend'),
      latency: opts.metrics.writeLatency.labels(this.backend),
      errors: opts.metrics.writeErrors.labels(this.backend),
    };
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.spool.open();
    const pending = this.spool.pendingLines;
    if (pending > 0) this.log.info({ pendingPoints: pending }, 'replaying the outage buffer left by the previous run');
    if (this.targetUrl) this.log.info({ url: redactUrl(this.targetUrl) }, 'writing time series to InfluxDB');
    // One attempt now; when the backend is down the gateway still starts and the loop keeps trying.
    await this.tryInit();
    this.pendingSince = pending > 0 ? 0 : Date.now();
    this.loop = this.run();
  }

  append(points: readonly Point[]): void {
    if (points.length === 0) return;
    const lines = new Array<string>(points.length);
    for (let i = 0; i < points.length; i++) lines[i] = toLine(points[i]!);
    const before = this.spool.pendingLines;
    this.spool.append(lines);
    if (before === 0) this.pendingSince = Date.now();
    // Wake an idle loop to start the interval clock, or to send a full batch now. A loop in
    // backoff is not woken: appends must not defeat the backoff.
    if (this.sleeping === 'idle' && (before === 0 || this.batchDue())) this.wakeUp();
  }

  async query(q: TelemetryQuery): Promise<TelemetryRow[]> {
    return this.sink.query(q);
  }

  health(): WriterHealth {
    const room = this.spool.diskBytes < this.ts.bufferMaxBytes;
    const h: WriterHealth = { ok: this.lastOk !== false || room, backend: this.backend, pendingPoints: this.spool.pendingLines };
    if (this.lastOk === false && this.lastError) h.lastError = this.lastError;
    return h;
  }

  /**
   * Resolves true once every point appended before the call is written (or counted as dropped);
   * false after `timeoutMs`. It sends partial batches at once and, if the loop is waiting out a
   * backoff (even a server's Retry-After), retries once right away: an explicit flush (shutdown,
   * tests) is worth one early attempt.
   */
  flush(timeoutMs?: number): Promise<boolean> {
    const target = this.spool.appendedLines;
    if (this.doneLines() >= target) return Promise.resolve(true);
    if (!this.loop || this.stopping) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const waiter: FlushWaiter = { target, resolve };
      if (timeoutMs !== undefined) {
        waiter.timer = setTimeout(() => {
          this.flushWaiters = this.flushWaiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs);
      }
      this.flushWaiters.push(waiter);
      // An explicit flush sends partial batches now and cuts a backoff wait short (once).
      this.wakeUp();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.loop) {
      if (this.ready && this.lastOk !== false && this.spool.pendingLines > 0) await this.flush(this.closeTimeoutMs);
      this.stopping = true;
      this.wakeUp();
      // Wait for the write in flight; past the grace period abort it (its lines stay in the spool).
      const timer = setTimeout(() => this.inflightAbort?.abort(), this.closeTimeoutMs);
      await this.loop;
      clearTimeout(timer);
    }
    for (const w of this.flushWaiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.flushWaiters = [];
    const pending = this.spool.pendingLines;
    this.spool.close();
    if (pending > 0) this.log.info({ pendingPoints: pending }, 'time-series writer closed; pending points stay in the outage buffer for the next start');
  }

  // --- the forwarder ---

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        if (!this.ready && !(await this.tryInit())) {
          await this.sleep(this.backoff.next(), 'backoff');
          continue;
        }
        const pending = this.spool.pendingLines;
        if (pending === 0) {
          this.settleFlushWaiters();
          await this.sleep(Infinity, 'idle');
          continue;
        }
        if (this.flushWaiters.length === 0 && !this.batchDue()) {
          const wait = this.pendingSince + this.ts.flushIntervalMs - Date.now();
          if (wait > 0) {
            await this.sleep(wait, 'idle');
            continue;
          }
        }
        await this.sendOne();
      } catch (err) {
        // A bug or a disk error must not kill the loop silently: log, back off, go on.
        this.log.error({ err: (err as Error).message }, 'time-series forwarder error');
        await this.sleep(this.backoff.next(), 'backoff');
      }
    }
  }

  private async sendOne(): Promise<void> {
    const batch = this.spool.read(this.ts.batchSize, this.ts.batchBytes);
    if (!batch) {
      this.settleFlushWaiters();
      return;
    }
    const tookAll = batch.lines >= this.spool.pendingLines;
    const readAt = Date.now();
    const abort = new AbortController();
    // One signal serves the batch and its split halves; the 2.x transport never removes its listener.
    setMaxListeners(BISECT_BUDGET + 2, abort.signal);
    this.inflightAbort = abort;
    const started = performance.now();
    try {
      const result = await this.deliver(batch.text, batch.lines, abort.signal, { left: BISECT_BUDGET }, true);
      this.m.latency.observe((performance.now() - started) / 1000);
      this.spool.commit(batch.next);
      if (result.written > 0) this.m.written.inc(result.written);
      if (result.dropped > 0) this.m.rejected.inc(result.dropped);
      if (this.lastOk === false) this.log.info({ pendingPoints: this.spool.pendingLines }, 'time-series backend reachable again; draining the outage buffer');
      this.lastOk = true;
      this.lastError = undefined;
      this.backoff.reset();
      // What is left was appended after this batch was read, unless the batch was cut by size (a backlog: go on now).
      this.pendingSince = tookAll ? readAt : 0;
    } catch (err) {
      const lost = this.spool.release();
      // Sinks only throw TimeSeriesError; anything else is local (the spool's disk).
      const e = err instanceof TimeSeriesError ? err : new TimeSeriesError(TS_ERRORS.UNAVAILABLE, `local error: ${(err as Error).message}`);
      this.m.errors.inc();
      const repeated = this.lastError === e.message;
      this.lastOk = false;
      this.lastError = e.message;
      if (e.code === TS_ERRORS.NOT_FOUND) this.ready = false; // 1.x: create the database again
      const delay = this.backoff.next(e.retryAfterMs);
      const attempt = this.backoff.attempts;
      const fields = { code: e.code, status: e.status, err: e.message, attempt, retryInMs: delay, pendingPoints: this.spool.pendingLines, lostToCap: lost || undefined };
      // An outage can last hours: warn on the first failure, on a new error, and every 10th attempt.
      if (e.code === TS_ERRORS.AUTH) this.log.error(fields, 'time-series write refused: check the InfluxDB credentials; will retry');
      else if (!repeated || attempt === 1 || attempt % 10 === 0) this.log.warn(fields, 'time-series write failed; will retry');
      else this.log.debug(fields, 'time-series write failed; will retry');
      if (!this.stopping) await this.sleep(delay, 'backoff');
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

  private batchDue(): boolean {
    return this.spool.pendingLines >= this.ts.batchSize || this.spool.pendingBytes >= this.ts.batchBytes;
  }

  /** Lines written or dropped so far (of all lines ever accepted). */
  private doneLines(): number {
    return this.spool.appendedLines - this.spool.pendingLines;
  }

  private settleFlushWaiters(): void {
    if (this.flushWaiters.length === 0) return;
    const done = this.doneLines();
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

  private sleep(ms: number, kind: 'idle' | 'backoff'): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        if (this.wake === done) {
          this.wake = null;
          this.sleeping = null;
        }
        resolve();
      };
      if (Number.isFinite(ms)) {
        timer = setTimeout(done, Math.max(0, ms));
        // The loop alone must not keep the process alive (servers do); close() ends it anyway.
        timer.unref();
      }
      this.wake = done;
      this.sleeping = kind;
    });
  }

  private wakeUp(): void {
    this.wake?.();
  }
}

/** Splits newline-terminated lines into two halves at a line boundary. */
function splitHalf(text: string, lines: number): [string, number, string, number] {
  const first = Math.floor(lines / 2);
  let cut = 0;
  for (let i = 0; i < first; i++) cut = text.indexOf('\n', cut) + 1;
  return [text.slice(0, cut), first, text.slice(cut), lines - first];
}
