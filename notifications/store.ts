/**
 * The notifications' tables, for both stores: the outbox (one row per message to one recipient,
 * until sent or given up), the delivery log (one row per attempt, per alert, what people read), and
 * the on-call steps taken per alert and party (so that a restart or a new leader goes on where the
 * chain was, instead of calling everyone again).
 */
import type { Generated, Kysely } from 'kysely';
import type { Migration } from '../core/db/query.js';

export interface NotificationTables {
  notification_outbox: {
    id: Generated<number>; party: string; channel: string; address: string; recipient_name: string; contact_id: string | null;
    reason: string; alert_ids: string; severity: string; attempt: number; next_at: number; state: string;
    created_at: number; sent_at: number | null;
  };
  notification_deliveries: {
    id: Generated<number>; alert_id: number; party: string; channel: string; recipient: string; recipient_name: string;
    reason: string; attempt: number; result: string; detail: string | null; at: number;
  };
  notification_oncall: { alert_id: number; party: string; step: number };
}

type Row<T> = { [K in keyof T]: T[K] extends Generated<infer V> ? V : T[K] };
export type OutboxRow = Row<NotificationTables['notification_outbox']>;
export type DeliveryRow = Row<NotificationTables['notification_deliveries']>;

const TABLES = (big: string, serial: string) => `
  CREATE TABLE notification_outbox (id ${serial}, party TEXT NOT NULL, channel TEXT NOT NULL, address TEXT NOT NULL,
    recipient_name TEXT NOT NULL, contact_id TEXT, reason TEXT NOT NULL, alert_ids TEXT NOT NULL, severity TEXT NOT NULL,
    attempt INTEGER NOT NULL, next_at ${big} NOT NULL, state TEXT NOT NULL, created_at ${big} NOT NULL, sent_at ${big});
  CREATE INDEX notification_outbox_due ON notification_outbox (state, next_at);
  CREATE INDEX notification_outbox_recipient ON notification_outbox (channel, address, state);
  CREATE TABLE notification_deliveries (id ${serial}, alert_id ${big} NOT NULL, party TEXT NOT NULL, channel TEXT NOT NULL,
    recipient TEXT NOT NULL, recipient_name TEXT NOT NULL, reason TEXT NOT NULL, attempt INTEGER NOT NULL, result TEXT NOT NULL,
    detail TEXT, at ${big} NOT NULL);
  CREATE INDEX notification_deliveries_alert ON notification_deliveries (alert_id, id);
  CREATE TABLE notification_oncall (alert_id ${big} NOT NULL, party TEXT NOT NULL, step INTEGER NOT NULL, PRIMARY KEY (alert_id, party));`;

export const NOTIFICATION_MIGRATIONS: readonly Migration[] = [{
  sqlite: TABLES('INTEGER', 'INTEGER PRIMARY KEY AUTOINCREMENT'),
  postgres: TABLES('BIGINT', 'BIGSERIAL PRIMARY KEY'),
}];

/** The queries, the same for both stores. */
export const notificationQueries = (q: Kysely<NotificationTables>) => ({
  insert: (row: Omit<OutboxRow, 'id'>) => q.insertInto('notification_outbox').values(row),
  due: (now: number, limit: number) => q.selectFrom('notification_outbox').selectAll()
    .where('state', '=', 'pending').where('next_at', '<=', now).orderBy('next_at').orderBy('id').limit(limit),
  /** A message to the recipient that waits (merge window, quiet hours) and has not been tried: a later alert joins it. */
  held: (channel: string, address: string, now: number) => q.selectFrom('notification_outbox').selectAll()
    .where('channel', '=', channel).where('address', '=', address).where('state', '=', 'pending')
    .where('attempt', '=', 0).where('next_at', '>', now).orderBy('id').limit(1),
  lastSent: (channel: string, address: string) => q.selectFrom('notification_outbox').select((eb) => eb.fn.max('sent_at').as('at'))
    .where('channel', '=', channel).where('address', '=', address).where('state', '=', 'sent'),
  merge: (id: number, alertIds: string, severity: string) => q.updateTable('notification_outbox').set({ alert_ids: alertIds, severity }).where('id', '=', id),
  attempted: (id: number, set: Partial<Pick<OutboxRow, 'attempt' | 'next_at' | 'state' | 'sent_at'>>) => q.updateTable('notification_outbox').set(set).where('id', '=', id),
  pendingCount: () => q.selectFrom('notification_outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('state', '=', 'pending'),
  logAttempt: (row: Omit<DeliveryRow, 'id'>) => q.insertInto('notification_deliveries').values(row),
  deliveries: (alertId: number, party: string | undefined) => {
    let s = q.selectFrom('notification_deliveries').selectAll().where('alert_id', '=', alertId);
    if (party !== undefined) s = s.where('party', '=', party);
    return s.orderBy('id').limit(1000);
  },
  onCallSteps: (fromAlertId: number) => q.selectFrom('notification_oncall').selectAll().where('alert_id', '>=', fromAlertId),
  pruneOnCall: (belowAlertId: number) => q.deleteFrom('notification_oncall').where('alert_id', '<', belowAlertId),
  saveOnCallStep: (alertId: number, party: string, step: number) => q.insertInto('notification_oncall').values({ alert_id: alertId, party, step })
    .onConflict((oc) => oc.columns(['alert_id', 'party']).doUpdateSet({ step })),
});
