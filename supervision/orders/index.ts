/**
 * Rectification orders (整改通知) and their attachments. (Being built: see the note.)
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../../core/db/store.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { AuditLog } from '../../core/audit.js';
import type { Principal, Registry } from '../../registry/index.js';
import type { Alert } from '../../alerts/index.js';
import type { OrdersConfig } from '../config.js';
import type { OrderFact, OrderSource, OrderTargetType } from '../facts.js';
import type { OrderMover } from '../handover.js';

export interface OrdersDeps {
  db: Database;
  registry: Registry;
  /** An order may name an alert the issuer can see (404 otherwise, as for any alert outside a scope). */
  alerts: { visible(p: Principal, id: number): Promise<Readonly<Alert>> };
  clock: Clock;
  config: OrdersConfig;
  /** The installation's time zone, for dates given without a time. */
  timeZone: string;
  audit: AuditLog;
  log: Logger;
  /** Attachments are stored under `{dataDir}/attachments`. */
  dataDir: string;
}

export class RectificationOrders implements OrderSource, OrderMover {
  private constructor(private readonly deps: OrdersDeps) {}

  static async open(deps: OrdersDeps): Promise<RectificationOrders> {
    return new RectificationOrders(deps);
  }

  async inPeriod(_f: { from: number; to: number; targetType?: OrderTargetType | undefined; targetId?: string | undefined }): Promise<OrderFact[]> {
    return [];
  }

  reassignSite(_siteId: string, _fromCompanyId: string, _toCompanyId: string, _at: number, _actor: string): number {
    return 0;
  }

  /** /api/v1 routes. */
  readonly routes: FastifyPluginAsync = async () => {};

  /** Cluster mode: only the timer leader marks orders overdue and escalates them. */
  setLeading(_leading: boolean): void {}
  start(): void {}
  stop(): void {}
  /** Another node's committed change (ids `order:{id}`). */
  async onNotice(_ids: readonly string[]): Promise<void> {}
}
