/**
 * Webhook push: each configured webhook gets its queue's messages in cursor order, one HTTP POST
 * per message, signed with HMAC-SHA256. A failed delivery (network error, timeout, non-2xx) is
 * retried with exponential backoff and jitter until the receiver takes it; the delivered cursor is
 * saved after each success, so a restart neither loses nor repeats more than the message in flight.
 *
 * Headers: `X-Gateway-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`,
 * `X-Gateway-Timestamp` (epoch ms; reject old ones to stop replays), `X-Gateway-Queue`,
 * `X-Gateway-Cursor`, `X-Gateway-Event`.
 */
import { createHmac } from 'node:crypto';
import { migrate, type Db } from '../../core/store.js';
import type { Logger } from '../../core/log.js';
import type { WebhookConfig } from '../config.js';
import type { QueueLog, QueueMessage } from '../queues.js';

export function signature(secret: string, timestamp: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

interface Hook {
  config: WebhookConfig;
  cursor: number;
  wake: (() => void) | null;
  sleeping: NodeJS.Timeout | null;
  /** Ends a backoff early (only on close: new messages must not hurry retries to a receiver that is down). */
  sleepDone: (() => void) | null;
}

export interface WebhookCounters { delivered(id: string): void; failed(id: string): void }

export class WebhookDelivery {
  private readonly hooks: Hook[] = [];
  private closed = false;
  private readonly inflight = new Set<AbortController>();
  private readonly loops: Array<Promise<void>> = [];
  private readonly saveCursor;

  constructor(private readonly db: Db, private readonly queues: QueueLog, configs: readonly WebhookConfig[], private readonly log: Logger,
    private readonly counters: WebhookCounters) {
    migrate(db, 'alert-webhooks', ['CREATE TABLE alert_webhooks (id TEXT PRIMARY KEY, queue TEXT NOT NULL, cursor INTEGER NOT NULL) WITHOUT ROWID']);
    this.saveCursor = db.prepare('INSERT INTO alert_webhooks (id, queue, cursor) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET queue = excluded.queue, cursor = excluded.cursor');
    const load = db.prepare('SELECT queue, cursor FROM alert_webhooks WHERE id = ?');
    for (const config of configs) {
      const row = load.get(config.id) as { queue: string; cursor: number } | undefined;
      let cursor: number;
      if (row && row.queue === config.queue) cursor = row.cursor;
      else {
        cursor = config.from === 'now' ? queues.head(config.queue) : 0;
        this.saveCursor.run(config.id, config.queue, cursor);
      }
      this.hooks.push({ config, cursor, wake: null, sleeping: null, sleepDone: null });
    }
  }

  start(): void {
    for (const h of this.hooks) this.loops.push(this.run(h));
  }

  /** Lag per webhook (messages not yet delivered), for the metrics. */
  lag(): Array<{ id: string; lag: number }> {
    return this.hooks.map((h) => ({ id: h.config.id, lag: Math.max(0, this.queues.head(h.config.queue) - h.cursor) }));
  }

  readonly onMessage = (message: QueueMessage): void => {
    for (const h of this.hooks) if (h.config.queue === message.queue && h.wake) { const w = h.wake; h.wake = null; w(); }
  };

  private async run(h: Hook): Promise<void> {
    while (!this.closed) {
      try {
        await this.deliverBatch(h);
      } catch (err) {
        // a store error must not end delivery for good (nor become an unhandled rejection)
        this.log.error({ err, webhook: h.config.id }, 'webhook delivery loop failed; retrying');
        await this.sleep(h, h.config.retryMax);
      }
    }
  }

  private async deliverBatch(h: Hook): Promise<void> {
    const rows = this.queues.readRaw(h.config.queue, h.cursor, 100);
    if (rows.length === 0) {
      await new Promise<void>((resolve) => { h.wake = resolve; });
      return;
    }
    for (const row of rows) {
      let attempt = 0;
      while (!this.closed) {
        if (await this.post(h, row)) break;
        attempt++;
        this.counters.failed(h.config.id);
        const base = Math.min(h.config.retryMax, h.config.retryInitial * 2 ** Math.min(attempt - 1, 30));
        await this.sleep(h, base / 2 + Math.random() * (base / 2));
      }
      if (this.closed) return;
      h.cursor = row.cursor;
      this.counters.delivered(h.config.id);
      if (this.db.open) this.saveCursor.run(h.config.id, h.config.queue, h.cursor);
    }
  }

  private async post(h: Hook, row: { cursor: number; event: string; payload: string }): Promise<boolean> {
    const timestamp = String(Date.now());
    const controller = new AbortController();
    this.inflight.add(controller);
    const timer = setTimeout(() => controller.abort(), h.config.timeout);
    try {
      const res = await fetch(h.config.url, {
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
      if (res.ok) return true;
      this.log.warn({ webhook: h.config.id, status: res.status, cursor: row.cursor }, 'webhook receiver refused an alert message; retrying');
      return false;
    } catch (err) {
      if (!this.closed) this.log.warn({ webhook: h.config.id, err: (err as Error).message, cursor: row.cursor }, 'webhook delivery failed; retrying');
      return false;
    } finally {
      clearTimeout(timer);
      this.inflight.delete(controller);
    }
  }

  private sleep(h: Hook, ms: number): Promise<void> {
    return new Promise((resolve) => {
      h.sleepDone = resolve;
      h.sleeping = setTimeout(() => { h.sleeping = null; h.sleepDone = null; resolve(); }, ms);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.inflight) c.abort();
    for (const h of this.hooks) {
      if (h.sleeping) clearTimeout(h.sleeping);
      h.sleepDone?.();
      const w = h.wake;
      h.wake = null;
      w?.();
    }
    await Promise.allSettled(this.loops);
  }
}
