/**
 * The sink for InfluxDB 2.x (and 1.8+ through its 2.x API), through `@influxdata/influxdb-client`:
 * writes are posted on the client's transport as raw line protocol, queries are Flux.
 */
import { InfluxDB as Influx2Client, HttpError, type Transport } from '@influxdata/influxdb-client';
import { parseRetryAfter } from '../../../core/backoff.js';
import type { TelemetryQuery, TelemetryRow } from '../writer.js';
import { buildFlux, fluxRow, isEventMeasurement } from './query.js';
import {
  TS_ERRORS, TimeSeriesError, classifyHttpFailure, networkError, parsePartialWrite,
  type SinkWriteResult, type TimeSeriesSink,
} from './sink.js';

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
        throw classifyHttpFailure(err.statusCode, message, parseRetryAfter(err.headers?.['retry-after']));
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
