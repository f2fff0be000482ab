/**
 * The agency queues: one durable, ordered log per queue (market-supervision, fire-service,
 * property/{companyId}, maintenance/{unitId}). Each message has a cursor, monotonic per queue and
 * never reused (the head is kept apart from the messages, so pruning old messages cannot rewind
 * it). Messages are appended inside the ledger's transaction and handed to the live consumers
 * (MQTT, SSE, webhooks) only after that transaction has committed.
 */
import { migrate, type Db } from '../core/db/sqlite.js';
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


export class QueueLog {
  private readonly headCache = new Map<string, number>();
  private pending: Array<{ message: QueueMessage; json: string }> = [];
  private readonly listeners: LiveListener[] = [];
  private readonly stmts;

  constructor(private readonly db: Db, private readonly onError: (err: unknown, what: string) => void) {
    migrate(db, 'alert-queues', [
      `CREATE TABLE alert_queue (queue TEXT NOT NULL, cursor INTEGER NOT NULL, at INTEGER NOT NULL, event TEXT NOT NULL,
         alert_id INTEGER NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (queue, cursor)) WITHOUT ROWID;
       CREATE INDEX alert_queue_at ON alert_queue (at);
       CREATE TABLE alert_queue_heads (queue TEXT PRIMARY KEY, cursor INTEGER NOT NULL) WITHOUT ROWID;`,
    ]);
    this.stmts = {
      insert: db.prepare('INSERT INTO alert_queue (queue, cursor, at, event, alert_id, payload) VALUES (?, ?, ?, ?, ?, ?)'),
      setHead: db.prepare('INSERT INTO alert_queue_heads (queue, cursor) VALUES (?, ?) ON CONFLICT (queue) DO UPDATE SET cursor = excluded.cursor'),
      head: db.prepare('SELECT cursor FROM alert_queue_heads WHERE queue = ?'),
      read: db.prepare('SELECT payload FROM alert_queue WHERE queue = ? AND cursor > ? ORDER BY cursor LIMIT ?'),
      readRaw: db.prepare('SELECT cursor, event, payload FROM alert_queue WHERE queue = ? AND cursor > ? ORDER BY cursor LIMIT ?'),
      prune: db.prepare('DELETE FROM alert_queue WHERE at < ?'),
      heads: db.prepare('SELECT queue, cursor FROM alert_queue_heads ORDER BY queue'),
    };
  }

  /** The cursor of the newest message of a queue (0 if none). */
  head(queue: string): number {
    let h = this.headCache.get(queue);
    if (h === undefined) {
      h = (this.stmts.head.get(queue) as { cursor: number } | undefined)?.cursor ?? 0;
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
    this.stmts.insert.run(queue, cursor, at, event, alert.id, json);
    this.stmts.setHead.run(queue, cursor);
    this.headCache.set(queue, cursor);
    this.pending.push({ message, json });
    return message;
  }

  read(queue: string, after: number, limit: number): QueueMessage[] {
    return (this.stmts.read.all(queue, after, limit) as Array<{ payload: string }>).map((r) => JSON.parse(r.payload) as QueueMessage);
  }

  /** Stored messages as they went out (JSON), with their cursor and event, for streaming consumers. */
  readRaw(queue: string, after: number, limit: number): Array<{ cursor: number; event: string; payload: string }> {
    return this.stmts.readRaw.all(queue, after, limit) as Array<{ cursor: number; event: string; payload: string }>;
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

  prune(olderThan: number): number { return this.stmts.prune.run(olderThan).changes; }

  /** Every queue that has had a message, with its head cursor (cheap: one row per queue, not a count of messages). */
  heads(): Array<{ queue: string; cursor: number }> { return this.stmts.heads.all() as Array<{ queue: string; cursor: number }>; }
}
