/**
 * The one interface every time-series backend implements (embedded SQLite, InfluxDB 1.x,
 * InfluxDB 2.x). The ingest pipeline calls `append` on its hot path, once per group of messages:
 * it must be synchronous and durable against a process crash when it returns, because the MQTT
 * acknowledgement to the device is sent only afterwards. Getting the data into the backend
 * (batching, retries, the outage buffer) happens behind it.
 */
import type { Point } from '../points.js';

export interface TelemetryQuery {
  deviceId: string;
  /** Measurement to read (the device kind for telemetry, `${kind}_event` for events). */
  measurement: string;
  /** epoch ms, inclusive */
  from: number;
  /** epoch ms, inclusive */
  to: number;
  /** Field names to return; all when absent. */
  fields?: string[];
  limit: number;
}

export interface TelemetryRow {
  /** epoch ms */
  ts: number;
  [field: string]: number | boolean | string | null;
}

export interface WriterHealth {
  ok: boolean;
  backend: 'embedded' | 'influx1' | 'influx2';
  /** Points accepted but not yet in the backend (outage buffer depth). */
  pendingPoints: number;
  /** Last backend error, if the last attempt failed. */
  lastError?: string;
}

export interface TimeSeriesWriter {
  readonly backend: WriterHealth['backend'];
  /** Prepare storage (create database, replay a buffer left by a previous run). */
  start(): Promise<void>;
  /** Durably accept points; synchronous so the caller can acknowledge right after. */
  append(points: readonly Point[]): void;
  query(q: TelemetryQuery): Promise<TelemetryRow[]>;
  health(): WriterHealth;
  /** Resolves when everything appended so far is in the backend (or `timeoutMs` passed: false). */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Flush what can be flushed quickly, persist the rest, release resources. */
  close(): Promise<void>;
}
