/**
 * Telemetry queries for InfluxDB: the input is checked before any of it becomes InfluxQL (1.x) or
 * Flux (2.x) text, and Flux's pivoted rows are mapped to the rows the embedded store returns.
 */
import { flux, fluxDateTime, fluxExpression, type FluxTableMetaData } from '@influxdata/influxdb-client';
import type { TelemetryQuery, TelemetryRow } from '../writer.js';
import { TS_ERRORS, TimeSeriesError } from './sink.js';

const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

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
export function isEventMeasurement(m: string): boolean {
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
  // (tag set), the rows of several series are merged and cut to `limit` by the 2.x sink.
  return flux`from(bucket: ${bucket})
  |> range(start: ${start}, stop: ${stop})
  |> filter(fn: (r) => r._measurement == ${q.measurement} and r.device == ${q.deviceId}${fieldFilter})
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> sort(columns: ["_time"])
  |> limit(n: ${q.limit})`.toString();
}

const FLUX_SYSTEM_COLUMNS = new Set(['result', 'table', '_start', '_stop', '_time', '_measurement']);

/** One Flux result row to a TelemetryRow: `_time` → ts, tag (group-key) columns left out, except an event's `type`. */
export function fluxRow(values: string[], meta: FluxTableMetaData, keepType: boolean): TelemetryRow | undefined {
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
