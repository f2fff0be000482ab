/**
 * The embedded time-series store, used when no InfluxDB is configured: a SQLite table in
 * DATA_DIR/timeseries.sqlite with a retention period. A point is one row (device, measurement,
 * ts, sub, fields as JSON); appends are one transaction per ingest group, which SQLite in WAL mode
 * commits at a few hundred thousand rows per second. Like InfluxDB, one point per series and time:
 * a message retransmitted after a crash (stored, but its PUBACK lost) replaces itself instead of
 * being stored twice.
 */
import { openDatabase, migrate, type Db } from '../../gateway/store.js';
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

export class EmbeddedWriter implements TimeSeriesWriter {
  readonly backend = 'embedded' as const;
  private readonly db: Db;
  private readonly insert;
  private readonly insertMany: (points: readonly Point[]) => void;
  private retentionTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: EmbeddedOptions) {
    this.now = opts.now ?? Date.now;
    this.db = openDatabase(opts.dataDir, 'timeseries.sqlite');
    migrate(this.db, 'timeseries', [
      `CREATE TABLE points (device TEXT NOT NULL, measurement TEXT NOT NULL, ts INTEGER NOT NULL, sub INTEGER NOT NULL, fields TEXT NOT NULL);
       CREATE UNIQUE INDEX points_series_time ON points (device, measurement, ts, sub);
       CREATE INDEX points_time ON points (ts);`,
    ]);
    this.insert = this.db.prepare('INSERT OR REPLACE INTO points (device, measurement, ts, sub, fields) VALUES (?, ?, ?, ?, ?)');
    this.insertMany = this.db.transaction((points: readonly Point[]) => {
      for (const p of points) {
        const fields = p.tags.type === undefined ? p.fields : { type: p.tags.type, ...p.fields };
        this.insert.run(p.tags.device, p.measurement, p.ts, p.sub ?? 0, JSON.stringify(fields));
      }
    });
  }

  async start(): Promise<void> {
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

  async close(): Promise<void> {
    clearInterval(this.retentionTimer);
    if (this.db.open) this.db.close();
  }
}
