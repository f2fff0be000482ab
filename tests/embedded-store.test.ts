/**
 * The embedded time-series store's two stages (ingest/writers/embedded.ts): appends go to an
 * unindexed recent table, a worker thread merges them into the indexed table every second. A point is
 * readable at once and after the merge, counts once when it was retransmitted (the newest copy wins),
 * survives a stop with its rows unmerged, and ends up in `points` with the recent tables emptied.
 */
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedWriter } from '../ingest/writers/embedded.js';
import { encodeTags, type Point } from '../ingest/points.js';
import { waitFor } from './harness/gateway.js';

const T0 = Date.parse('2026-11-30T08:00:00Z');
const dirs: string[] = [];
const writers: EmbeddedWriter[] = [];

afterEach(async () => {
  for (const w of writers.splice(0)) await w.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function point(device: string, ts: number, fields: Record<string, number | string>, sub = 0): Point {
  const tags = { device, site: 's1', company: 'c1' };
  return { measurement: 'water_pump', tags, tagText: encodeTags(tags), fields, types: {}, ts, sub };
}

async function open(dir?: string): Promise<{ writer: EmbeddedWriter; dir: string }> {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'gw-ts-'));
  if (!dir) dirs.push(d);
  const writer = new EmbeddedWriter({ dataDir: d, retentionDays: 3650, now: () => T0 });
  writers.push(writer);
  await writer.start();
  return { writer, dir: d };
}

/** Rows per table, read from the files on a connection of the test's own. */
function tables(dir: string): { points: number; recent: number } {
  const db = new Database(join(dir, 'timeseries.sqlite'), { readonly: true });
  try {
    db.prepare('ATTACH DATABASE ? AS recent').run(join(dir, 'timeseries-recent.sqlite'));
    const count = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n;
    return { points: count('main.points'), recent: count('recent.rows_0') + count('recent.rows_1') };
  } finally {
    db.close();
  }
}

const read = (w: EmbeddedWriter, device = 'p1', limit = 1000) => w.query({ deviceId: device, measurement: 'water_pump', from: T0 - 1, to: T0 + 1_000_000, limit });

describe('the embedded store\'s two stages', () => {
  it('reads a point at once, from the recent table, and the same after the worker merged it', async () => {
    const { writer, dir } = await open();
    writer.append([point('p1', T0, { outletPressure: 0.4 }), point('p1', T0 + 1000, { outletPressure: 0.5 }), point('p2', T0, { outletPressure: 0.1 })]);
    expect(await read(writer)).toEqual([{ ts: T0, outletPressure: 0.4 }, { ts: T0 + 1000, outletPressure: 0.5 }]);
    await waitFor(() => tables(dir).points === 3, 5000);
    expect(tables(dir)).toEqual({ points: 3, recent: 0 });
    expect(await read(writer)).toEqual([{ ts: T0, outletPressure: 0.4 }, { ts: T0 + 1000, outletPressure: 0.5 }]);
    expect(await read(writer, 'p2')).toEqual([{ ts: T0, outletPressure: 0.1 }]);
  });

  it('counts a retransmitted point once, the newest copy winning, whether the first copy is merged or still recent', async () => {
    const { writer, dir } = await open();
    writer.append([point('p1', T0, { outletPressure: 0.4 }), point('p1', T0, { outletPressure: 0.41 }, 1)]);
    await waitFor(() => tables(dir).points === 2, 5000);
    // the same (ts, sub) again: one in `points`, one recent
    writer.append([point('p1', T0, { outletPressure: 0.45 })]);
    expect(await read(writer)).toEqual([{ ts: T0, outletPressure: 0.45 }, { ts: T0, outletPressure: 0.41 }]);
    // twice in the recent table itself
    writer.append([point('p1', T0 + 5, { outletPressure: 0.5 }), point('p1', T0 + 5, { outletPressure: 0.55 })]);
    expect(await read(writer)).toEqual([{ ts: T0, outletPressure: 0.45 }, { ts: T0, outletPressure: 0.41 }, { ts: T0 + 5, outletPressure: 0.55 }]);
    await waitFor(() => tables(dir).recent === 0, 5000);
    expect(tables(dir).points).toBe(3);
    expect(await read(writer)).toEqual([{ ts: T0, outletPressure: 0.45 }, { ts: T0, outletPressure: 0.41 }, { ts: T0 + 5, outletPressure: 0.55 }]);
  });

  it('keeps the limit across both stages, in time order', async () => {
    const { writer, dir } = await open();
    writer.append([T0 + 30, T0 + 10].map((ts) => point('p1', ts, { outletPressure: ts - T0 })));
    await waitFor(() => tables(dir).points === 2, 5000);
    writer.append([T0 + 20, T0].map((ts) => point('p1', ts, { outletPressure: ts - T0 })));
    expect((await read(writer, 'p1', 3)).map((r) => r.outletPressure)).toEqual([0, 10, 20]);
  });

  it('merges what a stop left in the recent tables when it opens again', async () => {
    const { writer, dir } = await open();
    const points = Array.from({ length: 500 }, (_, i) => point('p1', T0 + i, { outletPressure: i }));
    writer.append(points);
    // closed before the first merge (1 s): the rows stay in the recent table
    await writer.close();
    writers.splice(writers.indexOf(writer), 1);
    expect(tables(dir)).toEqual({ points: 0, recent: 500 });
    const again = await open(dir);
    expect(tables(dir)).toEqual({ points: 500, recent: 0 });
    expect((await read(again.writer)).length).toBe(500);
  });
});
