/**
 * The delivery log of an alert (`GET /api/v1/alerts/{id}/deliveries`): who was told, by which channel,
 * how many attempts, with what result. For whoever may see the alert; each party sees the messages to
 * its own people (an admin sees all), with phone numbers and e-mail addresses masked.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound } from '../core/errors.js';
import type { Store } from '../core/db/store.js';
import type { Alert } from '../alerts/index.js';
import { canSeeAlert, ownQueue } from '../registry/index.js';
import type { DeliveryAttempt, ChannelName } from './model.js';
import { notificationQueries, type NotificationTables } from './store.js';

export function deliveryRoutes(deps: { store: Store<NotificationTables>; alert: (id: number) => Promise<Readonly<Alert> | undefined> }): FastifyPluginAsync {
  const q = notificationQueries(deps.store.q);
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.get('/alerts/:id/deliveries', {
      schema: {
        tags: ['notifications'], summary: 'Who was told of the alert, by which channel, and how each attempt went / 告警通知记录',
        params: z.object({ id: z.coerce.number().int().positive() }),
      },
    }, async (req) => {
      const alert = await deps.alert(req.params.id);
      if (!alert || !canSeeAlert(req.principal, alert)) throw notFound('alert', String(req.params.id));
      const p = req.principal;
      const party = p.role === 'admin' ? undefined : ownQueue(p);
      // an account with no party of its own (a community) reads alerts, not the messages to other parties' people
      if (p.role !== 'admin' && party === undefined) return { items: [] };
      const rows = await deps.store.all(q.deliveries(alert.id, party));
      const items: DeliveryAttempt[] = rows.map((row) => ({
        id: Number(row.id), alertId: Number(row.alert_id), channel: row.channel as ChannelName, recipient: row.recipient, recipientName: row.recipient_name,
        reason: row.reason, attempt: row.attempt, result: row.result as DeliveryAttempt['result'], ...(row.detail ? { detail: row.detail } : {}), at: Number(row.at),
      }));
      return { items };
    });
  };
}
