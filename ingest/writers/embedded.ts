/**
 * The embedded time-series store, used when no InfluxDB is configured: SQLite files in DATA_DIR with
 * a retention period. A point is one row (device, measurement, ts, sub, fields as JSON). Like
 * InfluxDB, one point per series and time: a message retransmitted after a crash (stored, but its
 * PUBACK lost) replaces itself instead of being stored twice.
 *
 * Two stages, because of what a B-tree costs. The table the queries need is indexed by series then
 * time, and every series appends at its own place in that index: a commit of a group dirties about
 * one index page per device that sent something, each written whole to the log. Measured here, an
 * append cost 4 µs per row with 50 devices and 17 µs with 5,000, on the ingest hot path.
 *
 * - `timeseries-recent.sqlite` takes the appends, in arrival order, in one of two unindexed tables
 *   (`rows_0`, `rows_1`): about 1 µs per row whatever the number of devices. Its commit is what a
 *   device's acknowledgement waits for, as before.
 * - A worker thread, on connections of its own, merges the table the writer is not filling into
 *   `timeseries.sqlite`'s indexed `points` every MERGE_INTERVAL_MS, sorted by series (each index page
 *   written once per merge rather than once per group), then empties it; the writer then fills it
 *   again when the other is merged. The worker also runs the retention deletes and the checkpoints
 *   (copying each log into its database file), so nothing of that runs on the event loop.
 * - Queries read `points` and both recent tables; a row in both (merged, its table not yet emptied,
 *   or retransmitted) counts once, the newest copy winning.
 * - At start, what a stop or a crash left in the recent tables is merged before anything else.
 *
 * Should the worker fail, the writer merges and checkpoints itself, as it did before there was one.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { openDatabase, migrate, type Db } from '../../core/db/sqlite.js';
import { CHECKPOINT_INTERVAL_MS, checkpointsElsewhere, checkpointsHere } from '../../core/db/checkpointer.js';
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
/** How often the recent rows are merged into the indexed table (and so the most a query scans of them: two intervals' rows). */
const MERGE_INTERVAL_MS = 1000;

const RECENT_FILE = 'timeseries-recent.sqlite';
const COLUMNS = 'device, measurement, ts, sub, fields';
const recentTable = (k: 0 | 1) => `recent.rows_${k}`;

/**
 * One merge, the same on the worker's connection and (should the worker fail) on the writer's:
 * sorted by series, later arrivals last so that they replace earlier copies of the same point.
 */
function mergeSql(k: 0 | 1): string[] {
  return [
    `INSERT OR REPLACE INTO main.points (${COLUMNS}) SELECT ${COLUMNS} FROM ${recentTable(k)} ORDER BY device, measurement, ts, sub, rowid`,
    `DELETE FROM ${recentTable(k)}`,
  ];
}

