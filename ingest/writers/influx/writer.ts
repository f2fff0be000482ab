/**
 * The InfluxDB time-series writer: builds the sink for the configured version, the spool in
 * `${dataDir}/spool` and the forwarder between them, and answers the TimeSeriesWriter interface.
 * `append` is durable when it returns (the spool); getting the points into InfluxDB is the
 * forwarder's job.
 */
import { join } from 'node:path';
import type { InfluxSettings, TimeseriesSettings } from '../../config.js';
import type { Logger } from '../../../core/log.js';
import type { Metrics } from '../../../core/metrics.js';
import type { Point } from '../../points.js';
import { Spool } from '../spool.js';
import type { TelemetryQuery, TelemetryRow, TimeSeriesWriter, WriterHealth } from '../writer.js';
import { LineBatches } from './batches.js';
import { Forwarder } from './forwarder.js';
import type { InfluxBackend, TimeSeriesSink } from './sink.js';
import { Influx1Sink } from './v1-sink.js';
import { Influx2Sink } from './v2-sink.js';

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

/** Builds the sink for `config.influx` (url required). */
export function createSink(influx: InfluxSettings, requestTimeoutMs?: number): TimeSeriesSink {
  if (!influx.url) throw new Error('influx.url is not set');
  if (influx.version === '2') {
    const token = influx.token ?? (influx.username !== undefined ? `${influx.username}:${influx.password ?? ''}` : undefined);
    return new Influx2Sink({ url: influx.url, token, org: influx.org ?? '', bucket: influx.bucket || influx.database, requestTimeoutMs });
  }
  return new Influx1Sink({ url: influx.url, database: influx.database, username: influx.username, password: influx.password, requestTimeoutMs });
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

export class InfluxWriter implements TimeSeriesWriter {
  readonly backend: InfluxBackend;
  private readonly sink: TimeSeriesSink;
  private readonly spool: Spool;
  private readonly batches: LineBatches;
  private readonly forwarder: Forwarder;
  private readonly bufferMaxBytes: number;
  private readonly log: Logger;
  private started = false;
  private closed = false;
  /** For the start-up log line only (credentials removed before logging). */
  private readonly targetUrl: string | undefined;

  constructor(opts: InfluxWriterOptions) {
    const { config } = opts;
    this.sink = opts.sink ?? createSink(config.influx, opts.requestTimeoutMs);
    this.targetUrl = opts.sink ? undefined : config.influx.url;
    this.backend = this.sink.backend;
    this.bufferMaxBytes = config.timeseries.bufferMaxBytes;
    this.log = opts.log.child({ component: 'timeseries', backend: this.backend });
    this.spool = new Spool({
      dir: join(config.dataDir, 'spool'),
      maxBytes: config.timeseries.bufferMaxBytes,
      segmentBytes: config.timeseries.bufferSegmentBytes,
      fsync: opts.fsync,
      metrics: opts.metrics,
      log: this.log,
    });
    this.batches = new LineBatches(this.spool, config.timeseries);
    this.forwarder = new Forwarder({
      sink: this.sink,
      batches: this.batches,
      flushIntervalMs: config.timeseries.flushIntervalMs,
      retry: config.timeseries.retry,
      log: this.log,
      // Label children resolved once: append and the loop run often.
      metrics: {
        written: opts.metrics.pointsWritten.labels(this.backend),
        rejected: opts.metrics.pointsDropped.labels('rejected_by_backend'),
        latency: opts.metrics.writeLatency.labels(this.backend),
        errors: opts.metrics.writeErrors.labels(this.backend),
      },
      random: opts.random,
      closeTimeoutMs: opts.closeTimeoutMs ?? 2000,
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.spool.open();
    const pending = this.spool.pendingLines;
    if (pending > 0) this.log.info({ pendingPoints: pending }, 'replaying the outage buffer left by the previous run');
    if (this.targetUrl) this.log.info({ url: redactUrl(this.targetUrl) }, 'writing time series to InfluxDB');
    await this.forwarder.start();
  }

  append(points: readonly Point[]): void {
    if (points.length === 0) return;
    this.forwarder.appended(this.batches.append(points));
  }

  async query(q: TelemetryQuery): Promise<TelemetryRow[]> {
    return this.sink.query(q);
  }

  health(): WriterHealth {
    const { ok, error } = this.forwarder.status;
    const room = this.spool.diskBytes < this.bufferMaxBytes;
    const h: WriterHealth = { ok: ok !== false || room, backend: this.backend, pendingPoints: this.spool.pendingLines };
    if (ok === false && error) h.lastError = error;
    return h;
  }

  flush(timeoutMs?: number): Promise<boolean> {
    return this.forwarder.flush(timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.forwarder.stop();
    const pending = this.spool.pendingLines;
    this.spool.close();
    if (pending > 0) this.log.info({ pendingPoints: pending }, 'time-series writer closed; pending points stay in the outage buffer for the next start');
  }
}
