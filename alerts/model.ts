/**
 * The alert as the ledger keeps it and the API and queues show it. An alert the ledger hands out is
 * a frozen snapshot: a change works on a copy (`AlertLedger.edit`), and the copy replaces the
 * snapshot only once its transaction has committed.
 */
import type { Role } from '../registry/index.js';
import type { AlertType, Domain, Severity } from './catalog.js';

export const ALERT_STATES = ['open', 'acknowledged', 'dispatched', 'resolved', 'closed', 'cleared'] as const;
export type AlertState = (typeof ALERT_STATES)[number];
/** States in which the alert is "the open alert" of its (device, type): repeats update it. */
export const ACTIVE_STATES: ReadonlySet<AlertState> = new Set(['open', 'acknowledged', 'dispatched', 'resolved']);

/** Who may take which, and when: alerts/permissions.ts. */
export const ACTIONS = ['acknowledge', 'arrive', 'dispatch', 'resolve', 'close', 'confirm', 'dismiss'] as const;
export type Action = (typeof ACTIONS)[number];

export type Confirmation = 'unconfirmed' | 'confirmed';

export interface Escalation { kind: 'acknowledge_overdue' | 'resolve_overdue' | 'arrive_overdue'; at: number; queues: string[] }

/**
 * One party's acknowledgement. A party is a role: the alert's scope leaves each role one organisation
 * of the alert (its property company, its maintenance unit, each authority), so a second account of
 * the same company or unit is the same party.
 */
export interface Acknowledgement { role: Role; actor: string; at: number }

/** Who recorded the maintenance unit's arrival on site (the unit itself, or the property company seeing it arrive). */
export interface Arrival { role: Role; actor: string }

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
  /** The device's building (registry) when the alert opened: fire alarms are corroborated within it (corroboration.ts). */
  building?: string | undefined;
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
  /**
   * `arrive` (SPEC 10 `deadlines.arrive`): trapped passengers only, opened + the site's arrival deadline (`alerts.rescue.arriveWithin`
   * by the site's area); null for other types and for alerts stored before arrival was tracked.
   */
  deadlines: { acknowledgeBy: number | null; resolveBy: number | null; verifyBy: number | null; arrive: number | null };
  /** The first acknowledgement by anyone: the alert left `open` then. */
  acknowledgedAt: number | null;
  /** Every party's first acknowledgement, in order (acknowledging, or acting before it did: see lifecycle.ts). */
  acknowledgements: Acknowledgement[];
  /** The first acknowledgement by a maintenance account: what the 3-minute response rate reads. */
  unitAcknowledgedAt: number | null;
  /** Trapped passengers: when the maintenance unit arrived on site (到场), and who recorded it. */
  arrivedAt: number | null;
  arrivedBy: Arrival | null;
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
  /** The building label: fire alarms are corroborated within a building. */
  building?: string | undefined;
  /** Fire devices: in test mode (set over the API) until this time (epoch ms); what they raise before it is a test. */
  testModeUntil?: number | undefined;
  nextInspectionDue?: string | undefined;
  disabled?: boolean | undefined;
  /** registration time (epoch ms) */
  createdAt?: number | undefined;
  /** The site's area: sets the rescue arrival deadline of a trapped-passenger alert. */
  area?: 'urban' | 'rural' | undefined;
  /** An elevator's rated speed (m/s, registry): the overspeed limit is a ratio of it. */
  ratedSpeed?: number | undefined;
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

/**
 * A stored alert document as the current shape: alerts stored before a field existed lack it, and
 * read as "never happened" (no arrival deadline, no arrival, no acknowledgement by a named party).
 */
export function upgradeAlert(doc: Alert): Alert {
  const d = doc as Alert & Partial<Pick<Alert, 'acknowledgements' | 'unitAcknowledgedAt' | 'arrivedAt' | 'arrivedBy'>>;
  d.acknowledgements ??= [];
  d.unitAcknowledgedAt ??= null;
  d.arrivedAt ??= null;
  d.arrivedBy ??= null;
  d.deadlines.arrive ??= null;
  return d;
}
