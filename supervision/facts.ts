/**
 * What the scorecards read of maintenance visits and rectification orders: one slim record each,
 * for a period. The alerts' own facts come from the alerts capability (`AlertFacts`).
 */

export interface VisitFact {
  id: number;
  deviceId: string;
  siteId: string;
  companyId: string;
  /** The maintenance unit whose account started the visit. */
  unitId: string;
  startedAt: number;
  /** null while the visit is under way. */
  finishedAt: number | null;
  /** Signed in and out, and the elevator's telemetry showed inspection / maintenance mode long enough. */
  valid: boolean;
  /** Finished, but the telemetry does not support it (疑似虚假维保). */
  suspect: boolean;
  /** Time the telemetry showed the elevator in inspection / maintenance mode during the visit (ms). */
  modeMs: number;
}

export interface VisitSource {
  /** Visits started in [from, to) (epoch ms), optionally of one unit or one elevator, oldest first. */
  inPeriod(f: { from: number; to: number; unitId?: string | undefined; deviceId?: string | undefined }): Promise<VisitFact[]>;
  /** The end of the elevator's last valid visit, if it had one (the 15-day check and the public notice). */
  lastValidVisitAt(deviceId: string): number | undefined;
}

export type OrderTargetType = 'company' | 'maintenance-unit';
export type OrderState = 'issued' | 'replied' | 'returned' | 'overdue' | 'closed';

export interface OrderFact {
  id: number;
  targetType: OrderTargetType;
  targetId: string;
  siteId: string | null;
  issuedAt: number;
  dueAt: number;
  state: OrderState;
  /** When the issuer closed it (销号); null while open. */
  closedAt: number | null;
  /** Whether its deadline passed before it was closed (also for orders closed late). */
  overdue: boolean;
}

export interface OrderSource {
  /** Orders issued in [from, to), or still open then, optionally of one target, oldest first. */
  inPeriod(f: { from: number; to: number; targetType?: OrderTargetType | undefined; targetId?: string | undefined }): Promise<OrderFact[]>;
}
