/**
 * Webhook push: each configured webhook gets its queue's messages in cursor order, one HTTP POST
 * per message, signed with HMAC-SHA256. The delivered cursor is saved after each message, so a
 * restart neither loses nor repeats more than the message in flight.
 *
 * Failures follow the gateway's one retry policy (core/backoff.ts), decided by the failure's type:
 * - transient (network error, timeout, 408, 429, 5xx): the same message is retried with exponential
 *   backoff and jitter (`retryInitial` doubling to `retryMax`), at least as late as the receiver's
 *   Retry-After, until the receiver takes it. New messages do not cut a backoff short.
 * - permanent (any other 4xx): the receiver has understood the message and will refuse it again.
 *   Retrying would block this webhook's queue for good, and every later alert with it, so the
 *   refusal is recorded (counted as a failure, an error log line, an audit entry
 *   `queue.webhook_refused` naming the cursor) and delivery moves on to the next cursor. The message
 *   stays in the queue's log, readable by HTTP pull.
 *
 * Headers: `X-Gateway-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`,
 * `X-Gateway-Timestamp` (epoch ms; reject old ones to stop replays), `X-Gateway-Queue`,
 * `X-Gateway-Cursor`, `X-Gateway-Event`.
 */
import { createHmac } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, Store } from '../../core/db/store.js';
import type { Migration } from '../../core/db/query.js';
import type { Logger } from '../../core/log.js';
import type { AuditLog } from '../../core/audit.js';
import { AttemptError, Backoff, httpAttemptError, networkAttemptError } from '../../core/backoff.js';
import { Wakeable, type TimerSource } from '../../core/wakeable.js';
import type { WebhookConfig } from '../config.js';
import type { QueueLog, QueueMessage } from '../queues.js';

export function signature(secret: string, timestamp: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

interface Row { cursor: number; event: string; payload: string }

interface Hook {
  config: WebhookConfig;
  cursor: number;
  backoff: Backoff;
  /** Waiting: for the queue's next message (a new message wakes it). Backoff: before a retry (only close() ends it early). */
  nap: Wakeable<'waiting' | 'backoff'>;
}

export interface WebhookCounters {
  delivered(id: string): void;
  /** Every failed attempt, transient or not. */
  failed(id: string): void;
  /** A message skipped because the receiver refused it for good. */
  refused?(id: string): void;
}

export interface WebhookOptions {
  /** Where refusals are written down: the gateway's audit log. */
  audit: Pick<AuditLog, 'record'>;
  /** Backoff jitter (tests). */
  random?: () => number;
  /** Signature timestamps, and "now" for a Retry-After given as a date (tests). */
  now?: () => number;
  /** The backoff's timers (tests fire them by hand). */
  timers?: TimerSource;
}

export interface WebhookTables {
  alert_webhooks: { id: string; queue: string; cursor: number };
}

export const WEBHOOK_MIGRATIONS: readonly Migration[] = [{
  // the SQLite DDL is the one existing databases ran (version 1 of 'alert-webhooks'): keep it as it is
  sqlite: 'CREATE TABLE alert_webhooks (id TEXT PRIMARY KEY, queue TEXT NOT NULL, cursor INTEGER NOT NULL) WITHOUT ROWID',
  postgres: 'CREATE TABLE alert_webhooks (id TEXT PRIMARY KEY, queue TEXT NOT NULL, cursor BIGINT NOT NULL)',
}];

/** The webhook cursors' queries, the same for both stores. */
export const webhookQueries = (q: Kysely<WebhookTables>) => ({
  cursor: (id: string) => q.selectFrom('alert_webhooks').select(['queue', 'cursor']).where('id', '=', id),
  saveCursor: (id: string, queue: string, cursor: number) => q.insertInto('alert_webhooks').values({ id, queue, cursor })
    .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ queue: eb.ref('excluded.queue'), cursor: eb.ref('excluded.cursor') }))),
});

export class WebhookDelivery {
  private readonly hooks: Hook[] = [];
  private closed = false;
  private readonly inflight = new Set<AbortController>();
  private readonly loops: Array<Promise<void>> = [];
  private readonly queries;
  private readonly audit: Pick<AuditLog, 'record'>;
  private readonly now: () => number;
  private readonly timers: TimerSource | undefined;

  /** Reads (or sets) each webhook's cursor; `start` begins delivering. */
  static async open(db: Database, queues: QueueLog, configs: readonly WebhookConfig[], log: Logger,
    counters: WebhookCounters, options: WebhookOptions): Promise<WebhookDelivery> {
    const store = db.store<WebhookTables>();
    await store.migrate('alert-webhooks', WEBHOOK_MIGRATIONS);
    const delivery = new WebhookDelivery(store, queues, log, counters, options);
    for (const config of configs) {
      const row = await store.get(delivery.queries.cursor(config.id));
      let cursor: number;
      if (row && row.queue === config.queue) cursor = row.cursor;
      else {
        cursor = config.from === 'now' ? await queues.head(config.queue) : 0;
        store.write(delivery.queries.saveCursor(config.id, config.queue, cursor));
      }
      const backoff = new Backoff({ initialDelayMs: config.retryInitial, maxDelayMs: config.retryMax, random: options.random });
      delivery.hooks.push({ config, cursor, backoff, nap: new Wakeable(options.timers) });
    }
    return delivery;
  }

