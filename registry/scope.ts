/**
 * Who may see what: the one scope module every capability asks. A principal is an API / MQTT account
 * or the bootstrap admin; its role and scope decide which devices, sites, alerts and queues exist for
 * it. Anything outside answers exactly like something missing.
 *
 * - property: one company (scope = companyId): its sites, their devices and alerts, its queue.
 * - maintenance: one unit (scope = unit id): the elevators it maintains and their alerts; the
 *   secondary water supply's pump rooms (water_pump) it runs (二次供水管理单位: the device's
 *   maintenanceUnitId) and their water-domain alerts (not a pump-room smoke alarm, a fire-domain alert); its queue.
 * - market-supervision: every elevator and its alerts, except those recorded in inspection /
 *   maintenance mode (never routed to the authorities); the market-supervision queue.
 * - fire-service: fire equipment (fire panels, smoke detectors, fire water) and every fire-domain
 *   alert, which includes an e-bike taken into a lift: the fire service hears of that hazard, while
 *   the lift itself stays the elevator authorities' device. The fire-service queue.
 * - street / community: one area (scope = a street name such as 南山街道, or a community name): the
 *   sites whose `street` / `community` is that name, their devices and alerts. They read and take no
 *   action on alerts (alerts/permissions.ts). A street has a queue, `street/{name}` (city management
 *   enforces the e-bike ban in lifts); a community has none: no alert type is routed to it. No
 *   company or unit entries.
 * - admin: everything.
 *
 * Company entries: an admin, and a property company its own. Maintenance unit entries: an admin, a
 * unit its own, and market supervision all of them (it ranks them); the fire service none.
 *
 * Queue names are derived here too, so that routing (alerts) and reading (API, MQTT) cannot disagree.
 */
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import { STREET_NAME_RE, type Role } from './schemas.js';
import type { DeviceKind } from './kinds.js';
import { ADMIN_PRINCIPAL } from './admin.js';

export interface Principal {
  id: string;
  role: Role;
  /** companyId for property, unit id for maintenance, a street / community name for street / community. */
  scope?: string | undefined;
}

/** What a site looks like to the scope rules (the registry's Site has these fields). */
export interface ScopedSite {
  companyId: string;
  street?: string | undefined;
  community?: string | undefined;
}

/** What a device looks like to the scope rules. */
export interface ScopedDevice {
  kind: DeviceKind;
  companyId: string;
  maintenanceUnitId?: string | undefined;
  /** The site's street and community (the registry's Device carries them). */
  street?: string | undefined;
  community?: string | undefined;
}

/** What an alert looks like to the scope rules (the alerts capability's Alert has these fields). */
export interface ScopedAlert {
  companyId: string;
  deviceKind: string;
  maintenanceUnitId: string | null;
  domain: string;
  /** Recorded in inspection / maintenance mode: not routed to, nor shown to, the authorities. */
  suppressed: boolean;
  /**
   * The site's street and community as they were when the alert opened; absent on alerts stored
   * before alerts carried them (see alertScopeCondition for what street / community accounts see of those).
   */
  street?: string | undefined;
  community?: string | undefined;
}

/** Whether an area account's scope is the given street / community name (never for a missing name or scope). */
const inArea = (p: Principal, name: string | undefined) => p.scope !== undefined && p.scope !== '' && name === p.scope;

const FIRE_KINDS: ReadonlySet<DeviceKind> = new Set(['fire_panel', 'smoke_detector', 'fire_water']);

/**
 * The device kinds a maintenance unit may be responsible for: elevators (维保单位) and the pump rooms
 * of the secondary water supply (二次供水管理单位); a unit named on any other device sees nothing of it.
 */
const MAINTAINED_KINDS: ReadonlySet<string> = new Set<DeviceKind>(['elevator', 'water_pump']);

/** A maintenance unit's alerts: all of its elevators', and the water-domain ones of its pump rooms. */
const maintainedAlert = (a: Pick<ScopedAlert, 'deviceKind' | 'domain'>) => a.deviceKind === 'elevator' || (a.deviceKind === 'water_pump' && a.domain === 'water');

export function canSeeDevice(p: Principal, d: ScopedDevice): boolean {
  switch (p.role) {
    case 'admin': return true;
    case 'property': return d.companyId === p.scope;
    case 'maintenance': return MAINTAINED_KINDS.has(d.kind) && d.maintenanceUnitId === p.scope;
    case 'market-supervision': return d.kind === 'elevator';
    case 'fire-service': return FIRE_KINDS.has(d.kind);
    case 'street': return inArea(p, d.street);
    case 'community': return inArea(p, d.community);
  }
}

/** Sites: those of the caller's company (as canSeeCompany), or of its street / community. */
export function canSeeSite(p: Principal, s: ScopedSite): boolean {
  switch (p.role) {
    case 'street': return inArea(p, s.street);
    case 'community': return inArea(p, s.community);
    default: return canSeeCompany(p, s.companyId);
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
    case 'maintenance': return maintainedAlert(a) && a.maintenanceUnitId === p.scope;
    case 'market-supervision': return a.deviceKind === 'elevator' && !a.suppressed;
    case 'fire-service': return a.domain === 'fire' && !a.suppressed;
    case 'street': return inArea(p, a.street);
    case 'community': return inArea(p, a.community);
  }
}

