/**
 * The InfluxDB writer and its outage buffer: spool unit tests (the backoff's are in backoff.test.ts),
 * then the writer against a real InfluxDB 1.6 (`/usr/bin/influxd`, private instance per file)
 * through outages and restarts,
 * then the 2.x sink against a small local imitation of `/api/v2/write` and `/api/v2/query` (the
 * installed InfluxDB 1.6 has no 2.x API; the imitation checks our requests and our handling of
 * the documented answers, not InfluxDB 2 itself).
 */
import { mkdtempSync, readdirSync, rmSync, statSync, appendFileSync, writeFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import { InfluxDB } from 'influx';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMetrics, type Metrics } from '../core/metrics.js';
import { encodeTags, type Point } from '../ingest/points.js';
import { KIND_CONTRACTS } from '../ingest/schemas/kinds.js';
import {
  BISECT_BUDGET, Influx2Sink, InfluxWriter, TS_ERRORS, TimeSeriesError, buildInfluxQL, parsePartialWrite,
  type InfluxWriterConfig,
} from '../ingest/writers/influx/index.js';
import { Spool } from '../ingest/writers/spool.js';
import { startInfluxd, type InfluxdHandle } from '../bench/influxd.js';
import { waitFor } from './harness/gateway.js';

// --- helpers ---------------------------------------------------------------------------------

const tempDirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'spool-test-'));
  tempDirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** A pino logger that keeps its records in memory, so tests can assert on warnings. */
function memoryLogger(level = 'warn') {
  const records: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level }, stream), records };
}

async function counter(metric: Metrics['pointsDropped'] | Metrics['pointsWritten'] | Metrics['writeErrors'], labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, string | number | undefined>)[k] === val))?.value ?? 0;
}

const ELEVATOR = KIND_CONTRACTS.elevator;
const BASE_TS = Date.now() - 3600_000;

function elevatorPoint(device: string, seq: number, extra: Partial<Point> = {}, fields: Record<string, number | boolean | string> = {}): Point {
  const tags = { device, site: 's1', company: 'c1' };
  return {
    measurement: 'elevator',
    tags,
    tagText: encodeTags(tags),
    fields: { mode: 'normal', running: seq % 2 === 0, direction: 'up', floor: seq % 30, door: 'closed', speed: 1, seq, ...fields },
    types: ELEVATOR.telemetryFields,
    ts: BASE_TS + seq,
    ...extra,
  };
}

