/**
 * Maintenance visits (维保记录): started and finished by maintenance accounts, judged against the
 * elevator's own telemetry. (Being built: see the note.)
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../../core/db/store.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';
import type { AuditLog } from '../../core/audit.js';
import type { Registry } from '../../registry/index.js';
import type { TimeSeriesWriter } from '../../ingest/index.js';
import type { VisitsConfig } from '../config.js';
import type { VisitFact, VisitSource } from '../facts.js';

export interface VisitsDeps {
  db: Database;
  registry: Registry;
  /** The stored readings a visit is judged on. */
  telemetry: Pick<TimeSeriesWriter, 'query'>;
  clock: Clock;
  config: VisitsConfig;
  audit: AuditLog;
  log: Logger;
  /** A valid visit ended: the elevator's 15-day maintenance check is run again now. */
  onValidVisit: (deviceId: string) => void;
}

export class MaintenanceVisits implements VisitSource {
  private readonly lastValid = new Map<string, number>();

  private constructor(private readonly deps: VisitsDeps) {}

  static async open(deps: VisitsDeps): Promise<MaintenanceVisits> {
    return new MaintenanceVisits(deps);
  }

  lastValidVisitAt(deviceId: string): number | undefined {
    return this.lastValid.get(deviceId);
  }

  async inPeriod(_f: { from: number; to: number; unitId?: string | undefined; deviceId?: string | undefined }): Promise<VisitFact[]> {
    return [];
  }

  /** /api/v1 routes. */
  readonly routes: FastifyPluginAsync = async () => {};

  /** Cluster mode: only the timer leader ends visits left open (`maxOpen`). */
  setLeading(_leading: boolean): void {}
  start(): void {}
  stop(): void {}
  /** Another node's committed change (ids `visit:{deviceId}`). */
  async onNotice(_ids: readonly string[]): Promise<void> {}
}