/** The columns of a table of alerts that the scope condition reads (the ledger's `alerts` table). */
export interface AlertScopeTable { company_id: string; device_kind: string; maintenance_unit_id: string | null; domain: string; suppressed: number; site_id: string }

/**
 * `canSeeAlert` as a condition on a table of alerts, for listing and counting them in the store (either dialect).
 *
 * street / community: the alerts table has no street or community column, so the condition asks the
 * registry's `sites` table (same database) for the sites of that street / community, by the alert's
 * site_id. For alerts raised now this agrees with canSeeAlert, which reads the alert's `street` /
 * `community` (copied from the site when it opened), as long as the site keeps its street / community.
 * Where they differ:
 * - alerts stored before alerts carried `street` / `community`: they are listed and counted here
 *   (by their site's current street / community) but, lacking the fields, canSeeAlert refuses them:
 *   fetched by id they answer 404, and the console's live stream does not show their changes;
 * - a site moved to another street / community: its older alerts are listed under the new area here
 *   and fetched by id under the old one (what the alert recorded).
 */
export function alertScopeCondition(eb: ExpressionBuilder<{ alerts: AlertScopeTable }, 'alerts'>, p: Principal): Expression<SqlBool> {
  switch (p.role) {
    case 'admin': return eb.lit(true);
    case 'property': return eb('company_id', '=', p.scope ?? '');
    case 'maintenance': return eb.and([
      eb.or([eb('device_kind', '=', 'elevator'), eb.and([eb('device_kind', '=', 'water_pump'), eb('domain', '=', 'water')])]),
      eb('maintenance_unit_id', '=', p.scope ?? ''),
    ]);
    case 'market-supervision': return eb.and([eb('device_kind', '=', 'elevator'), eb('suppressed', '=', 0)]);
    case 'fire-service': return eb.and([eb('domain', '=', 'fire'), eb('suppressed', '=', 0)]);
    case 'street': return areaSites(eb, 'street', p.scope);
    case 'community': return areaSites(eb, 'community', p.scope);
  }
}

function areaSites(eb: ExpressionBuilder<{ alerts: AlertScopeTable }, 'alerts'>, column: 'street' | 'community', scope: string | undefined): Expression<SqlBool> {
  if (!scope) return eb.lit(false);
  // `sites` is the registry's table (registry/store.ts); the column name is one of two literals
  return sql<SqlBool>`${eb.ref('site_id')} IN (SELECT id FROM sites WHERE ${sql.ref(column)} = ${scope})`;
}

// ---- queues ----

/** The parties an alert can be routed to; each has one queue (per company / unit / street where it is one of many). */
export const QUEUE_ROLES = ['market-supervision', 'fire-service', 'property', 'maintenance', 'street'] as const;
export type QueueRole = (typeof QUEUE_ROLES)[number];

/** The authorities: they verify and close (销号) what they received. */
export const AUTHORITY_QUEUES: readonly string[] = ['market-supervision', 'fire-service'];

/**
 * The queue of a party for a device or alert of `owner`; null when the party has none: a device
 * without a maintenance unit, a site without a street, or a street stored before street names were
 * checked whose name cannot be a queue (schemas.ts STREET_NAME_RE).
 */
export function queueOf(role: QueueRole, owner: { companyId: string; maintenanceUnitId?: string | null | undefined; street?: string | undefined }): string | null {
  switch (role) {
    case 'market-supervision': return 'market-supervision';
    case 'fire-service': return 'fire-service';
    case 'property': return `property/${owner.companyId}`;
    case 'maintenance': return owner.maintenanceUnitId ? `maintenance/${owner.maintenanceUnitId}` : null;
    case 'street': return owner.street !== undefined && STREET_NAME_RE.test(owner.street) ? `street/${owner.street}` : null;
  }
}

/** The party role whose queue this is (`property/…`, `maintenance/…`, `street/…`); undefined for the authorities' queues. */
export function queueParty(queue: string): 'property' | 'maintenance' | 'street' | undefined {
  if (queue.startsWith('property/')) return 'property';
  if (queue.startsWith('maintenance/')) return 'maintenance';
  if (queue.startsWith('street/')) return 'street';
  return undefined;
}

const ID_QUEUE_RE = /^(market-supervision|fire-service|(property|maintenance)\/[A-Za-z0-9][A-Za-z0-9_.:-]{0,127})$/; // an id as schemas.ts idSchema allows it
const STREET_PREFIX = 'street/';
export const QUEUE_NAME_HINT = 'a queue: market-supervision, fire-service, property/{companyId}, maintenance/{unitId} or street/{street name} / 队列：market-supervision、fire-service、property/{物业公司编号}、maintenance/{维保单位编号}或 street/{街道名称}';
export const isQueueName = (q: string) => ID_QUEUE_RE.test(q) || (q.startsWith(STREET_PREFIX) && STREET_NAME_RE.test(q.slice(STREET_PREFIX.length)));

/** The one queue an account reads (admins read them all: undefined). */
export function ownQueue(p: Principal): string | undefined {
  switch (p.role) {
    case 'admin': return undefined;
    case 'market-supervision': case 'fire-service': return p.role;
    case 'property': case 'maintenance': case 'street':
      return p.scope ? queueOf(p.role, { companyId: p.scope, maintenanceUnitId: p.scope, street: p.scope }) ?? undefined : undefined;
    // no alert type is routed to a community: it reads alerts through the API
    case 'community': return undefined;
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
