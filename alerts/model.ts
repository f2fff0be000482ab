/**
 * The alert as the ledger keeps it and the API and queues show it. An alert the ledger hands out is
 * a frozen snapshot: a change works on a copy (`AlertLedger.edit`), and the copy replaces the
 * snapshot only once its transaction has committed.
 */
import type { AlertType, Domain, Severity } from './catalog.js';

export const ALERT_STATES = ['open', 'acknowledged', 'dispatched', 'resolved', 'closed', 'cleared'] as const;
export type AlertState = (typeof ALERT_STATES)[number];
/** States in which the alert is "the open alert" of its (device, type): repeats update it. */
export const ACTIVE_STATES: ReadonlySet<AlertState> = new Set(['open', 'acknowledged', 'dispatched', 'resolved']);

/** Who may take which, and when: alerts/permissions.ts. */
export const ACTIONS = ['acknowledge', 'dispatch', 'resolve', 'close', 'confirm', 'dismiss'] as const;
export type Action = (typeof ACTIONS)[number];

export type Confirmation = 'unconfirmed' | 'confirmed';

export interface Escalation { kind: 'acknowledge_overdue' | 'resolve_overdue'; at: number; queues: string[] }

export interface Alert {
  id: number;
  type: AlertType;
  /** What on the device: a fire panel's zone; '' for the device as a whole. One active alert per (device, type, subject). */
  subject: string;
  severity: Severity;
  state: AlertState;
  label: { zh: string; en: string };
  domain: Domain;
  deviceId: string;
  deviceKind: string;
  siteId: string;
  companyId: string;
  maintenanceUnitId: string | null;
  /**
   * What people read next to the ids: the names of the site, its company and the maintenance unit,
   * and the site's street and community, as the registry had them when the alert opened. Absent on
   * alerts stored before alerts carried them.
   */
  siteName?: string | undefined;
  companyName?: string | undefined;
  maintenanceUnitName?: string | undefined;
  street?: string | undefined;
  community?: string | undefined;
  location: string | null;
  openedAt: number;
  updatedAt: number;
  lastRaisedAt: number;
  /** Occurrences of the condition while this alert was open. */
  count: number;
  /** Whether the condition still holds (false once it ended; the alert may stay open for people to act). */
  conditionActive: boolean;
  /** Raised while an elevator was in inspection / maintenance mode: recorded, not routed to the authorities. */
  suppressed: boolean;
  /** Fire alarms: unconfirmed until corroborated or verified by staff. Null for other types. */
  confirmation: Confirmation | null;
  /** Fire alarms: the verify window passed without a verdict, so it went to the fire service unconfirmed. */
  forwardedUnverified: boolean;
  deadlines: { acknowledgeBy: number | null; resolveBy: number | null; verifyBy: number | null };
  acknowledgedAt: number | null;
  dispatchedAt: number | null;
  resolvedAt: number | null;
  closedAt: number | null;
  clearedAt: number | null;
  escalations: Escalation[];
  /** Queues this alert has been routed to so far; each gets every later change. */
  queues: string[];
  details: Record<string, unknown>;
}

/** An alert as the API shows it to one caller: with the actions that caller may take on it now. */
export type AlertForCaller = Alert & { allowedActions: Action[] };

export interface HistoryEntry {
  at: number;
  /** account id, or `system` for rules, deadlines and schedules */
  actor: string;
  action: string;
  note?: string | undefined;
  detail?: unknown;
}

export const SYSTEM_ACTOR = 'system';

/** What the rules know about a device. */
export interface DeviceInfo {
  id: string;
  kind: string;
  siteId: string;
  companyId: string;
  maintenanceUnitId?: string | undefined;
  siteName?: string | undefined;
  companyName?: string | undefined;
  maintenanceUnitName?: string | undefined;
  street?: string | undefined;
  community?: string | undefined;
  location?: string | undefined;
  nextInspectionDue?: string | undefined;
  disabled?: boolean | undefined;
  /** registration time (epoch ms) */
  createdAt?: number | undefined;
}

/** A rule's report that a condition holds: opens an alert, or repeats the active one. */
export interface RaiseInput {
  device: DeviceInfo;
  type: AlertType;
  subject: string;
  details: Record<string, unknown>;
  suppressed: boolean;
  at: number;
}