function writerConfig(dataDir: string, url: string, database: string, ts: Partial<InfluxWriterConfig['timeseries']> = {}): InfluxWriterConfig {
  return {
    dataDir,
    influx: { url, version: '1', database },
    timeseries: {
      batchSize: 5000,
      batchBytes: 4 * 1024 * 1024,
      flushIntervalMs: 50,
      bufferMaxBytes: 64 * 1024 * 1024,
      bufferSegmentBytes: 1024 * 1024,
      retry: { initialDelayMs: 20, maxDelayMs: 200 },
      ...ts,
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m,device=d v=${from + i}i ${from + i}`);

// --- spool -----------------------------------------------------------------------------------

describe('spool', () => {
  function open(dir: string, over: Partial<ConstructorParameters<typeof Spool>[0]> = {}) {
    const s = new Spool({ dir, maxBytes: 1 << 30, segmentBytes: 1 << 20, ...over });
    s.open();
    return s;
  }
  const segFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.lp')).sort();

  it('hands out whole lines within the line and byte limits, in order', () => {
    const dir = tempDir();
    const s = open(dir);
    s.append(lines(0, 100));
    expect(s.pendingLines).toBe(100);
    const got: string[] = [];
    let b = s.read(30, 1 << 20)!;
    expect(b.lines).toBe(30);
    got.push(...b.text.split('\n').filter(Boolean));
    s.commit(b.next);
    // A byte limit in the middle of a line: the batch ends at the previous line end.
    b = s.read(1000, 100)!;
    expect(b.text.endsWith('\n')).toBe(true);
    expect(b.bytes).toBeLessThanOrEqual(100);
    expect(b.lines).toBe(b.text.split('\n').length - 1);
    got.push(...b.text.split('\n').filter(Boolean));
    s.commit(b.next);
    // A byte limit smaller than one line still makes progress with one whole line.
    b = s.read(1000, 5)!;
    expect(b.lines).toBe(1);
    got.push(...b.text.split('\n').filter(Boolean));
    s.commit(b.next);
    while ((b = s.read(7, 1 << 20)!)) {
      got.push(...b.text.split('\n').filter(Boolean));
      s.commit(b.next);
    }
    expect(got).toEqual(lines(0, 100));
    expect(s.pendingLines).toBe(0);
    expect(s.pendingBytes).toBe(0);
    // Drained: no data file is kept around.
    expect(segFiles(dir)).toEqual([]);
    s.close();
  });

  it('rolls segments, never mixes two segments in a batch, and deletes consumed ones', () => {
    const dir = tempDir();
    const s = open(dir, { segmentBytes: 1024 });
    for (let i = 0; i < 10; i++) s.append(lines(i * 20, i * 20 + 20)); // ~20 lines of ~20 bytes per append
    expect(segFiles(dir).length).toBeGreaterThan(3);
    const before = segFiles(dir).length;
    const b = s.read(10_000, 1 << 20)!;
    expect(b.lines).toBeLessThan(200);
    s.commit(b.next);
    expect(segFiles(dir).length).toBe(before - 1);
    expect(s.pendingLines).toBe(200 - b.lines);
    s.close();
  });

  it('persists the cursor: after a restart, uncommitted lines are replayed in order', () => {
    const dir = tempDir();
    let s = open(dir);
    s.append(lines(0, 50));
    s.append(lines(50, 100));
    const b1 = s.read(30, 1 << 20)!;
    s.commit(b1.next);
    s.read(30, 1 << 20); // in flight, never committed: the process "dies" here (no close)
    s = open(dir);
    expect(s.pendingLines).toBe(70);
    expect(s.appendedLines).toBe(70);
    const rest: string[] = [];
    let b;
    while ((b = s.read(1000, 1 << 20))) {
      rest.push(...b.text.split('\n').filter(Boolean));
      s.commit(b.next);
    }
    expect(rest).toEqual(lines(30, 100));
    expect(JSON.parse(readFileSync(join(dir, 'cursor.json'), 'utf8'))).toHaveProperty('offset');
    s.close();
  });

  it('ignores a partial last line left by a crash and does not glue it to the next append', () => {
    const dir = tempDir();
    let s = open(dir);
    s.append(lines(0, 10));
    const seg = segFiles(dir)[0]!;
    // A torn write: half a line, no '\n' (what a crash in the middle of writeSync leaves).
    appendFileSync(join(dir, seg), 'm,device=d v=999i 99');
    const sizeWithTail = statSync(join(dir, seg)).size;
    const { log, records } = memoryLogger();
    s = new Spool({ dir, maxBytes: 1 << 30, segmentBytes: 1 << 20, log });
    s.open();
    expect(s.pendingLines).toBe(10);
    expect(statSync(join(dir, seg)).size).toBeLessThan(sizeWithTail);
    expect(records.some((r) => String(r.msg).includes('partial line'))).toBe(true);
    s.append(lines(10, 12));
    const all: string[] = [];
    let b;
    while ((b = s.read(1000, 1 << 20))) {
      all.push(...b.text.split('\n').filter(Boolean));
      s.commit(b.next);
    }
    expect(all).toEqual(lines(0, 12));
    s.close();
  });

  it('recovers when the cursor file is missing or garbage (replays everything)', () => {
    const dir = tempDir();
    let s = open(dir);
    s.append(lines(0, 10));
    s.commit(s.read(4, 1 << 20)!.next);
    s.close();
    writeFileSync(join(dir, 'cursor.json'), '{not json');
    s = open(dir);
    expect(s.pendingLines).toBe(10);
    s.close();
  });

  it('at the cap drops the oldest segments and counts exactly what is gone', async () => {
    const dir = tempDir();
    const metrics = createMetrics();
    const { log, records } = memoryLogger();
    // 16 KiB cap: segments of at most 4 KiB.
    const s = new Spool({ dir, maxBytes: 16 * 1024, segmentBytes: 1 << 20, metrics, log });
    s.open();
    const total = 3000;
    for (let i = 0; i < total; i += 25) s.append(lines(i, i + 25));
    expect(s.diskBytes).toBeLessThanOrEqual(16 * 1024);
    expect(s.droppedLines).toBeGreaterThan(0);
    expect(await counter(metrics.pointsDropped, { reason: 'buffer_cap' })).toBe(s.droppedLines);
    expect(records.filter((r) => r.level === 40 && String(r.msg).includes('cap')).length).toBeGreaterThan(0);
    const left: string[] = [];
    let b;
    while ((b = s.read(1000, 1 << 20))) {
      left.push(...b.text.split('\n').filter(Boolean));
      s.commit(b.next);
    }
    // What is left is exactly the newest lines; dropped + left = appended.
    expect(left.length + s.droppedLines).toBe(total);
    expect(left).toEqual(lines(s.droppedLines, total));
    expect((await metrics.pointsBuffered.get()).values[0]!.value).toBe(0);
    s.close();
  });

  it('a batch in flight when the cap deletes its segment: commit keeps it, release counts it dropped', async () => {
    for (const outcome of ['commit', 'release'] as const) {
      const dir = tempDir();
      const metrics = createMetrics();
      const s = new Spool({ dir, maxBytes: 8 * 1024, segmentBytes: 2048, metrics });
      s.open();
      s.append(lines(0, 20));
      const b = s.read(10, 1 << 20)!; // in flight
      for (let i = 20; i < 2000; i += 20) s.append(lines(i, i + 20));
      const droppedWhileInFlight = s.droppedLines;
      expect(droppedWhileInFlight).toBeGreaterThan(0);
      // The in-flight lines are still pending, not counted dropped yet.
      const remaining = s.pendingLines;
      if (outcome === 'commit') {
        s.commit(b.next);
        expect(s.droppedLines).toBe(droppedWhileInFlight);
        expect(s.pendingLines).toBe(remaining - 10);
      } else {
        expect(s.release()).toBe(10);
        expect(s.droppedLines).toBe(droppedWhileInFlight + 10);
        expect(s.pendingLines).toBe(remaining - 10);
      }
      let drained = 0;
      let next;
      while ((next = s.read(1000, 1 << 20))) {
        drained += next.lines;
        s.commit(next.next);
      }
      const written = outcome === 'commit' ? 10 : 0;
      expect(drained + written + s.droppedLines).toBe(2000);
      expect(await counter(metrics.pointsDropped, { reason: 'buffer_cap' })).toBe(s.droppedLines);
      s.close();
    }
  });

  it('replaces line breaks inside a line and skips empty lines', () => {
    const dir = tempDir();
    const s = open(dir);
    s.append(['a v=1i 1', '', 'b v="x\ny" 2']);
    expect(s.pendingLines).toBe(2);
    expect(s.read(10, 1000)!.text).toBe('a v=1i 1\nb v="x y" 2\n');
    s.close();
  });
});

// --- pure helpers of the writer ----------------------------------------------------------------

describe('query building and answers', () => {
  const q = { deviceId: "d'1\\", measurement: 'elevator', from: 1000, to: 2000, limit: 10 };

  it('escapes the device and validates field names before building InfluxQL', () => {
    expect(buildInfluxQL(q)).toBe(
      `SELECT *::field FROM "elevator" WHERE "device" = 'd\\'1\\\\' AND time >= 1000ms AND time <= 2000ms ORDER BY time ASC LIMIT 10`);
    expect(buildInfluxQL({ ...q, measurement: 'elevator_event' })).toContain('*::field, "type"');
    expect(buildInfluxQL({ ...q, fields: ['floor', 'speed'] })).toContain('SELECT "floor", "speed" FROM');
    for (const bad of ['floor"', 'a b', '1a', 'x;drop', '']) {
      expect(() => buildInfluxQL({ ...q, fields: [bad] })).toThrow(TimeSeriesError);
    }
    expect(() => buildInfluxQL({ ...q, measurement: 'elevator" ;' })).toThrow(/measurement/);
    expect(() => buildInfluxQL({ ...q, limit: 0 })).toThrow(/limit/);
    expect(() => buildInfluxQL({ ...q, from: 3000 })).toThrow(/from/);
  });

  it('reads partial-write answers', () => {
    expect(parsePartialWrite('{"error":"partial write: field type conflict: input field \\"floor\\" ... dropped=1"}', 5)).toMatchObject({ dropped: 1 });
    expect(parsePartialWrite("partial write: unable to parse 'a b': bad\nunable to parse 'c d': bad dropped=0", 5)).toMatchObject({ dropped: 2 });
    expect(parsePartialWrite('unable to parse everything', 5)).toBeUndefined();
  });
});

