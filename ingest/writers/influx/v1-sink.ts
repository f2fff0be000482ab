/**
 * The sink for InfluxDB 1.x, through the `influx` package: writes go through its HTTP pool as the
 * line protocol we already hold, queries as InfluxQL, and the database is created when missing.
 */
import { InfluxDB as Influx1Client } from 'influx';
import { Pool, RequestError } from 'influx/lib/src/pool.js';
import { parseRetryAfter } from '../../../core/backoff.js';
import type { TelemetryQuery, TelemetryRow } from '../writer.js';
import { buildInfluxQL } from './query.js';
import {
  TS_ERRORS, TimeSeriesError, classifyHttpFailure, networkError, parsePartialWrite,
  type SinkWriteResult, type TimeSeriesSink,
} from './sink.js';

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
