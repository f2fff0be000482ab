/**
 * Dead letters: every rejected message (or rejected object of a batch) is kept with the device,
 * topic, a coded reason, the field paths at fault and the first bytes of the payload. Bounded by
 * `deadLetterCap`: past it the oldest are deleted, and the deletions are counted.
 */
import { sql, type Generated, type Kysely } from 'kysely';
import type { Database, Store } from '../core/db/store.js';
import type { Migration } from '../core/db/query.js';

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
  // field protocols (protocols/): bytes refused before they reached a device's schema
  'bad_frame', // not a frame of the protocol: checksum, markers, length, truncated (GB/T 26875.3)
  'bad_signature', // a platform push whose signature or URL secret does not verify (NB-IoT)
  'unknown_device', // a well-formed message naming no registered device (IMEI, transmission device address)
  'undecodable', // a well-formed message the device model's decoder cannot map onto the kind's fields
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

export interface DeadLetterTables {
  dead_letters: {
    id: Generated<number>; received_at: number; device_id: string; topic: string; reason: string; message: string; issues: string;
    batch_index: number | null; payload: string;
  };
}

export const DEAD_LETTER_MIGRATIONS: readonly Migration[] = [{
  sqlite: `CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at INTEGER NOT NULL, device_id TEXT NOT NULL,
      topic TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL, issues TEXT NOT NULL, batch_index INTEGER, payload TEXT NOT NULL);
    CREATE INDEX dead_letters_device ON dead_letters (device_id, id);`,
  postgres: `CREATE TABLE dead_letters (id BIGSERIAL PRIMARY KEY, received_at BIGINT NOT NULL, device_id TEXT NOT NULL,
      topic TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL, issues TEXT NOT NULL, batch_index INTEGER, payload TEXT NOT NULL);
    CREATE INDEX dead_letters_device ON dead_letters (device_id, id);`,
}];

/** Rows per INSERT: one statement per chunk instead of one per letter (a malformed-payload storm is thousands a second). */
const INSERT_CHUNK = 64;

/** The dead letters' queries, the same for both stores. */
export const deadLetterQueries = (q: Kysely<DeadLetterTables>) => ({
  insert: (letters: readonly NewDeadLetter[]) => q.insertInto('dead_letters').values(letters.map((l) => ({
    received_at: l.receivedAt, device_id: l.deviceId, topic: l.topic, reason: l.reason, message: l.message,
    issues: JSON.stringify(l.issues), batch_index: l.index ?? null, payload: l.payload,
  }))),
  /** Keeps the newest `cap` (ids only grow, so the newest are the highest). */
  prune: (cap: number) => q.deleteFrom('dead_letters').where('id', '<=', sql<number>`(SELECT MAX(id) FROM dead_letters) - ${cap}`),
  list: (opts: { deviceIds?: readonly string[] | undefined; beforeId?: number | undefined; limit: number }) => {
    let s = q.selectFrom('dead_letters').selectAll();
    if (opts.deviceIds) s = s.where('device_id', 'in', opts.deviceIds);
    if (opts.beforeId !== undefined) s = s.where('id', '<', opts.beforeId);
    return s.orderBy('id', 'desc').limit(opts.limit);
  },
  count: () => q.selectFrom('dead_letters').select((eb) => eb.fn.countAll<number>().as('n')),
});

export class DeadLetterStore {
  private readonly queries;
  private sinceLastPrune = 0;

  static async open(db: Database, cap: number, onPruned: (n: number) => void): Promise<DeadLetterStore> {
    const store = db.store<DeadLetterTables>();
    await store.migrate('dead_letters', DEAD_LETTER_MIGRATIONS);
    return new DeadLetterStore(store, cap, onPruned);
  }

  private constructor(private readonly store: Store<DeadLetterTables>, private readonly cap: number, private readonly onPruned: (n: number) => void) {
    this.queries = deadLetterQueries(store.q);
  }

  /** Called inside the ingest group commit's transaction. */
  appendMany(letters: readonly NewDeadLetter[]): void {
    for (let i = 0; i < letters.length; i += INSERT_CHUNK) {
      this.store.write(this.queries.insert(i === 0 && letters.length <= INSERT_CHUNK ? letters : letters.slice(i, i + INSERT_CHUNK)));
    }
    this.sinceLastPrune += letters.length;
    // Pruning every insert would double the cost of a malformed-payload storm; every 1% of the cap is enough.
    if (this.sinceLastPrune >= Math.max(1, this.cap / 100)) {
      this.sinceLastPrune = 0;
      this.store.write(this.queries.prune(this.cap), ({ changes }) => { if (changes > 0) this.onPruned(changes); });
    }
  }

  async list(opts: { deviceIds?: readonly string[] | undefined; beforeId?: number | undefined; limit: number }): Promise<DeadLetter[]> {
    if (opts.deviceIds && opts.deviceIds.length === 0) return [];
    return (await this.store.all(this.queries.list(opts))).map((r) => ({
      id: r.id, receivedAt: r.received_at, deviceId: r.device_id, topic: r.topic,
      reason: r.reason as RejectReason, message: r.message, issues: JSON.parse(r.issues) as Issue[],
      ...(r.batch_index === null ? {} : { index: r.batch_index }), payload: r.payload,
    }));
  }

  async count(): Promise<number> {
    return Number((await this.store.get(this.queries.count()))?.n ?? 0);
  }
}