// --- against a real InfluxDB 1.6 -----------------------------------------------------------------

describe('InfluxWriter on InfluxDB 1.x (real influxd)', () => {
  let influxd: InfluxdHandle;
  let dbCounter = 0;
  const writers: InfluxWriter[] = [];

  beforeAll(async () => {
    influxd = await startInfluxd();
  }, 30_000);
  afterAll(async () => {
    await influxd?.dispose();
  }, 30_000);
  afterEach(async () => {
    for (const w of writers.splice(0)) await w.close();
    if (!influxd.running) await influxd.start();
  }, 30_000);

  function newWriter(dataDir: string, database: string, ts: Partial<InfluxWriterConfig['timeseries']> = {}) {
    const metrics = createMetrics();
    const mem = memoryLogger('info');
    const writer = new InfluxWriter({ config: writerConfig(dataDir, influxd.url, database, ts), log: mem.log, metrics });
    writers.push(writer);
    return { writer, metrics, records: mem.records };
  }
  const newDb = () => `test_${process.pid}_${++dbCounter}`;
  const client = (database: string) => new InfluxDB({ host: '127.0.0.1', port: influxd.port, database });

  it('creates the database, writes points and reads them back with their types', async () => {
    const db = newDb();
    const { writer, metrics } = newWriter(tempDir(), db);
    await writer.start();
    const points = [0, 1, 2, 3, 4].map((i) => elevatorPoint('dev-1', i, {}, { speed: i === 2 ? 2.5 : 1 }));
    writer.append(points);
    const tags = { device: 'dev-1', site: 's1', type: 'fault' };
    writer.append([{ measurement: 'elevator_event', tags, tagText: encodeTags(tags), fields: { fault: 'door_open_fault', n: 1, seq: 9 }, types: ELEVATOR.eventFields, ts: BASE_TS + 2 }]);
    expect(await writer.flush(10_000)).toBe(true);
    expect(await counter(metrics.pointsWritten, { backend: 'influx1' })).toBe(6);

    // The stored field types: an integer stays an integer, a float written as 1 stays a float.
    const keys = await client(db).query<{ fieldKey: string; fieldType: string }>('SHOW FIELD KEYS FROM "elevator"');
    const types = Object.fromEntries(keys.map((k) => [k.fieldKey, k.fieldType]));
    expect(types).toMatchObject({ floor: 'integer', seq: 'integer', speed: 'float', running: 'boolean', mode: 'string' });

    const rows = await writer.query({ deviceId: 'dev-1', measurement: 'elevator', from: BASE_TS, to: BASE_TS + 4, limit: 100 });
    expect(rows.map((r) => r.ts)).toEqual([0, 1, 2, 3, 4].map((i) => BASE_TS + i));
    expect(rows[2]).toEqual({ ts: BASE_TS + 2, mode: 'normal', running: true, direction: 'up', floor: 2, door: 'closed', speed: 2.5, seq: 2 });
    expect(rows.every((r) => Number.isInteger(r.floor) && typeof r.running === 'boolean')).toBe(true);
    // No tags in telemetry rows.
    expect(rows[0]).not.toHaveProperty('site');

    // Inclusive range, field list, limit.
    const some = await writer.query({ deviceId: 'dev-1', measurement: 'elevator', from: BASE_TS + 1, to: BASE_TS + 3, fields: ['floor', 'speed'], limit: 2 });
    expect(some).toEqual([{ ts: BASE_TS + 1, floor: 1, speed: 1 }, { ts: BASE_TS + 2, floor: 2, speed: 2.5 }]);
    // Events come with their type.
    const events = await writer.query({ deviceId: 'dev-1', measurement: 'elevator_event', from: BASE_TS, to: BASE_TS + 10, limit: 10 });
    expect(events).toEqual([{ ts: BASE_TS + 2, fault: 'door_open_fault', n: 1, seq: 9, type: 'fault' }]);
    // Hostile input is data, not InfluxQL.
    expect(await writer.query({ deviceId: "dev-1' OR '1'='1", measurement: 'elevator', from: BASE_TS, to: BASE_TS + 10, limit: 10 })).toEqual([]);
    await expect(writer.query({ deviceId: 'dev-1', measurement: 'elevator', from: BASE_TS, to: BASE_TS + 10, fields: ['floor) --'], limit: 10 }))
      .rejects.toMatchObject({ code: TS_ERRORS.BAD_QUERY });
    expect(writer.health()).toEqual({ ok: true, backend: 'influx1', pendingPoints: 0 });
  }, 20_000);

  it('a partial write keeps the good points and counts the bad ones as rejected_by_backend', async () => {
    const db = newDb();
    const { writer, metrics } = newWriter(tempDir(), db);
    await writer.start();
    writer.append([elevatorPoint('dev-p', 0)]);
    expect(await writer.flush(10_000)).toBe(true);
    writer.append([
      elevatorPoint('dev-p', 1),
      // floor is an integer field; written as a float it conflicts and InfluxDB drops this point.
      elevatorPoint('dev-p', 2, { types: { ...ELEVATOR.telemetryFields, floor: 'float' } }, { floor: 2.5 }),
      elevatorPoint('dev-p', 3),
    ]);
    expect(await writer.flush(10_000)).toBe(true);
    expect(await counter(metrics.pointsDropped, { reason: 'rejected_by_backend' })).toBe(1);
    // A separate request: when one request has both a type conflict and an unparseable line,
    // InfluxDB 1.6 reports only the conflict, so the unparseable line could not be counted.
    writer.append([
      // NaN is not valid line protocol: "unable to parse", the rest of the request is still written.
      elevatorPoint('dev-p', 4, {}, { speed: Number.NaN }),
      elevatorPoint('dev-p', 5),
    ]);
    expect(await writer.flush(10_000)).toBe(true);
    const rows = await writer.query({ deviceId: 'dev-p', measurement: 'elevator', from: BASE_TS, to: BASE_TS + 10, fields: ['seq'], limit: 100 });
    expect(rows.map((r) => r.seq)).toEqual([0, 1, 3, 5]);
    expect(await counter(metrics.pointsDropped, { reason: 'rejected_by_backend' })).toBe(2);
    expect(await counter(metrics.pointsWritten, { backend: 'influx1' })).toBe(4);
    expect(writer.health().pendingPoints).toBe(0);
  }, 20_000);

  it('outage: 20,000 points appended while influxd is down all arrive, in order', async () => {
    const db = newDb();
    const { writer, metrics, records } = newWriter(tempDir(), db);
    await writer.start();
    writer.append([elevatorPoint('dev-0', 0)]);
    expect(await writer.flush(10_000)).toBe(true);

    await influxd.stop();
    const devices = 10;
    const perRound = 500; // 50 per device
    const rounds = 40;
    let seq = 1;
    for (let r = 0; r < rounds; r++) {
      const batch: Point[] = [];
      for (let i = 0; i < perRound / devices; i++, seq++) {
        for (let d = 0; d < devices; d++) batch.push(elevatorPoint(`dev-${d}`, seq));
      }
      writer.append(batch); // synchronous and durable: no backend needed
      await sleep(50); // the scenario: readings keep arriving over two seconds of outage
    }
    const appended = rounds * perRound;
    const h = writer.health();
    expect(h.ok).toBe(true); // the spool has room
    expect(h.pendingPoints).toBe(appended);
    expect(h.lastError).toMatch(/unreachable|unavailable/);
    expect(await counter(metrics.writeErrors, { backend: 'influx1' })).toBeGreaterThan(0);
    expect((await metrics.pointsBuffered.get()).values[0]!.value).toBe(appended);
    expect(records.some((r) => r.level === 40 && String(r.msg).includes('will retry'))).toBe(true);

    await influxd.start();
    expect(await writer.flush(30_000)).toBe(true);
    expect(writer.health()).toEqual({ ok: true, backend: 'influx1', pendingPoints: 0 });
    for (let d = 0; d < devices; d++) {
      const rows = await writer.query({ deviceId: `dev-${d}`, measurement: 'elevator', from: BASE_TS, to: BASE_TS + seq, fields: ['seq'], limit: 100_000 });
      const seqs = rows.map((r) => r.seq as number).filter((s) => s > 0);
      expect(seqs.length).toBe(appended / devices);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
    }
    expect(await counter(metrics.pointsWritten, { backend: 'influx1' })).toBe(appended + 1);
    expect(await counter(metrics.pointsDropped, { reason: 'buffer_cap' })).toBe(0);
    expect((await metrics.bufferBytes.get()).values[0]!.value).toBe(0);
  }, 45_000);

  it('restart replay: points buffered by a closed writer are sent by the next one on the same data dir', async () => {
    const db = newDb();
    const dataDir = tempDir();
    await influxd.kill(); // a crash of the database, not a clean stop
    const first = newWriter(dataDir, db);
    await first.writer.start(); // starts although the backend is down
    for (let i = 0; i < 10; i++) first.writer.append(Array.from({ length: 500 }, (_, j) => elevatorPoint('dev-r', i * 500 + j)));
    expect(first.writer.health().pendingPoints).toBe(5000);
    await first.writer.close();

    const second = newWriter(dataDir, db);
    await second.writer.start();
    expect(second.writer.health().pendingPoints).toBe(5000); // recounted from the segments on disk
    await influxd.start();
    expect(await second.writer.flush(30_000)).toBe(true);
    const rows = await second.writer.query({ deviceId: 'dev-r', measurement: 'elevator', from: BASE_TS, to: BASE_TS + 10_000, fields: ['seq'], limit: 100_000 });
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(readdirSync(join(dataDir, 'spool')).filter((f) => f.endsWith('.lp'))).toEqual([]);
  }, 45_000);

  it('tiny cap: the oldest buffered points are dropped, and the dropped count is exactly what is missing', async () => {
    const db = newDb();
    const { writer, metrics, records } = newWriter(tempDir(), db, { bufferMaxBytes: 64 * 1024, bufferSegmentBytes: 8 * 1024 });
    // down before the writer starts: a batch caught by the shutdown itself is not what this is about
    await influxd.stop();
    await writer.start();
    const total = 5000;
    for (let i = 0; i < total; i += 50) {
      writer.append(Array.from({ length: 50 }, (_, j) => elevatorPoint('dev-c', i + j)));
      if (i % 1000 === 0) await sleep(20); // let the forwarder fail a few times meanwhile
    }
    const dropped = await counter(metrics.pointsDropped, { reason: 'buffer_cap' });
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(total);
    expect(records.some((r) => r.level === 40 && String(r.msg).includes('cap'))).toBe(true);
    expect((await metrics.bufferBytes.get()).values[0]!.value).toBeLessThanOrEqual(64 * 1024);

    await influxd.start();
    expect(await writer.flush(30_000)).toBe(true);
    const rows = await writer.query({ deviceId: 'dev-c', measurement: 'elevator', from: BASE_TS, to: BASE_TS + total, fields: ['seq'], limit: 100_000 });
    expect(rows.length).toBe(total - dropped);
    // The survivors are the newest points, contiguous.
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: total - dropped }, (_, i) => dropped + i));
  }, 45_000);
});

