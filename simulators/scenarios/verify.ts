/**
 * Checks a scenario run against what the scenario says it produces, through the gateway's HTTP
 * API only (stored readings and events, dead letters): what a user of the platform would see.
 */
import type { GatewayApi, TelemetryRow } from '../api.js';
import type { SentEvent } from '../device.js';
import { wallTimeOf, type ScenarioRun } from './runner.js';
import type { Expectation, Matcher, Scenario } from './types.js';

const TIMER_TOLERANCE_MS = 5;

export interface ExpectationResult {
  expectation: Expectation;
  deviceId: string;
  ok: boolean;
  detail: string;
}

export function matches(value: unknown, m: Matcher): boolean {
  if (typeof m !== 'object' || m === null) return value === m;
  if ('oneOf' in m) return (m.oneOf as unknown[]).includes(value);
  if (typeof value !== 'number') return false;
  const b = m as { lt?: number; lte?: number; gt?: number; gte?: number };
  return (b.lt === undefined || value < b.lt) && (b.lte === undefined || value <= b.lte)
    && (b.gt === undefined || value > b.gt) && (b.gte === undefined || value >= b.gte);
}

export function rowMatches(row: Record<string, unknown>, want: Record<string, Matcher>): boolean {
  for (const key in want) if (!matches(row[key], want[key]!)) return false;
  return true;
}

/**
 * A stored event row's type: the row's own `type`, or, when the store does not return it, the type
 * of the event this run sent with that `seq` (every message of a device carries its own seq).
 */
function withType(row: TelemetryRow, sent: readonly SentEvent[]): Record<string, unknown> {
  if (typeof row.type === 'string') return row;
  const e = sent.find((s) => s.seq === row.seq);
  return e ? { ...row, type: e.event.type } : row;
}

function describe(e: Expectation): string {
  const { device: _d, note: _n, after, ...rest } = e;
  return JSON.stringify(rest) + (after ? ` after ${after / 1000} s` : '');
}

export async function verifyScenario(scenario: Scenario, run: ScenarioRun, api: GatewayApi): Promise<ExpectationResult[]> {
  const mainRole = Object.keys(scenario.devices)[0]!;
  const from = run.startedAt - 1000;
  const to = run.endedAt + 1000;
  const cache = new Map<string, Promise<TelemetryRow[]>>();
  const allRows = (id: string, channel: 'telemetry' | 'events') => {
    const key = `${id}/${channel}`;
    let p = cache.get(key);
    if (!p) cache.set(key, (p = api.telemetry(id, { channel, from, to })));
    return p;
  };
  const results: ExpectationResult[] = [];
  for (const e of scenario.expect) {
    const role = e.device ?? mainRole;
    const id = run.devices[role]!;
    // a reading's ts is its wall-clock send time; the script's offsets are simulated. Timers may
    // fire a millisecond before their nominal time, hence the small tolerance.
    const since = wallTimeOf(run, e.after ?? 0) - (e.after ? TIMER_TOLERANCE_MS : 0);
    const rows = async (channel: 'telemetry' | 'events') => (await allRows(id, channel)).filter((r) => r.ts >= since);
    let ok: boolean;
    let detail: string;
    if ('telemetry' in e) {
      const all = await rows('telemetry');
      const hit = all.find((r) => rowMatches(r, e.telemetry));
      ok = hit !== undefined;
      detail = ok ? `reading at ${new Date(hit!.ts).toISOString()} matches` : `none of ${all.length} readings matches`;
    } else if ('event' in e) {
      const all = (await rows('events')).map((r) => withType(r, run.events[role] ?? []));
      const hit = all.find((r) => rowMatches(r, e.event as Record<string, Matcher>));
      ok = hit !== undefined;
      detail = ok ? `event seq ${String(hit!.seq)} matches` : `none of ${all.length} events matches (types: ${[...new Set(all.map((r) => String(r.type)))].join(', ')})`;
    } else if ('deadLetter' in e) {
      const letters = await api.deadLetters(id, run.startedAt - 1000);
      const n = letters.filter((l) => l.reason === e.deadLetter.reason).length;
      ok = n >= e.deadLetter.min;
      detail = `${n} dead letters with reason ${e.deadLetter.reason} (want ≥ ${e.deadLetter.min})`;
    } else if ('silence' in e) {
      const windows = run.silences[role] ?? [];
      const all = await allRows(id, 'telemetry');
      const inside = all.filter((r) => windows.some((w) => r.ts > w.from && r.ts < w.to));
      ok = windows.length > 0 && inside.length === 0;
      detail = windows.length === 0 ? 'the device was never silenced' : `${inside.length} readings inside ${windows.length} silent window(s)`;
    } else {
      const all = await rows('telemetry');
      ok = all.length >= e.readings.min;
      detail = `${all.length} readings (want ≥ ${e.readings.min})`;
    }
    results.push({ expectation: e, deviceId: id, ok, detail: `${describe(e)}: ${detail}` });
  }
  return results;
}