/**
 * The worker's code (an `eval` worker: no separate file, so it runs the same from the built output
 * and from the TypeScript sources under test). It answers each merge when both its transactions are
 * committed; checkpoints are PASSIVE: they never wait for, nor block, the writer.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 5000');
db.prepare('ATTACH DATABASE ? AS recent').run(workerData.recentFile);
const merges = workerData.merges.map((sqls) => sqls.map((sql) => db.prepare(sql)));
const expire = db.prepare('DELETE FROM main.points WHERE ts < ?');
const timer = setInterval(() => {
  for (const schema of ['main', 'recent']) {
    try { db.pragma(schema + '.wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: next time */ }
  }
}, workerData.checkpointIntervalMs);
parentPort.on('message', (m) => {
  if (m.merge !== undefined) {
    try {
      const [insert, empty] = merges[m.merge];
      const moved = db.transaction(() => insert.run().changes)();
      db.transaction(() => empty.run())();
      parentPort.postMessage({ merged: m.merge, rows: moved });
    } catch (err) {
      parentPort.postMessage({ failed: m.merge, message: String(err && err.message || err) });
    }
  } else if (m.expire !== undefined) {
    try { expire.run(m.expire); } catch { /* next time */ }
  } else if (m.close) {
    clearInterval(timer);
    try { db.close(); } catch { /* already closed */ }
    parentPort.close();
  }
});
`;

function setRow(args: unknown[], at: number, p: Point): void {
  args[at] = p.tags.device;
  args[at + 1] = p.measurement;
  args[at + 2] = p.ts;
  args[at + 3] = p.sub ?? 0;
  args[at + 4] = JSON.stringify(p.tags.type === undefined ? p.fields : { type: p.tags.type, ...p.fields });
}

/** A series' points in a time range, as every query reads them (from `points` and from each recent table). */
const SERIES_RANGE = 'WHERE device = ? AND measurement = ? AND ts >= ? AND ts <= ?';

/** A recent table's statements: the appends, and the query's read of it. */
interface RecentTable {
  one: ReturnType<Db['prepare']>;
  chunk: ReturnType<Db['prepare']>;
  read: ReturnType<Db['prepare']>;
}

export class EmbeddedWriter implements TimeSeriesWriter {
  readonly backend = 'embedded' as const;
  private readonly db: Db;
  private readonly recent: [RecentTable, RecentTable];
  private readonly readMerged: ReturnType<Db['prepare']>;
  private readonly insertMany: (points: readonly Point[]) => void;
  /** Reused argument array of the chunked insert (no allocation per batch). */
  private readonly chunkArgs: unknown[] = new Array(CHUNK * 5);
  /** The recent table the appends go to; the other one is empty or being merged. */
  private filling: 0 | 1 = 0;
  /** Rows appended to `filling` since it was last emptied (nothing to merge when 0). */
  private filled = 0;
  /** The table the worker is merging now, if any. */
  private merging: 0 | 1 | undefined;
  private mergeTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private worker: Worker | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: EmbeddedOptions) {
    this.now = opts.now ?? Date.now;
    this.db = openDatabase(opts.dataDir, 'timeseries.sqlite');
    migrate(this.db, 'timeseries', [
      `CREATE TABLE points (device TEXT NOT NULL, measurement TEXT NOT NULL, ts INTEGER NOT NULL, sub INTEGER NOT NULL, fields TEXT NOT NULL);
       CREATE UNIQUE INDEX points_series_time ON points (device, measurement, ts, sub);
       CREATE INDEX points_time ON points (ts);`,
    ]);
    this.db.prepare('ATTACH DATABASE ? AS recent').run(join(opts.dataDir, RECENT_FILE));
    this.db.pragma('recent.journal_mode = WAL');
    // as the main file (core/db/sqlite.ts): a committed append survives a process crash
    this.db.pragma('recent.synchronous = NORMAL');
    const recent = (k: 0 | 1): RecentTable => {
      this.db.exec(`CREATE TABLE IF NOT EXISTS ${recentTable(k)} (device TEXT NOT NULL, measurement TEXT NOT NULL, ts INTEGER NOT NULL, sub INTEGER NOT NULL, fields TEXT NOT NULL)`);
      const insert = `INSERT INTO ${recentTable(k)} (${COLUMNS}) VALUES `;
      return {
        one: this.db.prepare(insert + '(?, ?, ?, ?, ?)'),
        // one statement per CHUNK rows: a statement call costs more than a row, so this roughly halves the cost
        chunk: this.db.prepare(insert + Array(CHUNK).fill('(?, ?, ?, ?, ?)').join(', ')),
        read: this.db.prepare(`SELECT ts, sub, fields FROM ${recentTable(k)} ${SERIES_RANGE} ORDER BY rowid`),
      };
    };
    this.recent = [recent(0), recent(1)];
    this.readMerged = this.db.prepare(`SELECT ts, sub, fields FROM main.points ${SERIES_RANGE} ORDER BY ts, sub LIMIT ?`);
    this.insertMany = this.db.transaction((points: readonly Point[]) => {
      const { one, chunk } = this.recent[this.filling];
      const args = this.chunkArgs;
      let i = 0;
      for (; i + CHUNK <= points.length; i += CHUNK) {
        for (let j = 0; j < CHUNK; j++) setRow(args, j * 5, points[i + j]!);
        chunk.run(args);
      }
      const row: unknown[] = new Array(5);
      for (; i < points.length; i++) {
        setRow(row, 0, points[i]!);
        one.run(row);
      }
    });
    // what a stop or a crash left unmerged, before the worker or any append
    this.mergeHere(0);
    this.mergeHere(1);
  }

  async start(): Promise<void> {
    this.startWorker();
    this.expire();
    this.retentionTimer = setInterval(() => this.expire(), this.opts.retentionCheckMs ?? 3600_000);
    this.retentionTimer.unref();
    this.mergeTimer = setInterval(() => this.mergeFilled(), MERGE_INTERVAL_MS);
    this.mergeTimer.unref();
  }

  append(points: readonly Point[]): void {
    const started = performance.now();
    this.insertMany(points);
    this.filled += points.length;
    this.opts.onWritten?.(points.length, (performance.now() - started) / 1000);
  }

  /** Deletes rows past the retention period (on the worker when there is one). */
  private expire(): void {
    const cutoff = this.now() - this.opts.retentionDays * 86_400_000;
    if (this.worker) this.worker.postMessage({ expire: cutoff });
    else this.db.prepare('DELETE FROM main.points WHERE ts < ?').run(cutoff);
  }

  /** Hands the table being filled to the merge and fills the other one, unless the last merge is still running. */
  private mergeFilled(): void {
    if (this.merging !== undefined || this.filled === 0 || !this.db.open) return;
    const k = this.filling;
    this.filling = k === 0 ? 1 : 0;
    this.filled = 0;
    if (this.worker) {
      this.merging = k;
      this.worker.postMessage({ merge: k });
    } else {
      this.mergeHere(k);
    }
  }

  /** A merge on the writer's own connection: at start, and when there is no worker. */
  private mergeHere(k: 0 | 1): void {
    const [insert, empty] = mergeSql(k).map((sql) => this.db.prepare(sql));
    this.db.transaction(() => insert!.run())();
    this.db.transaction(() => empty!.run())();
  }

  async query(q: TelemetryQuery): Promise<TelemetryRow[]> {
    const args = [q.deviceId, q.measurement, q.from, q.to];
    type Row = { ts: number; sub: number; fields: string };
    // The recent rows first, then the merged ones: a row the worker moves in between is then read in
    // one or the other (it is inserted into `points` before its recent table is emptied).
    // The recent ones (at most two merge intervals of them) are read whole, the older table first so
    // that the newest copy of a point wins; the merged rows hold one point per (ts, sub): the first
    // `limit` of them are enough.
    const recent: Row[] = [];
    for (const k of [this.filling === 0 ? 1 : 0, this.filling] as const) {
      recent.push(...(this.recent[k].read.all(args) as Row[]));
    }
    const merged = this.readMerged.all([...args, q.limit]) as Row[];
    let rows = merged;
    if (recent.length > 0) {
      const byKey = new Map<string, Row>();
      for (const r of [...merged, ...recent]) byKey.set(`${r.ts}:${r.sub}`, r);
      rows = [...byKey.values()].sort((a, b) => a.ts - b.ts || a.sub - b.sub).slice(0, q.limit);
    }
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

  private startWorker(): void {
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: {
        file: join(this.opts.dataDir, 'timeseries.sqlite'),
        recentFile: join(this.opts.dataDir, RECENT_FILE),
        module: createRequire(import.meta.url).resolve('better-sqlite3'),
        merges: [mergeSql(0), mergeSql(1)],
        checkpointIntervalMs: CHECKPOINT_INTERVAL_MS,
      },
    });
    // A failed merge leaves its table as it was: the writer fills it again after the next switch and
    // a later merge takes its rows with the new ones (a copy already in `points` is replaced by itself).
    worker.on('message', () => { this.merging = undefined; });
    // a worker that could not start (or died) leaves merging and checkpoints to the writer, as before it existed
    const orphaned = () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.merging = undefined;
      checkpointsHere(this.db);
    };
    worker.on('error', orphaned);
    worker.on('exit', orphaned);
    worker.unref();
    this.worker = worker;
    checkpointsElsewhere(this.db);
  }

  async close(): Promise<void> {
    clearInterval(this.retentionTimer);
    clearInterval(this.mergeTimer);
    const worker = this.worker;
    this.worker = undefined;
    if (worker) {
      // its connection closes first: the writer's close, the last one, then checkpoints and removes the logs
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      // held by the event loop until it exits: a process with nothing else left (a script, a test) would otherwise end before the close does
      worker.ref();
      // after the merge it may be running: messages are taken in order
      worker.postMessage({ close: true });
      await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 5000).unref())]);
      await worker.terminate();
    }
    if (this.db.open) this.db.close();
  }
}