  private constructor(private readonly store: Store<WebhookTables>, private readonly queues: QueueLog, private readonly log: Logger,
    private readonly counters: WebhookCounters, options: WebhookOptions) {
    this.queries = webhookQueries(store.q);
    this.audit = options.audit;
    this.now = options.now ?? Date.now;
    this.timers = options.timers;
  }

  /** Starts delivering (again, after `close`: cluster mode gives delivery to whichever node leads). */
  start(): void {
    this.closed = false;
    this.loops.length = 0;
    for (const h of this.hooks) {
      h.nap = new Wakeable(this.timers);
      this.loops.push(this.run(h));
    }
  }

  /** Lag per webhook (messages not yet delivered), for the metrics: against the queue heads this node has seen. */
  lag(): Array<{ id: string; lag: number }> {
    const heads = new Map(this.queues.headsSeen().map((h) => [h.queue, h.cursor]));
    return this.hooks.map((h) => ({ id: h.config.id, lag: Math.max(0, (heads.get(h.config.queue) ?? 0) - h.cursor) }));
  }

  readonly onMessage = (message: QueueMessage): void => this.wake(message.queue);

  /** The queue has new messages (appended here, or on another node): its idle webhooks read them. */
  wake(queue: string): void {
    for (const h of this.hooks) if (h.config.queue === queue && h.nap.sleeping === 'waiting') h.nap.wake();
  }

  private async run(h: Hook): Promise<void> {
    while (!this.closed) {
      try {
        await this.deliverBatch(h);
      } catch (err) {
        // a store error must not end delivery for good (nor become an unhandled rejection)
        this.log.error({ err, webhook: h.config.id }, 'webhook delivery loop failed; retrying');
        await h.nap.sleep(h.backoff.next(), 'backoff');
      }
    }
  }

  private async deliverBatch(h: Hook): Promise<void> {
    const rows = await this.queues.readRaw(h.config.queue, h.cursor, 100);
    if (rows.length === 0) {
      await h.nap.sleep(Infinity, 'waiting');
      return;
    }
    for (const row of rows) {
      if (!(await this.deliverOne(h, row))) return;
      h.cursor = row.cursor;
      if (this.store.open) this.store.write(this.queries.saveCursor(h.config.id, h.config.queue, h.cursor));
    }
  }

  /** Sends one message until it is taken or refused for good; false when closing. */
  private async deliverOne(h: Hook, row: Row): Promise<boolean> {
    const id = h.config.id;
    while (!this.closed) {
      let failure: AttemptError;
      try {
        await this.post(h, row);
        h.backoff.reset();
        this.counters.delivered(id);
        return true;
      } catch (err) {
        if (this.closed) return false;
        failure = err instanceof AttemptError ? err : networkAttemptError(err);
      }
      this.counters.failed(id);
      if (!failure.transient) {
        h.backoff.reset();
        this.refused(h, row, failure);
        return true;
      }
      const delay = h.backoff.next(failure.retryAfterMs);
      this.log.warn({ webhook: id, status: failure.status, err: failure.message, cursor: row.cursor, attempt: h.backoff.attempts, retryInMs: delay },
        'webhook delivery failed; retrying');
      await h.nap.sleep(delay, 'backoff');
    }
    return false;
  }

  /** A permanent refusal: written down, and the message is skipped. */
  private refused(h: Hook, row: Row, failure: AttemptError): void {
    const { id, queue } = h.config;
    let alertId: number | undefined;
    try { alertId = (JSON.parse(row.payload) as { alert?: { id?: number } }).alert?.id; } catch { /* the cursor identifies it anyway */ }
    const detail = { webhook: id, cursor: row.cursor, event: row.event, alertId, status: failure.status };
    this.counters.refused?.(id);
    this.log.error({ ...detail, queue }, 'webhook receiver refused an alert message for good; skipped it (it stays readable by HTTP pull)');
    this.audit.record(`webhook:${id}`, 'queue.webhook_refused', `queue:${queue}`, detail);
  }

  /** One POST; resolves when the receiver took it, throws an AttemptError otherwise. */
  private async post(h: Hook, row: Row): Promise<void> {
    const timestamp = String(this.now());
    const controller = new AbortController();
    this.inflight.add(controller);
    const timer = setTimeout(() => controller.abort(), h.config.timeout);
    let res: Response;
    try {
      res = await fetch(h.config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'community-iot-gateway',
          'x-gateway-signature': signature(h.config.secret, timestamp, row.payload),
          'x-gateway-timestamp': timestamp,
          'x-gateway-queue': h.config.queue,
          'x-gateway-cursor': String(row.cursor),
          'x-gateway-event': row.event,
        },
        body: row.payload,
        signal: controller.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
    } catch (err) {
      throw networkAttemptError(err);
    } finally {
      clearTimeout(timer);
      this.inflight.delete(controller);
    }
    if (!res.ok) throw httpAttemptError(res.status, res.headers.get('retry-after'), this.now());
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.inflight) c.abort();
    for (const h of this.hooks) h.nap.close();
    await Promise.allSettled(this.loops);
  }
}
