/**
 * Dead letters: every rejected message (or rejected object of a batch) is kept with the device,
 * topic, a coded reason, the field paths at fault and the first bytes of the payload. Bounded by
 * `deadLetterCap`: past it the oldest are deleted, and the deletions are counted.
 */
import { migrate, type Db } from '../core/store.js';

export const REJECT_REASONS = [
  'not_json', // payload is not UTF-8 JSON
  'not_object', // JSON, but not an object or an array of objects
  'schema', // fails the kind's schema (see issues for field paths)
  'too_large', // payload above ingest.maxPayloadBytes
  'too_deep', // arrays/objects nested deeper than ingest.maxDepth: the whole message, found before parsing
  'batch_too_large', // more objects than ingest.maxBatchObjects
  'future_timestamp', // ts beyond now + ingest.maxFutureMs
  'stale_timestamp', // ts older than now - ingest.maxPastMs
  'topic_not_allowed', // a topic this device may not publish to
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface Issue { path: string; message: string }

export interface DeadLetter {
  id: number;
  receivedAt: number;
  deviceId: string;
  topic: string;
  reason: RejectReason;
  message: string;
  issues: Issue[];
  /** Index of the object in a batch message, when the message was an array. */
  index?: number | undefined;
  /** First bytes of the payload (or a bounded JSON copy of the rejected batch object), as text. */
  payload: string;
}

export type NewDeadLetter = Omit<DeadLetter, 'id'>;

export class DeadLetterStore {
  private readonly insert;
  private readonly prune;
  private sinceLastPrune = 0;

  constructor(private readonly db: Db, private readonly cap: number, private readonly onPruned: (n: number) => void) {
    migrate(db, 'dead_letters', [
      `CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at INTEGER NOT NULL, device_id TEXT NOT NULL,
         topic TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL, issues TEXT NOT NULL, batch_index INTEGER, payload TEXT NOT NULL);
       CREATE INDEX dead_letters_device ON dead_letters (device_id, id);`,
    ]);
    this.insert = db.prepare(`INSERT INTO dead_letters (received_at, device_id, topic, reason, message, issues, batch_index, payload)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    this.prune = db.prepare('DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?');
  }

  /** Called inside the ingest group commit's transaction. */
  appendMany(letters: readonly NewDeadLetter[]): void {
    for (const l of letters) {
      this.insert.run(l.receivedAt, l.deviceId, l.topic, l.reason, l.message, JSON.stringify(l.issues), l.index ?? null, l.payload);
    }
    this.sinceLastPrune += letters.length;
    // Pruning every insert would double the cost of a malformed-payload storm; every 1% of the cap is enough.
    if (this.sinceLastPrune >= Math.max(1, this.cap / 100)) {
      this.sinceLastPrune = 0;
      const n = this.prune.run(this.cap).changes;
      if (n > 0) this.onPruned(n);
    }
  }

  list(opts: { deviceIds?: readonly string[] | undefined; beforeId?: number | undefined; limit: number }): DeadLetter[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.deviceIds) {
      if (opts.deviceIds.length === 0) return [];
      where.push(`device_id IN (${opts.deviceIds.map(() => '?').join(',')})`);
      args.push(...opts.deviceIds);
    }
    if (opts.beforeId !== undefined) { where.push('id < ?'); args.push(opts.beforeId); }
    const sql = `SELECT * FROM dead_letters ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, opts.limit) as Array<Record<string, unknown>>;
    return rows.map((r) => ({
      id: r.id as number, receivedAt: r.received_at as number, deviceId: r.device_id as string, topic: r.topic as string,
      reason: r.reason as RejectReason, message: r.message as string, issues: JSON.parse(r.issues as string) as Issue[],
      ...(r.batch_index === null ? {} : { index: r.batch_index as number }), payload: r.payload as string,
    }));
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM dead_letters').get() as { n: number }).n;
  }
}
