/**
 * Notifications to people (SPEC 13). What other capabilities may use of it is exported here.
 *
 * Wiring: alert changes (after their commit, once per change in a cluster) → the dispatcher picks the
 * party's people by their rules → the outbox (durable; merged per recipient; quiet hours) → the node
 * that leads the timers sends, with retries, and logs each attempt per alert. The on-call chain and
 * the trapped-passenger unit call run on the same leader, on the alert clock.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../core/db/store.js';
import type { Logger } from '../core/log.js';
import type { Clock } from '../core/clock.js';
import type { AuditLog } from '../core/audit.js';
import type { Metrics } from '../core/metrics.js';
import { DueCheck } from '../core/due-check.js';
import type { Alert, Alerts } from '../alerts/index.js';
import type { Registry } from '../registry/index.js';
import { createSenders } from './channels/index.js';
import { openContacts } from './contacts/index.js';
import type { NotificationsSettings } from './config.js';
import { Dispatcher } from './dispatcher.js';
import { createNotificationMetrics } from './metrics.js';
import type { ChannelName } from './model.js';
import { OnCall } from './on-call.js';
import { Outbox } from './outbox.js';
import { deliveryRoutes } from './routes.js';
import { NOTIFICATION_MIGRATIONS, type NotificationTables } from './store.js';
import { render } from './templates.js';

export { notificationsSettingsSchema, type NotificationsSettings } from './config.js';
export { channelSecrets } from './channels/index.js';
export { CHANNELS, type ChannelName, type Contact, type ContactRule, type DeliveryAttempt, type Notice, type Recipient } from './model.js';

export interface NotificationsDeps {
  db: Database;
  alerts: Pick<Alerts, 'onChange' | 'ledger'>;
  registry: Registry;
  audit: AuditLog;
  clock: Clock;
  settings: NotificationsSettings;
  /** Where people reach the console (links in messages). */
  baseUrl: string;
  timeZone: string;
  metrics: Metrics;
  log: Logger;
  /** Cluster mode: nothing is sent until this node leads the timers. */
  clustered: boolean;
}

export interface Notifications {
  /** Registered under /api/v1: the contacts and the alerts' delivery logs. */
  routes: FastifyPluginAsync[];
  outbox: Outbox;
  start(): Promise<void>;
  setLeading(leading: boolean): void;
  /** Another node changed contacts (cluster notices, topic `notifications`). */
  onNotice(ids: readonly string[]): Promise<void>;
  /** Reads every contact again (notices were missed, or a commit was refused). */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export async function openNotifications(deps: NotificationsDeps): Promise<Notifications> {
  const { settings, clock, log, registry } = deps;
  const store = deps.db.store<NotificationTables>();
  await store.migrate('notifications', NOTIFICATION_MIGRATIONS);
  const metrics = createNotificationMetrics(deps.metrics.registry);
  const senders = createSenders(settings.channels);
  const robots = Object.entries(settings.channels.robots).map(([name, r]) => ({ name, kind: r.kind }));
  const robotKind = (name: string): ChannelName | undefined => settings.channels.robots[name]?.kind;
  // the registry's names of companies and units; the contacts name the other parties themselves (defaultPartyName)
  const partyName = (queue: string): string | undefined => {
    const id = queue.slice(queue.indexOf('/') + 1);
    if (queue.startsWith('property/')) return registry.getCompany(id)?.name;
    if (queue.startsWith('maintenance/')) return registry.getMaintenanceUnit(id)?.name;
    return undefined;
  };
  const contacts = await openContacts({ db: deps.db, audit: deps.audit, now: () => clock.now(), robots: () => robots, partyName });
  const alert = async (id: number): Promise<Readonly<Alert> | undefined> => deps.alerts.ledger.getActive(id) ?? await deps.alerts.ledger.get(id);
  const outbox = new Outbox({
    store, senders, alert, clock, timeZone: deps.timeZone, metrics, log,
    render: (alerts, reason) => render(alerts, reason, { baseUrl: deps.baseUrl, timeZone: deps.timeZone }),
    settings: { mergeWindowMs: settings.mergeWindowMs, retry: settings.retry, concurrency: settings.concurrency },
  });
  const send = (m: Parameters<Outbox['add']>[0]) => (settings.enabled ? outbox.add(m) : Promise.resolve());
  const dispatcher = new Dispatcher({ contacts: contacts.book, robotKind, send, now: () => clock.now(), timeZone: deps.timeZone });
  const onCall = new OnCall({
    store, contacts: contacts.book, active: () => deps.alerts.ledger.activeAlerts(), send, log,
    giveUp: (m, detail) => outbox.giveUp(m, detail),
    unit: (id) => registry.getMaintenanceUnit(id),
    configured: (channel) => senders.has(channel),
    settings: settings.onCall,
  });
  const due = new DueCheck(clock, settings.checkEveryMs, () => {
    if (!due.leading || !settings.enabled) return;
    onCall.check(clock.now());
    outbox.run();
  });
  const unsubscribe = deps.alerts.onChange(dispatcher.onChange);
  if (deps.clustered) {
    outbox.leading = false;
    due.setLeading(false);
  }

  return {
    routes: [contacts.routes, deliveryRoutes({ store, alert })],
    outbox,
    async start() {
      await onCall.load();
      due.start();
    },
    setLeading(leading) {
      outbox.leading = leading;
      if (!leading) {
        due.setLeading(false);
        return;
      }
      // the steps another leader took first, so that nobody is called twice
      onCall.load().then(() => due.setLeading(true), (err: unknown) => log.error({ err }, 'reading the on-call steps failed; the chains wait for the next lead'));
    },
    onNotice: (ids) => contacts.onNotice(ids),
    reload: () => contacts.book.reload(),
    async stop() {
      unsubscribe();
      due.stop();
      outbox.leading = false;
    },
  };
}
