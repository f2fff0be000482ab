/**
 * Who may see what: the one scope module every capability asks. A principal is an API / MQTT account
 * or the bootstrap admin; its role and scope decide which devices, sites, alerts and queues exist for
 * it. Anything outside answers exactly like something missing.
 *
 * - property: one company (scope = companyId): its sites, their devices and alerts, its queue.
 * - maintenance: one unit (scope = unit id): the elevators it maintains, their alerts, its queue.
 * - market-supervision: every elevator and its alerts, except those recorded in inspection /
 *   maintenance mode (never routed to the authorities); the market-supervision queue.
 * - fire-service: fire equipment (fire panels, smoke detectors, fire water) and every fire-domain
 *   alert, which includes an e-bike taken into a lift: the fire service hears of that hazard, while
 *   the lift itself stays the elevator authorities' device. The fire-service queue.
 * - admin: everything.
 *
 * Company entries: an admin, and a property company its own. Maintenance unit entries: an admin, a
 * unit its own, and market supervision all of them (it ranks them); the fire service none.
 *
 * Queue names are derived here too, so that routing (alerts) and reading (API, MQTT) cannot disagree.
 */
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { Role } from './schemas.js';
import type { DeviceKind } from './kinds.js';
import { ADMIN_PRINCIPAL } from './admin.js';

export interface Principal {
  id: string;
  role: Role;
  /** companyId for property, unit id for maintenance. */
  scope?: string | undefined;
}

/** What a device looks like to the scope rules. */
export interface ScopedDevice {
  kind: DeviceKind;
  companyId: string;
  maintenanceUnitId?: string | undefined;
}

/** What an alert looks like to the scope rules (the alerts capability's Alert has these fields). */
export interface ScopedAlert {
  companyId: string;
  deviceKind: string;
  maintenanceUnitId: string | null;
  domain: string;
  /** Recorded in inspection / maintenance mode: not routed to, nor shown to, the authorities. */
  suppressed: boolean;
}

const FIRE_KINDS: ReadonlySet<DeviceKind> = new Set(['fire_panel', 'smoke_detector', 'fire_water']);

export function canSeeDevice(p: Principal, d: ScopedDevice): boolean {
  switch (p.role) {
    case 'admin': return true;
    case 'property': return d.companyId === p.scope;
    case 'maintenance': return d.kind === 'elevator' && d.maintenanceUnitId === p.scope;
    case 'market-supervision': return d.kind === 'elevator';
    case 'fire-service': return FIRE_KINDS.has(d.kind);
  }
}

export function canSeeCompany(p: Principal, companyId: string): boolean {
  return p.role === 'admin' || (p.role === 'property' && p.scope === companyId);
}

/** Registry changes: admins everywhere, a property company on its own sites. */
export function canManageCompany(p: Principal, companyId: string): boolean {
  return canSeeCompany(p, companyId);
}

export const isAdmin = (p: Principal) => p.role === 'admin';

/** Maintenance units: an admin, the unit itself, and market supervision (it ranks them all). */
export function canSeeMaintenanceUnit(p: Principal, unitId: string): boolean {
  return p.role === 'admin' || p.role === 'market-supervision' || (p.role === 'maintenance' && p.scope === unitId);
}

/** Who may change a unit's entry: an admin, or the unit itself (its name and phone). */
export function canManageMaintenanceUnit(p: Principal, unitId: string): boolean {
  return p.role === 'admin' || (p.role === 'maintenance' && p.scope === unitId);
}

export function canSeeAlert(p: Principal, a: ScopedAlert): boolean {
  switch (p.role) {
    case 'admin': return true;
    case 'property': return a.companyId === p.scope;
    case 'maintenance': return a.deviceKind === 'elevator' && a.maintenanceUnitId === p.scope;
    case 'market-supervision': return a.deviceKind === 'elevator' && !a.suppressed;
    case 'fire-service': return a.domain === 'fire' && !a.suppressed;
  }
}

/** The columns of a table of alerts that the scope condition reads (the ledger's `alerts` table). */
export interface AlertScopeTable { company_id: string; device_kind: string; maintenance_unit_id: string | null; domain: string; suppressed: number }

/** `canSeeAlert` as a condition on a table of alerts, for listing and counting them in the store (either dialect). */
export function alertScopeCondition(eb: ExpressionBuilder<{ alerts: AlertScopeTable }, 'alerts'>, p: Principal): Expression<SqlBool> {
  switch (p.role) {
    case 'admin': return eb.lit(true);
    case 'property': return eb('company_id', '=', p.scope ?? '');
    case 'maintenance': return eb.and([eb('device_kind', '=', 'elevator'), eb('maintenance_unit_id', '=', p.scope ?? '')]);
    case 'market-supervision': return eb.and([eb('device_kind', '=', 'elevator'), eb('suppressed', '=', 0)]);
    case 'fire-service': return eb.and([eb('domain', '=', 'fire'), eb('suppressed', '=', 0)]);
  }
}

// ---- queues ----

/** The parties an alert can be routed to; each has one queue (per company / unit where it is one of many). */
export const QUEUE_ROLES = ['market-supervision', 'fire-service', 'property', 'maintenance'] as const;
export type QueueRole = (typeof QUEUE_ROLES)[number];

/** The authorities: they verify and close (销号) what they received. */
export const AUTHORITY_QUEUES: readonly string[] = ['market-supervision', 'fire-service'];

/** The queue of a party for a device or alert of `owner`; null when the party has none (an elevator without a maintenance unit). */
export function queueOf(role: QueueRole, owner: { companyId: string; maintenanceUnitId?: string | null | undefined }): string | null {
  switch (role) {
    case 'market-supervision': return 'market-supervision';
    case 'fire-service': return 'fire-service';
    case 'property': return `property/${owner.companyId}`;
    case 'maintenance': return owner.maintenanceUnitId ? `maintenance/${owner.maintenanceUnitId}` : null;
  }
}

// an id as the registry allows it (schemas.ts idSchema)
const QUEUE_RE = /^(market-supervision|fire-service|(property|maintenance)\/[A-Za-z0-9][A-Za-z0-9_.:-]{0,127})$/;
export const QUEUE_NAME_HINT = 'a queue: market-supervision, fire-service, property/{companyId} or maintenance/{unitId}';
export const isQueueName = (q: string) => QUEUE_RE.test(q);

/** The one queue an account reads (admins read them all: undefined). */
export function ownQueue(p: Principal): string | undefined {
  switch (p.role) {
    case 'admin': return undefined;
    case 'market-supervision': case 'fire-service': return p.role;
    case 'property': case 'maintenance': return p.scope ? queueOf(p.role, { companyId: p.scope, maintenanceUnitId: p.scope }) ?? undefined : undefined;
  }
}

export function canReadQueue(p: Principal, queue: string): boolean {
  if (p.role === 'admin') return true;
  const own = ownQueue(p);
  return own !== undefined && queue === own;
}

/**
 * A key that tells parties apart for per-party limits and revocation: the account id, or a key no
 * account can have for the bootstrap admin (ids cannot contain a space), so that an account that
 * happens to be called "admin" neither shares the bootstrap admin's allowance nor ends its streams.
 */
export function partyKey(p: Principal): string {
  return p === ADMIN_PRINCIPAL ? ' bootstrap-admin' : p.id;
}
