/** Alert metrics (alerts raised by type, escalations, queue heads, webhook lag, streams), on the gateway's registry. */
import { Counter, Gauge, type Registry } from 'prom-client';

export function createAlertMetrics(registry: Registry, sources: {
  activeAlerts: () => number;
  queueHeads: () => Array<{ queue: string; cursor: number }>;
  webhookLag: () => Array<{ id: string; lag: number }>;
  sseClients: () => number;
}) {
  return {
    raised: new Counter({ name: 'gateway_alerts_raised_total', help: 'Alerts raised (new alerts, not repeats), by type and severity', labelNames: ['type', 'severity'], registers: [registry] }),
    escalated: new Counter({ name: 'gateway_alerts_escalated_total', help: 'Alert escalations, by kind', labelNames: ['kind'], registers: [registry] }),
    webhookDelivered: new Counter({ name: 'gateway_alert_webhook_delivered_total', help: 'Queue messages delivered to webhooks', labelNames: ['webhook'], registers: [registry] }),
    webhookFailed: new Counter({ name: 'gateway_alert_webhook_failures_total', help: 'Failed webhook deliveries (each is retried)', labelNames: ['webhook'], registers: [registry] }),
    active: new Gauge({ name: 'gateway_alerts_active', help: 'Alerts open, acknowledged, dispatched or resolved', registers: [registry], collect() { this.set(sources.activeAlerts()); } }),
    queueHead: new Gauge({
      name: 'gateway_alert_queue_head', help: 'Cursor of the newest message of each alert queue (messages appended so far)', labelNames: ['queue'], registers: [registry],
      collect() { for (const q of sources.queueHeads()) this.labels(q.queue).set(q.cursor); },
    }),
    webhookLag: new Gauge({
      name: 'gateway_alert_webhook_lag', help: 'Queue messages not yet delivered to each webhook', labelNames: ['webhook'], registers: [registry],
      collect() { for (const w of sources.webhookLag()) this.labels(w.id).set(w.lag); },
    }),
    sseClients: new Gauge({ name: 'gateway_alert_stream_clients', help: 'Connected server-sent-event queue streams', registers: [registry], collect() { this.set(sources.sseClients()); } }),
  };
}
