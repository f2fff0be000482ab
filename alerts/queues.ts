/**
 * The agency queues: one durable, ordered log per queue (market-supervision, fire-service,
 * property/{companyId}, maintenance/{unitId}). Each message has a cursor, monotonic per queue and
 * never reused (the head is kept apart from the messages, so pruning old messages cannot rewind
 * it). Messages are appended inside the ledger's transaction and handed to the live consumers
 * (MQTT, SSE, webhooks) only after that transaction has committed.
 */
import type { Kysely } from 'kysely';
import { SqliteStore, type Db } from '../core/db/sqlite.js';
import type { Migration } from '../core/db/query.js';
import type { Alert } from './model.js';

export const QUEUE_EVENTS = ['raised', 'updated', 'escalated', 'acknowledged', 'dispatched', 'resolved', 'closed'] as const;
export type QueueEvent = (typeof QUEUE_EVENTS)[number];

export interface QueueMessage {
  cursor: number;
  queue: string;
  event: QueueEvent;
  at: number;
  /** The alert as it is after this change (without its history). */
  alert: Alert;
  actor?: string | undefined;
  note?: string | undefined;
  /** Why, for system changes: condition_ended, acknowledge_overdue, resolve_overdue, corroborated, verify_window_passed, dismissed, ... */
  reason?: string | undefined;
}

export interface Extra { actor?: string | undefined; note?: string | undefined; reason?: string | undefined }

export type LiveListener = (message: QueueMessage, json: string) => void;

export interface QueueTables {
  alert_queue: { queue: string; cursor: number; at: number; event: string; alert_id: number; payload: string };
  alert_queue_heads: { queue: string; cursor: number };
}

export const QUEUE_MIGRATIONS: readonly Migration[] = [{
  // the SQLite DDL is the one existing databases ran (version 1 of 'alert-queues'): keep it as it is
  sqlite: `CREATE TABLE alert_queue (queue TEXT NOT NULL, cursor INTEGER NOT NULL, at INTEGER NOT NULL, event TEXT NOT NULL,
         alert_id INTEGER NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (queue, cursor)) WITHOUT ROWID;
       CREATE INDEX alert_queue_at ON alert_queue (at);
       CREATE TABLE alert_queue_heads (queue TEXT PRIMARY KEY, cursor INTEGER NOT NULL) WITHOUT ROWID;`,
  postgres: `CREATE TABLE alert_queue (queue TEXT NOT NULL, cursor BIGINT NOT NULL, at BIGINT NOT NULL, event TEXT NOT NULL,
         alert_id BIGINT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (queue, cursor));
       CREATE INDEX alert_queue_at ON alert_queue (at);
       CREATE TABLE alert_queue_heads (queue TEXT PRIMARY KEY, cursor BIGINT NOT NULL);`,
}];

/** The queues' queries, the same for both stores. */
export const queueQueries = (q: Kysely<QueueTables>) => ({
  insert: (row: QueueTables['alert_queue']) => q.insertInto('alert_queue').values(row),
  setHead: (queue: string, cursor: number) => q.insertInto('alert_queue_heads').values({ queue, cursor })
    .onConflict((oc) => oc.column('queue').doUpdateSet((eb) => ({ cursor: eb.ref('excluded.cursor') }))),
  head: (queue: string) => q.selectFrom('alert_queue_heads').select('cursor').where('queue', '=', queue),
  read: (queue: string, after: number, limit: number) => q.selectFrom('alert_queue').select('payload')
    .where('queue', '=', queue).where('cursor', '>', after).orderBy('cursor').limit(limit),
  readRaw: (queue: string, after: number, limit: number) => q.selectFrom('alert_queue').select(['cursor', 'event', 'payload'])
    .where('queue', '=', queue).where('cursor', '>', after).orderBy('cursor').limit(limit),
  prune: (olderThan: number) => q.deleteFrom('alert_queue').where('at', '<', olderThan),
  heads: () => q.selectFrom('alert_queue_heads').select(['queue', 'cursor']).orderBy('queue'),
});

export class QueueLog {
  private readonly headCache = new Map<string, number>();
  private pending: Array<{ message: QueueMessage; json: string }> = [];
  private readonly listeners: LiveListener[] = [];
  private readonly store: SqliteStore<QueueTables>;
  private readonly queries;

  constructor(db: Db, private readonly onError: (err: unknown, what: string) => void) {
    this.store = new SqliteStore<QueueTables>(db);
    this.store.migrate('alert-queues', QUEUE_MIGRATIONS);
    this.queries = queueQueries(this.store.q);
  }

  /** The cursor of the newest message of a queue (0 if none). */
  head(queue: string): number {
    let h = this.headCache.get(queue);
    if (h === undefined) {
      h = this.store.get(this.queries.head(queue))?.cursor ?? 0;
      this.headCache.set(queue, h);
    }
    return h;
  }

  /** Appends inside the caller's transaction; live consumers see it after `flushLive`. */
  append(queue: string, event: QueueEvent, at: number, alert: Alert, extra?: Extra): QueueMessage {
    const cursor = this.head(queue) + 1;
    const message: QueueMessage = { cursor, queue, event, at, alert };
    if (extra?.actor) message.actor = extra.actor;
    if (extra?.note) message.note = extra.note;
    if (extra?.reason) message.reason = extra.reason;
    const json = JSON.stringify(message);
    this.store.run(this.queries.insert({ queue, cursor, at, event, alert_id: alert.id, payload: json }));
    this.store.run(this.queries.setHead(queue, cursor));
    this.headCache.set(queue, cursor);
    this.pending.push({ message, json });
    return message;
  }

  read(queue: string, after: number, limit: number): QueueMessage[] {
    return this.store.all(this.queries.read(queue, after, limit)).map((r) => JSON.parse(r.payload) as QueueMessage);
  }

  /** Stored messages as they went out (JSON), with their cursor and event, for streaming consumers. */
  readRaw(queue: string, after: number, limit: number): Array<{ cursor: number; event: string; payload: string }> {
    return this.store.all(this.queries.readRaw(queue, after, limit));
  }

  onMessage(listener: LiveListener): void { this.listeners.push(listener); }

  /** After a commit: hands the new messages to the live consumers, in order. */
  flushLive(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    for (const { message, json } of batch) {
      for (const l of this.listeners) {
        try { l(message, json); } catch (err) { this.onError(err, 'alert queue consumer failed'); }
      }
    }
  }

  /** After a rollback: forget what was appended (cursors are read again from the store). */
  discard(): void {
    this.pending = [];
    this.headCache.clear();
  }

  prune(olderThan: number): number { return this.store.run(this.queries.prune(olderThan)).changes; }

  /** Every queue that has had a message, with its head cursor (cheap: one row per queue, not a count of messages). */
  heads(): Array<{ queue: string; cursor: number }> { return this.store.all(this.queries.heads()); }
}
