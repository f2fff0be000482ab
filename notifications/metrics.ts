/** The notifications' Prometheus metrics, on the gateway's registry. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CHANNELS, type ChannelName } from './model.js';

export interface NotificationMetrics {
  queued(channel: ChannelName): void;
  /** sent, failed (will be retried), gave_up, merged, not_queued */
  result(channel: ChannelName, result: string): void;
  sendSeconds(channel: ChannelName, seconds: number): void;
  pending(n: number): void;
}

export function createNotificationMetrics(registry: Registry): NotificationMetrics {
  const queued = new Counter({ name: 'gateway_notifications_queued_total', help: 'Messages to people put in the outbox, by channel', labelNames: ['channel'], registers: [registry] });
  const results = new Counter({
    name: 'gateway_notifications_total',
    help: 'Message attempts to people, by channel and result (sent; failed: retried with backoff; gave_up; merged: joined a message waiting for the same recipient; not_queued: the store refused it)',
    labelNames: ['channel', 'result'], registers: [registry],
  });
  const seconds = new Histogram({ name: 'gateway_notification_send_seconds', help: 'One attempt to a provider, by channel', labelNames: ['channel'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] });
  const pending = new Gauge({ name: 'gateway_notifications_pending', help: 'Messages in the outbox not yet sent or given up (waiting, merging, or being retried)', registers: [registry] });
  // every channel's counters exist from the start, at 0, so that a rate over them is defined
  for (const c of CHANNELS) for (const r of ['sent', 'failed', 'gave_up']) results.labels(c, r).inc(0);
  return {
    queued: (c) => queued.labels(c).inc(),
    result: (c, r) => results.labels(c, r).inc(),
    sendSeconds: (c, s) => seconds.labels(c).observe(s),
    pending: (n) => pending.set(n),
  };
}
