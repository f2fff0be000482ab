/**
 * The agency queues: one durable, ordered log per queue (market-supervision, fire-service,
 * property/{companyId}, maintenance/{unitId}). Each message has a cursor, monotonic per queue and
 * never reused (the head is kept apart from the messages, so pruning old messages cannot rewind
 * it). Messages are appended inside the ledger's transaction and handed to the live consumers
 * (MQTT, SSE, webhooks) only after that transaction has committed.
 */
import { sql, type Kysely } from 'kysely';
import type { Migration } from '../core/db/query.js';
import type { Awaitable, Database, Store } from '../core/db/store.js';
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
  /** Moves the queue's head one on (a new queue starts at 1); the row stays locked until the commit, so appends take turns. */
  advanceHead: (queue: string) => q.insertInto('alert_queue_heads').values({ queue, cursor: 1 })
    .onConflict((oc) => oc.column('queue').doUpdateSet((eb) => ({ cursor: eb(eb.ref('alert_queue_heads.cursor'), '+', 1) }))),
  /**
   * The message at the head just advanced. Its cursor is the database's, so that a queue stays
   * gap-free and ordered whichever node appends; the stored JSON starts with it (`rest` is the
   * message's JSON without its opening brace).
   */
  insertAtHead: (queue: string, at: number, event: string, alertId: number, rest: string) => q.insertInto('alert_queue')
    .columns(['queue', 'cursor', 'at', 'event', 'alert_id', 'payload'])
    .expression((eb) => eb.selectFrom('alert_queue_heads').select((s) => [
      // typed: PostgreSQL reads a bare parameter in a select list as text
      'queue', 'cursor', sql<number>`CAST(${at} AS BIGINT)`.as('at'), sql<string>`CAST(${event} AS TEXT)`.as('event'),
      sql<number>`CAST(${alertId} AS BIGINT)`.as('alert_id'),
      sql<string>`'{"cursor":' || ${s.ref('cursor')} || ',' || ${rest}`.as('payload'),
    ]).where('queue', '=', queue))
    .returning('cursor'),
  head: (queue: string) => q.selectFrom('alert_queue_heads').select('cursor').where('queue', '=', queue),
  read: (queue: string, after: number, limit: number) => q.selectFrom('alert_queue').select('payload')
    .where('queue', '=', queue).where('cursor', '>', after).orderBy('cursor').limit(limit),
  readRaw: (queue: string, after: number, limit: number) => q.selectFrom('alert_queue').select(['cursor', 'event', 'payload'])
    .where('queue', '=', queue).where('cursor', '>', after).orderBy('cursor').limit(limit),
  prune: (olderThan: number) => q.deleteFrom('alert_queue').where('at', '<', olderThan),
  heads: () => q.selectFrom('alert_queue_heads').select(['queue', 'cursor']).orderBy('queue'),
});

/** A message appended in the open unit of work: its cursor is known once the store has run the append. */
interface Appended { message: QueueMessage; rest: string }

export class QueueLog {
  /** Newest cursor per queue this node has seen committed (for the metrics between two reads of the store). */
  private readonly knownHeads = new Map<string, number>();
  private pending: Appended[] = [];
  private readonly listeners: LiveListener[] = [];
  private readonly queries;

  static async open(db: Database, onError: (err: unknown, what: string) => void): Promise<QueueLog> {
    const store = db.store<QueueTables>();
    await store.migrate('alert-queues', QUEUE_MIGRATIONS);
    const log = new QueueLog(store, onError);
    for (const h of await store.all(log.queries.heads())) log.knownHeads.set(h.queue, h.cursor);
    return log;
  }

  private constructor(private readonly store: Store<QueueTables>, private readonly onError: (err: unknown, what: string) => void) {
    this.queries = queueQueries(store.q);
  }

  /** The cursor of the newest message of a queue (0 if none). */
  async head(queue: string): Promise<number> {
    return (await this.store.get(this.queries.head(queue)))?.cursor ?? 0;
  }

  /**
   * Appends inside the caller's unit of work; live consumers see it after `flushLive`, with the
   * cursor the store gave it.
   */
  append(queue: string, event: QueueEvent, at: number, alert: Alert, extra?: Extra, onCursor?: (cursor: number) => void): void {
    const message: QueueMessage = { cursor: 0, queue, event, at, alert };
    if (extra?.actor) message.actor = extra.actor;
    if (extra?.note) message.note = extra.note;
    if (extra?.reason) message.reason = extra.reason;
    const { cursor: _placeholder, ...body } = message;
    const rest = JSON.stringify(body).slice(1);
    const appended: Appended = { message, rest };
    this.store.write(this.queries.advanceHead(queue));
    this.store.write(this.queries.insertAtHead(queue, at, event, alert.id, rest), ({ rows }) => {
      message.cursor = Number((rows[0] as { cursor: number }).cursor);
      onCursor?.(message.cursor);
    });
    this.pending.push(appended);
  }

  read(queue: string, after: number, limit: number): Awaitable<QueueMessage[]> {
    return then(this.store.all(this.queries.read(queue, after, limit)), (rows) => rows.map((r) => JSON.parse(r.payload) as QueueMessage));
  }

  /** Stored messages as they went out (JSON), with their cursor and event, for streaming consumers. */
  readRaw(queue: string, after: number, limit: number): Awaitable<Array<{ cursor: number; event: string; payload: string }>> {
    return this.store.all(this.queries.readRaw(queue, after, limit));
  }

  onMessage(listener: LiveListener): void { this.listeners.push(listener); }

  /** Takes the messages appended so far; the returned function hands them to the live consumers, in order (after their commit). */
  takePending(): () => void {
    if (this.pending.length === 0) return NOTHING;
    const batch = this.pending;
    this.pending = [];
    return () => this.announce(batch);
  }

  private announce(batch: readonly Appended[]): void {
    for (const { message, rest } of batch) {
      const json = `{"cursor":${message.cursor},${rest}`;
      if (message.cursor > (this.knownHeads.get(message.queue) ?? 0)) this.knownHeads.set(message.queue, message.cursor);
      for (const l of this.listeners) {
        try { l(message, json); } catch (err) { this.onError(err, 'alert queue consumer failed'); }
      }
    }
  }

  /** After a rollback: forget what was appended. */
  discard(): void {
    this.pending = [];
  }

  prune(olderThan: number, then?: (n: number) => void): void {
    this.store.write(this.queries.prune(olderThan), ({ changes }) => then?.(changes));
  }

  /** Every queue that has had a message, with its head cursor (cheap: one row per queue, not a count of messages). */
  heads(): Awaitable<Array<{ queue: string; cursor: number }>> { return this.store.all(this.queries.heads()); }

  /** The heads this node has seen committed, without asking the store (for the metrics). */
  headsSeen(): Array<{ queue: string; cursor: number }> {
    return [...this.knownHeads].map(([queue, cursor]) => ({ queue, cursor }));
  }
}

const NOTHING = () => {};

function then<T, U>(v: Awaitable<T>, fn: (v: T) => U): Awaitable<U> {
  return v instanceof Promise ? v.then(fn) : fn(v);
}
