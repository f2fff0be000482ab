/**
 * The outbox: every message to one recipient is a row until it is sent or given up, so a restart, a
 * provider outage or a new cluster leader loses none. Adding to it never waits for a provider: alert
 * processing only writes a row; the sending happens here, on the node that leads the timers.
 *
 * Pacing, per recipient (channel + address):
 * - critical alerts and voice calls go at once, each its own message;
 * - anything else waits until `mergeWindowMs` after the last message the recipient got, and while it
 *   waits later alerts join it (one message "… and 3 more"), so a burst is merged, never dropped;
 * - quiet hours (never for critical) hold a message until they end; what comes meanwhile joins it.
 *
 * Each attempt is in the delivery log of every alert it was about (`sent`, `failed` then retried with
 * backoff, `gave_up` after `retry.maxAttempts` or a permanent refusal), and so are the alerts that were
 * `merged` into a waiting message or held by `quiet` hours.
 */
import type { Store } from '../core/db/store.js';
import type { Logger } from '../core/log.js';
import type { Clock } from '../core/clock.js';
import { backoffDelay } from '../core/backoff.js';
import { SEVERITIES, type Alert } from '../alerts/index.js';
import type { ChannelName, ChannelSender, Notice, Recipient } from './model.js';
import { maskEmail, maskPhone } from './channels/index.js';
import { notificationQueries, type NotificationTables, type OutboxRow } from './store.js';
import { localTime, severityOf } from './templates.js';
import type { NotificationMetrics } from './metrics.js';

export interface OutboxDeps {
  store: Store<NotificationTables>;
  senders: ReadonlyMap<ChannelName, ChannelSender>;
  /** The alert as it is now (active ones from memory, others from the store). */
  alert: (id: number) => Promise<Readonly<Alert> | undefined>;
  render: (alerts: readonly Alert[], reason: string) => Notice;
  clock: Clock;
  /** The installation's time zone: times in the log are said in it. */
  timeZone: string;
  settings: { mergeWindowMs: number; retry: { initialMs: number; maxMs: number; maxAttempts: number }; concurrency: number };
  metrics: NotificationMetrics;
  log: Logger;
  random?: () => number;
}

export interface NewMessage {
  /** The party (queue) the recipient belongs to: who may read this delivery log entry. */
  party: string;
  recipient: Recipient;
  reason: string;
  alert: Readonly<Alert>;
  /** Quiet hours: not before this (epoch ms). */
  holdUntil?: number | undefined;
}

/** How a recipient's address is shown in the delivery log. */
export function maskAddress(channel: ChannelName, address: string): string {
  if (channel === 'sms' || channel === 'voice') return maskPhone(address);
  if (channel === 'email') return maskEmail(address);
  return address;
}

/** Rows read per pass: the rest are read by the next pass, which follows at once. */
const BATCH = 50;

export class Outbox {
  private readonly q;
  /** Enqueues run one after another on this node: a later alert must see the row an earlier one made to join it. */
  private enqueuing: Promise<void> = Promise.resolve();
  private running = false;
  private passing: Promise<void> = Promise.resolve();
  private again = false;
  private readonly inFlight = new Set<number>();
  leading = true;

  constructor(private readonly deps: OutboxDeps) {
    this.q = notificationQueries(deps.store.q);
  }

  /** Adds a message (or joins the recipient's waiting one); resolves once it is written. Never throws. */
  add(m: NewMessage): Promise<void> {
    const next = this.enqueuing.then(() => this.write(m)).catch((err: unknown) => {
      this.deps.log.error({ err, alertId: m.alert.id, channel: m.recipient.channel }, 'notification not queued');
      this.deps.metrics.result(m.recipient.channel, 'not_queued');
    });
    this.enqueuing = next;
    return next;
  }

  private async write(m: NewMessage): Promise<void> {
    const { store } = this.deps;
    const now = this.deps.clock.now();
    const { channel, address } = m.recipient;
    const immediate = (m.alert.severity === 'critical' || channel === 'voice') && m.holdUntil === undefined;
    if (!immediate) {
      const held = await store.get(this.q.held(channel, address, now));
      if (held) {
        const ids = JSON.parse(held.alert_ids) as number[];
        if (!ids.includes(m.alert.id)) {
          ids.push(m.alert.id);
          const severity = severityOf([{ severity: held.severity as Alert['severity'] }, m.alert]);
          store.transaction(() => {
            store.write(this.q.merge(held.id, JSON.stringify(ids), severity));
            this.log(m.alert.id, m.party, m.recipient, m.reason, 0, 'merged', `并入待发消息，${localTime(held.next_at, this.deps.timeZone)} 发送 / joins the message waiting to go at ${localTime(held.next_at, this.deps.timeZone)}`);
          });
          this.deps.metrics.result(channel, 'merged');
        }
        await store.durable();
        return;
      }
    }
    let nextAt = now;
    if (!immediate) {
      const last = await store.get(this.q.lastSent(channel, address));
      const lastAt = last?.at === null || last?.at === undefined ? undefined : Number(last.at);
      if (lastAt !== undefined) nextAt = Math.max(nextAt, lastAt + this.deps.settings.mergeWindowMs);
    }
    const quiet = m.holdUntil !== undefined && m.holdUntil > now;
    if (quiet) nextAt = Math.max(nextAt, m.holdUntil!);
    store.transaction(() => {
      store.write(this.q.insert({
        party: m.party, channel, address, recipient_name: m.recipient.name, contact_id: m.recipient.contactId ?? null, reason: m.reason,
        alert_ids: JSON.stringify([m.alert.id]), severity: m.alert.severity, attempt: 0, next_at: nextAt, state: 'pending', created_at: now, sent_at: null,
      }));
      if (quiet) this.log(m.alert.id, m.party, m.recipient, m.reason, 0, 'quiet', `免打扰时段，${localTime(nextAt, this.deps.timeZone)} 发送 / quiet hours: goes at ${localTime(nextAt, this.deps.timeZone)}`);
    });
    this.deps.metrics.queued(channel);
    await store.durable();
    // due now: the leader sends it in this turn rather than at the next check
    if (nextAt <= now) this.run();
  }

