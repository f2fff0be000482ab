/**
 * The embedded time-series store, used when no InfluxDB is configured: a SQLite table in
 * DATA_DIR/timeseries.sqlite with a retention period. A point is one row (device, measurement,
 * ts, sub, fields as JSON); appends are one transaction per ingest group, which SQLite in WAL mode
 * commits at a few hundred thousand rows per second. Like InfluxDB, one point per series and time:
 * a message retransmitted after a crash (stored, but its PUBACK lost) replaces itself instead of
 * being stored twice.
 *
 * Checkpoints (copying committed pages from the write-ahead log into the database file, with its
 * fsyncs) run in a worker thread on a connection of its own, not in the commits on the ingest hot
 * path: in the benchmark they were about a third of the time an append took. What the devices'
 * acknowledgement waits for is unchanged: the commit to the log, which is what makes a row durable.
 * Should the worker not keep up, the writer checkpoints itself once the log passes
 * WAL_BACKSTOP_PAGES, as SQLite's automatic checkpoint would.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { openDatabase, migrate, type Db } from '../../core/db/sqlite.js';
import type { Point } from '../points.js';
import type { TelemetryQuery, TelemetryRow, TimeSeriesWriter, WriterHealth } from './writer.js';

export interface EmbeddedOptions {
  dataDir: string;
  retentionDays: number;
  /** How often expired rows are deleted. */
  retentionCheckMs?: number;
  onWritten?: (points: number, seconds: number) => void;
  now?: () => number;
}

/** Rows per multi-row INSERT. */
const CHUNK = 64;
/** How often the checkpoint worker copies the log into the database. */
const CHECKPOINT_INTERVAL_MS = 100;
/** Log pages (4 KB) past which the writer checkpoints itself: 64 MB, where SQLite's default is 1,000. */
const WAL_BACKSTOP_PAGES = 16_384;

/**
 * The checkpoint worker's code (an `eval` worker: no separate file, so it runs the same from the
 * built output and from the TypeScript sources under test). PASSIVE: it never waits for, nor
 * blocks, the writer; what it could not copy this time it copies next time.
 */
const CHECKPOINTER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 0');
let timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: next time */ }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  try { db.close(); } catch { /* already closed */ }
  parentPort.close();
});
`;

function setRow(args: unknown[], at: number, p: Point): void {
  args[at] = p.tags.device;
  args[at + 1] = p.measurement;
  args[at + 2] = p.ts;
  args[at + 3] = p.sub ?? 0;
  args[at + 4] = JSON.stringify(p.tags.type === undefined ? p.fields : { type: p.tags.type, ...p.fields });
}

export class EmbeddedWriter implements TimeSeriesWriter {
  readonly backend = 'embedded' as const;
  private readonly db: Db;
  private readonly insertOne;
  private readonly insertChunk;
  private readonly insertMany: (points: readonly Point[]) => void;
  /** Reused argument array of the chunked insert (no allocation per batch). */
  private readonly chunkArgs: unknown[] = new Array(CHUNK * 5);
  private retentionTimer: NodeJS.Timeout | undefined;
  private checkpointer: Worker | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: EmbeddedOptions) {
    this.now = opts.now ?? Date.now;
    this.db = openDatabase(opts.dataDir, 'timeseries.sqlite');
    migrate(this.db, 'timeseries', [
      `CREATE TABLE points (device TEXT NOT NULL, measurement TEXT NOT NULL, ts INTEGER NOT NULL, sub INTEGER NOT NULL, fields TEXT NOT NULL);
       CREATE UNIQUE INDEX points_series_time ON points (device, measurement, ts, sub);
       CREATE INDEX points_time ON points (ts);`,
    ]);
    const insert = 'INSERT OR REPLACE INTO points (device, measurement, ts, sub, fields) VALUES ';
    this.insertOne = this.db.prepare(insert + '(?, ?, ?, ?, ?)');
    // one statement per CHUNK rows: a statement call costs more than a row, so this roughly halves the cost
    this.insertChunk = this.db.prepare(insert + Array(CHUNK).fill('(?, ?, ?, ?, ?)').join(', '));
    this.insertMany = this.db.transaction((points: readonly Point[]) => {
      const args = this.chunkArgs;
      let i = 0;
      for (; i + CHUNK <= points.length; i += CHUNK) {
        for (let j = 0; j < CHUNK; j++) setRow(args, j * 5, points[i + j]!);
        this.insertChunk.run(args);
      }
      const row: unknown[] = new Array(5);
      for (; i < points.length; i++) {
        setRow(row, 0, points[i]!);
        this.insertOne.run(row);
      }
    });
  }

  async start(): Promise<void> {
    this.startCheckpointer();
    this.expire();
    this.retentionTimer = setInterval(() => this.expire(), this.opts.retentionCheckMs ?? 3600_000);
    this.retentionTimer.unref();
  }

  append(points: readonly Point[]): void {
    const started = performance.now();
    this.insertMany(points);
    this.opts.onWritten?.(points.length, (performance.now() - started) / 1000);
  }

  /** Deletes rows past the retention period. */
  expire(): number {
    const cutoff = this.now() - this.opts.retentionDays * 86_400_000;
    return this.db.prepare('DELETE FROM points WHERE ts < ?').run(cutoff).changes;
  }

  async query(q: TelemetryQuery): Promise<TelemetryRow[]> {
    const rows = this.db.prepare('SELECT ts, fields FROM points WHERE device = ? AND measurement = ? AND ts >= ? AND ts <= ? ORDER BY ts, sub LIMIT ?')
      .all(q.deviceId, q.measurement, q.from, q.to, q.limit) as Array<{ ts: number; fields: string }>;
    return rows.map((r) => {
      const all = JSON.parse(r.fields) as Record<string, number | boolean | string>;
      const row: TelemetryRow = { ts: r.ts };
      if (q.fields) for (const f of q.fields) row[f] = all[f] ?? null;
      else Object.assign(row, all);
      return row;
    });
  }

  health(): WriterHealth {
    return { ok: this.db.open, backend: 'embedded', pendingPoints: 0 };
  }

  async flush(): Promise<boolean> { return true; }

  private startCheckpointer(): void {
    const file = join(this.opts.dataDir, 'timeseries.sqlite');
    const worker = new Worker(CHECKPOINTER, {
      eval: true,
      workerData: { file, module: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: CHECKPOINT_INTERVAL_MS },
    });
    // a worker that could not start (or died) leaves the checkpoints to the writer, as SQLite does by default
    worker.on('error', () => { if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000'); });
    worker.unref();
    this.checkpointer = worker;
    this.db.pragma(`wal_autocheckpoint = ${WAL_BACKSTOP_PAGES}`);
  }

  async close(): Promise<void> {
    clearInterval(this.retentionTimer);
    const worker = this.checkpointer;
    this.checkpointer = undefined;
    if (worker) {
      // its connection closes first: the writer's close, the last one, then checkpoints and removes the log
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      // held by the event loop until it exits: a process with nothing else left (a script, a test) would otherwise end before the close does
      worker.ref();
      worker.postMessage('close');
      await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
      await worker.terminate();
    }
    if (this.db.open) this.db.close();
  }
}