// --- the 2.x sink against an imitation of /api/v2 ------------------------------------------------

interface FakeV2 {
  url: string;
  received: string[][];
  accepted: string[];
  requests: Array<{ path: string; auth?: string; gzip: boolean }>;
  queries: string[];
  respond: (lines: string[], attempt: number) => { status: number; body?: string; headers?: Record<string, string> };
  csv: string;
  close(): Promise<void>;
}

async function fakeV2(): Promise<FakeV2> {
  const state: Omit<FakeV2, 'url' | 'close'> = {
    received: [], accepted: [], requests: [], queries: [],
    respond: () => ({ status: 204 }),
    csv: '',
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      const gzip = req.headers['content-encoding'] === 'gzip';
      if (gzip) body = gunzipSync(body);
      state.requests.push({ path: req.url ?? '', auth: req.headers.authorization, gzip });
      if (req.url === '/ping') {
        res.writeHead(204).end();
      } else if (req.url?.startsWith('/api/v2/write')) {
        const got = body.toString('utf8').split('\n').filter(Boolean);
        state.received.push(got);
        const answer = state.respond(got, state.received.length); // 1-based attempt within the test
        if (answer.status === 204) state.accepted.push(...got);
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers }).end(answer.body ?? '');
      } else if (req.url?.startsWith('/api/v2/query')) {
        state.queries.push((JSON.parse(body.toString('utf8')) as { query: string }).query);
        res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8' }).end(state.csv);
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

describe('Influx2Sink + InfluxWriter against an imitation of the 2.x API', () => {
  let fake: FakeV2;
  const writers: InfluxWriter[] = [];
  beforeAll(async () => { fake = await fakeV2(); });
  afterAll(async () => { await fake.close(); });
  afterEach(async () => {
    for (const w of writers.splice(0)) await w.close();
    fake.received.length = 0;
    fake.accepted.length = 0;
    fake.requests.length = 0;
    fake.respond = () => ({ status: 204 });
  });

  function newWriter(ts: Partial<InfluxWriterConfig['timeseries']> = {}) {
    const metrics = createMetrics();
    const config = writerConfig(tempDir(), fake.url, 'unused', ts);
    const sink = new Influx2Sink({ url: fake.url, token: 'secret-token', org: 'my org', bucket: 'iot/autogen' });
    const writer = new InfluxWriter({ config, log: memoryLogger().log, metrics, sink });
    writers.push(writer);
    return { writer, metrics };
  }
  const seqOf = (line: string) => Number(/seq=(\d+)i/.exec(line)![1]);

  it('posts raw line protocol with ns precision, the org, bucket and token', async () => {
    const { writer, metrics } = newWriter();
    await writer.start();
    writer.append(Array.from({ length: 100 }, (_, i) => elevatorPoint('dev-2', i)));
    expect(await writer.flush(5000)).toBe(true);
    const write = fake.requests.find((r) => r.path.startsWith('/api/v2/write'))!;
    expect(write.path).toBe('/api/v2/write?org=my%20org&bucket=iot%2Fautogen&precision=ns');
    expect(write.auth).toBe('Token secret-token');
    expect(write.gzip).toBe(true); // bodies over 1000 bytes are compressed
    expect(fake.accepted.map(seqOf)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(fake.accepted[0]).toMatch(new RegExp(`^elevator,company=c1,device=dev-2,site=s1 .*floor=0i.* ${BASE_TS}000000$`));
    expect(await counter(metrics.pointsWritten, { backend: 'influx2' })).toBe(100);
  });

  it('retries 503 honouring Retry-After, and 401 without dropping anything', async () => {
    const { writer, metrics } = newWriter();
    const times: number[] = [];
    fake.respond = (_lines, attempt) => {
      times.push(Date.now());
      if (attempt === 1) return { status: 503, body: '{"code":"unavailable","message":"busy"}', headers: { 'retry-after': '1' } };
      if (attempt === 2) return { status: 401, body: '{"code":"unauthorized","message":"unauthorized access"}' };
      return { status: 204 };
    };
    await writer.start();
    writer.append(Array.from({ length: 10 }, (_, i) => elevatorPoint('dev-2', i)));
    await waitFor(() => times.length >= 1 && /503/.test(writer.health().lastError ?? ''));
    expect(writer.health()).toMatchObject({ ok: true, pendingPoints: 10 });
    // flush() would cut the wait short (an explicit request retries at once), so let the
    // Retry-After pause and the 401 attempt happen on their own first.
    await waitFor(() => fake.received.length >= 2, 5000, 20);
    expect(await writer.flush(5000)).toBe(true);
    expect(times.length).toBe(3);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(950);
    expect(fake.accepted.length).toBe(10);
    expect(await counter(metrics.writeErrors, { backend: 'influx2' })).toBe(2);
    expect(await counter(metrics.pointsDropped, { reason: 'rejected_by_backend' })).toBe(0);
  });

  it('isolates a bad line in a rejected batch: the good points are written, the bad one dropped and counted', async () => {
    const { writer, metrics } = newWriter();
    fake.respond = (got) => got.some((l) => l.includes('BAD'))
      ? { status: 400, body: '{"code":"invalid","message":"unable to parse \'BAD\': missing fields"}' }
      : { status: 204 };
    await writer.start();
    const points = Array.from({ length: 100 }, (_, i) => elevatorPoint('dev-2', i));
    points[37] = { ...points[37]!, measurement: 'BAD' };
    writer.append(points);
    expect(await writer.flush(5000)).toBe(true);
    expect(fake.accepted.map(seqOf)).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 37));
    expect(await counter(metrics.pointsDropped, { reason: 'rejected_by_backend' })).toBe(1);
    expect(await counter(metrics.pointsWritten, { backend: 'influx2' })).toBe(99);
    // About 2 * log2(100) requests, not 100.
    expect(fake.received.length).toBeLessThanOrEqual(1 + 2 * 7);
  });

  it('a batch that is bad throughout is dropped within the split budget, and the queue moves on', async () => {
    const { writer, metrics } = newWriter({ batchSize: 1000 });
    fake.respond = (got) => got.some((l) => l.includes('BAD')) ? { status: 400, body: '{"message":"unable to parse"}' } : { status: 204 };
    await writer.start();
    writer.append(Array.from({ length: 1000 }, (_, i) => ({ ...elevatorPoint('dev-2', i), measurement: 'BAD' })));
    writer.append(Array.from({ length: 10 }, (_, i) => elevatorPoint('dev-2', 1000 + i)));
    expect(await writer.flush(5000)).toBe(true);
    expect(await counter(metrics.pointsDropped, { reason: 'rejected_by_backend' })).toBe(1000);
    expect(fake.accepted.map(seqOf)).toEqual(Array.from({ length: 10 }, (_, i) => 1000 + i));
    expect(fake.received.length).toBeLessThanOrEqual(1 + BISECT_BUDGET + 1);
  });

  it('a 422 partial write counts the dropped points', async () => {
    const { writer, metrics } = newWriter();
    fake.respond = () => ({ status: 422, body: '{"code":"unprocessable entity","message":"failure writing points to database: partial write: field type conflict: input field \\"floor\\" on measurement \\"elevator\\" is type float, already exists as type integer dropped=2"}' });
    await writer.start();
    writer.append(Array.from({ length: 10 }, (_, i) => elevatorPoint('dev-2', i)));
    expect(await writer.flush(5000)).toBe(true);
    expect(await counter(metrics.pointsDropped, { reason: 'rejected_by_backend' })).toBe(2);
    expect(await counter(metrics.pointsWritten, { backend: 'influx2' })).toBe(8);
    expect(fake.received.length).toBe(1);
  });

  it('queries with Flux and maps the pivoted CSV to rows (tags left out, series merged in time order)', async () => {
    const { writer } = newWriter();
    await writer.start();
    const t = (ms: number) => new Date(BASE_TS + ms).toISOString();
    fake.csv = [
      '#group,false,false,true,true,false,true,true,true,false,false,false',
      '#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,string,long,double,boolean',
      '#default,_result,,,,,,,,,,',
      ',result,table,_start,_stop,_time,_measurement,device,site,floor,speed,running',
      `,,0,${t(0)},${t(100)},${t(5)},elevator,dev-2,s1,3,1.5,true`,
      `,,0,${t(0)},${t(100)},${t(9)},elevator,dev-2,s1,4,,false`,
      '',
      '#group,false,false,true,true,false,true,true,true,false,false,false',
      '#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,string,long,double,boolean',
      '#default,_result,,,,,,,,,,',
      ',result,table,_start,_stop,_time,_measurement,device,site,floor,speed,running',
      `,,1,${t(0)},${t(100)},${t(7)},elevator,dev-2,s2,5,2,false`,
      '',
    ].join('\r\n');
    const rows = await writer.query({ deviceId: 'dev-"2', measurement: 'elevator', from: BASE_TS, to: BASE_TS + 99, fields: ['floor', 'speed', 'running'], limit: 2 });
    expect(rows).toEqual([
      { ts: BASE_TS + 5, floor: 3, speed: 1.5, running: true },
      { ts: BASE_TS + 7, floor: 5, speed: 2, running: false },
    ]);
    const flux = fake.queries.at(-1)!;
    expect(flux).toContain('from(bucket: "iot/autogen")');
    expect(flux).toContain(`range(start: time(v: "${t(0)}"), stop: time(v: "${t(100)}"))`);
    expect(flux).toContain('r.device == "dev-\\"2"');
    expect(flux).toContain('(r._field == "floor" or r._field == "speed" or r._field == "running")');
    expect(flux).toContain('limit(n: 2)');
  });
});
