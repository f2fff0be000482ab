/**
 * What a sink is: the small, version-specific part of the InfluxDB writer (post raw line protocol,
 * query, ping), and the coded errors every sink throws. An HTTP answer is mapped to a code here,
 * once for both versions; what the forwarder does with each code is described in forwarder.ts.
 */
import { isTransientStatus } from '../../../core/backoff.js';
import type { TelemetryQuery, TelemetryRow } from '../writer.js';

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

const ERROR_TEXT_MAX = 500;

export function truncate(s: string, max = ERROR_TEXT_MAX): string {
  return s.length > max ? s.slice(0, max) + '…' : s;
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

/**
 * Maps an HTTP failure to a coded error (shared by both sinks). Transient statuses (core/backoff)
 * are UNAVAILABLE; the permanent ones are told apart, because the writer treats a refused login or
 * a missing database differently from a bad batch.
 */
export function classifyHttpFailure(status: number, message: string, retryAfterMs?: number): TimeSeriesError {
  const text = truncate(message);
  if (isTransientStatus(status)) {
    const what = status >= 400 ? `backend unavailable (${status})` : `unexpected status ${status}`;
    return new TimeSeriesError(TS_ERRORS.UNAVAILABLE, `${what}: ${text}`, status, status >= 400 ? retryAfterMs : undefined);
  }
  if (status === 401 || status === 403) return new TimeSeriesError(TS_ERRORS.AUTH, `authentication failed (${status}): ${text}`, status);
  if (status === 404) return new TimeSeriesError(TS_ERRORS.NOT_FOUND, `not found (${status}): ${text}`, status);
  return new TimeSeriesError(TS_ERRORS.REJECTED, `rejected (${status}): ${text}`, status);
}

/** No answer from the backend (refused, reset, timeout, abort). */
export function networkError(err: unknown): TimeSeriesError {
  const e = err as { code?: string; message?: string; name?: string };
  const what = [e.code, e.message || e.name].filter(Boolean).join(' ');
  return new TimeSeriesError(TS_ERRORS.UNAVAILABLE, `backend unreachable: ${truncate(what || String(err))}`);
}
