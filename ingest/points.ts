/**
 * A validated reading or event on its way to the time-series store, and its InfluxDB line-protocol
 * encoding. Field types come from the kind's schema (`FieldTypes`), so an integer field is always
 * written with the `i` suffix and a float never is: InfluxDB rejects a field whose type changes.
 */
import type { FieldTypes } from './schemas/kinds.js';

export type FieldValue = number | boolean | string;

export interface Point {
  measurement: string;
  /** device, site, company, and building when known; events also carry `type`. */
  tags: Readonly<Record<string, string>>;
  /** `tags` already rendered as line protocol (`,company=c1,device=d1,...`), computed once per device. */
  tagText: string;
  fields: Record<string, FieldValue>;
  types: FieldTypes;
  /** epoch milliseconds */
  ts: number;
  /**
   * Nanoseconds within the millisecond (0-999999). InfluxDB keeps one point per series and
   * timestamp, so two readings of one device in the same millisecond (a batch without `ts`, a fast
   * device) would overwrite each other at ms precision. The pipeline derives this from `seq`, so a
   * retransmitted message lands on the same point (idempotent) while distinct readings never collide.
   */
  sub?: number;
}

const escapeKeyRe = /[,= \\]/g;
const escapeMeasurementRe = /[, \\]/g;
const escapeStringRe = /["\\]/g;

export function escapeKey(s: string): string {
  return escapeKeyRe.test(s) ? s.replace(escapeKeyRe, (c) => '\\' + c) : s;
}

/** Tags rendered once per device and reused for every point (they only change with the registry). */
export function encodeTags(tags: Readonly<Record<string, string>>): string {
  let out = '';
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key];
    if (value === undefined || value === '') continue;
    out += ',' + escapeKey(key) + '=' + escapeKey(value.replace(/\n/g, ' '));
  }
  return out;
}

function encodeField(value: FieldValue, type: string | undefined): string {
  switch (typeof value) {
    case 'number':
      if (type === 'int') return Math.trunc(value) + 'i';
      // InfluxDB reads exponent notation as a float, but not with a fraction after the exponent:
      // String() prints |x| ≥ 1e21 as "1e+21", which must stay as it is rather than become "1e+21.0".
      return Number.isInteger(value) && value < 1e21 && value > -1e21 ? value + '.0' : String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      return '"' + value.replace(escapeStringRe, (c) => '\\' + c).replace(/\n/g, '\\n') + '"';
  }
}

const ZEROS = '000000';
function subMillis(sub: number | undefined): string {
  if (!sub) return ZEROS;
  const text = String(sub);
  return ZEROS.slice(text.length) + text;
}

/** One line of InfluxDB line protocol, nanosecond precision (ms timestamp + `sub`). */
export function toLine(point: Point): string {
  let fields = '';
  for (const key in point.fields) {
    const value = point.fields[key];
    if (value === undefined) continue;
    fields += (fields ? ',' : '') + escapeKey(key) + '=' + encodeField(value, point.types[key]);
  }
  return point.measurement.replace(escapeMeasurementRe, (c) => '\\' + c) + point.tagText + ' ' + fields + ' ' + point.ts + subMillis(point.sub);
}
