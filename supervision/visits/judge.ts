/**
 * Whether the elevator's own telemetry supports a maintenance visit (DOMAIN.md "Maintenance on time"):
 * how long, during the visit, the terminal reported one of the maintenance modes.
 *
 * A terminal reports its mode with each reading, not when it changes, so a reading's mode is taken
 * to hold until the next reading, but never longer than `maxReadingGap`: a terminal that fell
 * silent proves nothing about the time it was silent. A reading from before the visit counts from
 * the visit's start (the technician switched to inspection mode, then signed in).
 */
import type { TelemetryRow, TimeSeriesWriter } from '../../ingest/index.js';

/** Readings read per query; a long visit of a chatty terminal is read in pages. */
const PAGE = 10_000;

export interface ModeReading { ts: number; mode: string }

/** Time (ms) within [from, to] that the readings show one of `modes`. Readings are in time order. */
export function modeTime(readings: readonly ModeReading[], from: number, to: number, modes: ReadonlySet<string>, maxReadingGap: number): number {
  let total = 0;
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i]!;
    if (!modes.has(r.mode)) continue;
    const next = i + 1 < readings.length ? readings[i + 1]!.ts : Infinity;
    const end = Math.min(next, r.ts + maxReadingGap, to);
    const start = Math.max(r.ts, from);
    if (end > start) total += end - start;
  }
  return total;
}

/**
 * The elevator's `mode` readings from `from` to `to` (inclusive), in time order, read in pages.
 * Rows without a mode are left out: they say nothing about it (the elevator schema requires the
 * field, but a backend may return a row of another shape as null).
 */
export async function modeReadings(telemetry: Pick<TimeSeriesWriter, 'query'>, deviceId: string, from: number, to: number): Promise<ModeReading[]> {
  const out: ModeReading[] = [];
  let since = from;
  for (;;) {
    const rows: TelemetryRow[] = await telemetry.query({ deviceId, measurement: 'elevator', from: since, to, fields: ['mode'], limit: PAGE });
    const last = rows.length === PAGE ? rows[rows.length - 1]!.ts : undefined;
    // a full page may end in the middle of the readings of one instant: those are read again with the
    // next page; a page of one instant only (a flood in one millisecond) is taken as it is and the
    // rest of that instant skipped, so the reading always moves on
    const sameInstantOnly = last !== undefined && rows[0]!.ts === last;
    for (const r of rows) {
      if (last !== undefined && !sameInstantOnly && r.ts === last) break;
      if (typeof r.mode === 'string') out.push({ ts: r.ts, mode: r.mode });
    }
    if (last === undefined) return out;
    since = sameInstantOnly ? last + 1 : last;
  }
}