  /** A message that cannot be sent at all (no address to send it to): only written in the delivery log. */
  giveUp(m: NewMessage, detail: string): void {
    if (!this.deps.store.open) return;
    this.deps.store.transaction(() => this.log(m.alert.id, m.party, m.recipient, m.reason, 0, 'gave_up', detail));
    this.deps.metrics.result(m.recipient.channel, 'gave_up');
  }

  /** Sends what is due. Only the leader sends; several calls while one runs make one more pass. */
  run(): void {
    if (!this.leading || !this.deps.store.open) return;
    if (this.running) { this.again = true; return; }
    this.running = true;
    this.passing = this.pass().catch((err: unknown) => this.deps.log.error({ err }, 'notification outbox pass failed')).finally(() => {
      this.running = false;
      if (this.again) { this.again = false; this.run(); }
    });
  }

  /** Resolves when what was added so far is written and the passes running now (and those they asked for) are done. */
  async idle(): Promise<void> {
    for (;;) {
      const [enqueuing, passing] = [this.enqueuing, this.passing];
      await enqueuing;
      await passing;
      if (enqueuing === this.enqueuing && passing === this.passing && !this.running) return;
    }
  }

  private async pass(): Promise<void> {
    for (;;) {
      const rows = (await this.deps.store.all(this.q.due(this.deps.clock.now(), BATCH))).filter((r) => !this.inFlight.has(r.id));
      if (rows.length === 0) break;
      // at most `concurrency` at once; a slow provider holds only its own slots
      let i = 0;
      const worker = async () => {
        while (i < rows.length) {
          const row = rows[i++]!;
          this.inFlight.add(row.id);
          try { await this.attempt(row); } finally { this.inFlight.delete(row.id); }
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.deps.settings.concurrency, rows.length) }, worker));
      if (rows.length < BATCH) break;
    }
    const pending = await this.deps.store.get(this.q.pendingCount());
    this.deps.metrics.pending(Number(pending?.n ?? 0));
  }

  private async attempt(row: OutboxRow): Promise<void> {
    const { store, settings, metrics } = this.deps;
    const ids = JSON.parse(row.alert_ids) as number[];
    const recipient: Recipient = { channel: row.channel as ChannelName, address: row.address, name: row.recipient_name, ...(row.contact_id ? { contactId: row.contact_id } : {}) };
    const attempt = row.attempt + 1;
    const alerts = (await Promise.all(ids.map((id) => this.deps.alert(id)))).filter((a): a is Readonly<Alert> => a !== undefined);
    const sender = this.deps.senders.get(recipient.channel);
    let outcome: Awaited<ReturnType<ChannelSender['send']>>;
    if (alerts.length === 0) {
      outcome = { ok: false, retry: false, error: '告警不存在 / the alert is gone' };
    } else if (!sender) {
      outcome = { ok: false, retry: false, error: `未配置渠道 ${recipient.channel}（notifications.channels）/ channel ${recipient.channel} is not configured (notifications.channels)` };
    } else {
      // the most severe first: the message is about it
      const ordered = [...alerts].sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
      const notice = this.deps.render(ordered, row.reason);
      const started = performance.now();
      outcome = await sender.send(recipient, notice).catch((err: unknown): { ok: false; retry: boolean; error: string } => ({ ok: false, retry: true, error: String((err as Error).message ?? err) }));
      metrics.sendSeconds(recipient.channel, (performance.now() - started) / 1000);
    }
    const now = this.deps.clock.now();
    let result: 'sent' | 'failed' | 'gave_up';
    let set: Partial<OutboxRow>;
    if (outcome.ok) {
      result = 'sent';
      set = { attempt, state: 'sent', sent_at: now };
    } else if (outcome.retry && attempt < settings.retry.maxAttempts) {
      result = 'failed';
      const delay = backoffDelay(attempt, { initialDelayMs: settings.retry.initialMs, maxDelayMs: settings.retry.maxMs, ...(this.deps.random ? { random: this.deps.random } : {}) }, outcome.retryAfterMs);
      set = { attempt, next_at: now + delay };
    } else {
      result = 'gave_up';
      set = { attempt, state: 'gave_up' };
    }
    const detail = outcome.ok ? (outcome.providerId ? `provider id ${outcome.providerId}` : undefined) : outcome.error;
    if (!store.open) return;
    store.transaction(() => {
      store.write(this.q.attempted(row.id, set));
      for (const id of ids) this.log(id, row.party, recipient, row.reason, attempt, result, detail);
    });
    await store.durable();
    metrics.result(recipient.channel, result);
    if (result !== 'sent') {
      this.deps.log.warn({ channel: recipient.channel, recipient: maskAddress(recipient.channel, recipient.address), attempt, result, error: detail }, 'notification not delivered');
    }
  }

  private log(alertId: number, party: string, r: Recipient, reason: string, attempt: number, result: string, detail: string | undefined): void {
    this.deps.store.write(this.q.logAttempt({
      alert_id: alertId, party, channel: r.channel, recipient: maskAddress(r.channel, r.address), recipient_name: r.name,
      reason, attempt, result, detail: detail === undefined ? null : detail.slice(0, 500), at: this.deps.clock.now(),
    }));
  }
}

