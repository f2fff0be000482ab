/**
 * Supervision (监管闭环): what the regulations ask beyond detecting and notifying: the handover of
 * sites between property companies (handover.ts), maintenance visits checked against the elevator's
 * telemetry (visits/), rectification orders with their ledger and attachments (orders/), and the
 * scorecards, ranking and reports computed from alerts, visits and orders (scorecards/). Rescue
 * arrival is an alert action (alerts). It sits above `alerts` and `registry` and reaches them
 * through their index.ts; `openSupervision` builds it for the composition root.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../core/db/store.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { AuditLog } from '../core/audit.js';
import type { Registry } from '../registry/index.js';
import type { Presence, TimeSeriesWriter } from '../ingest/index.js';
import type { Alerts } from '../alerts/index.js';
import type { SupervisionConfig } from './config.js';
import { SiteHandovers } from './handover.js';
import { MaintenanceVisits } from './visits/index.js';
import { RectificationOrders } from './orders/index.js';
import { Scorecards } from './scorecards/index.js';

export { SiteHandovers, handoverSchema, EMERGENCY_MAX_MONTHS, type HandoverRequest, type HandoverResult } from './handover.js';
export { supervisionConfigSchema, type SupervisionConfig } from './config.js';
export type { VisitFact, OrderFact, VisitSource, OrderSource } from './facts.js';
export { MaintenanceVisits, RectificationOrders, Scorecards };

export interface SupervisionDeps {
  db: Database;
  registry: Registry;
  alerts: Pick<Alerts, 'service' | 'facts' | 'useMaintenanceRecord' | 'maintenanceVisited'>;
  telemetry: Pick<TimeSeriesWriter, 'query' | 'flush'>;
  presence: Pick<Presence, 'get'>;
  /** The alert clock: visits, deadlines of orders and periods run on it. */
  clock: Clock;
  config: SupervisionConfig;
  timeZone: string;
  audit: AuditLog;
  log: Logger;
  dataDir: string;
  /** Cluster mode: the node starts without the timers and waits for `setLeading`. */
  clustered: boolean;
}

export interface Supervision {
  readonly handovers: SiteHandovers;
  readonly visits: MaintenanceVisits;
  readonly orders: RectificationOrders;
  readonly scorecards: Scorecards;
  /** Registered under /api/v1. */
  readonly routes: FastifyPluginAsync[];
  /** Pages without login (the public ranking, when the installation publishes it). */
  readonly publicRoutes: FastifyPluginAsync[];
  start(): void;
  setLeading(leading: boolean): void;
  /** Another node's committed change of a visit or an order. */
  onNotice(ids: readonly string[]): Promise<void>;
  stop(): void;
}

export async function openSupervision(deps: SupervisionDeps): Promise<Supervision> {
  const { db, registry, alerts, clock, config, timeZone, audit, log } = deps;
  const visits = await MaintenanceVisits.open({
    db, registry, telemetry: deps.telemetry, clock, config: config.visits, timeZone, audit, log, onValidVisit: (deviceId) => alerts.maintenanceVisited(deviceId),
  });
  // the 15-day maintenance check counts only the visits the telemetry supports
  alerts.useMaintenanceRecord(visits);
  const orders = await RectificationOrders.open({ db, registry, alerts: alerts.service, clock, config: config.orders, timeZone, audit, log, dataDir: deps.dataDir });
  const handovers = new SiteHandovers({ registry, alerts: alerts.service, orders, clock, timeZone, log });
  const scorecards = new Scorecards({
    registry, alerts: alerts.facts, visits, orders, presence: deps.presence, clock, config: { scorecards: config.scorecards, ranking: config.ranking }, timeZone,
  });
  const timed = [handovers, visits, orders];
  if (deps.clustered) for (const t of timed) t.setLeading(false);
  return {
    handovers, visits, orders, scorecards,
    routes: [visits.routes, orders.routes, scorecards.routes],
    publicRoutes: config.ranking.public ? [scorecards.publicRoutes] : [],
    start: () => { for (const t of timed) t.start(); },
    setLeading: (leading) => { for (const t of timed) t.setLeading(leading); },
    async onNotice(ids) {
      await visits.onNotice(ids.filter((id) => id.startsWith('visit:')));
      await orders.onNotice(ids.filter((id) => id.startsWith('order:')));
    },
    stop: () => { for (const t of timed) t.stop(); },
  };
}
