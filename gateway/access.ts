/**
 * Who may see what (SPEC section 4). A principal is an API / MQTT account or the bootstrap admin.
 * Every route asks these predicates; nothing outside a principal's scope is returned or acted on.
 */
import type { Role } from './registry/schemas.js';
import type { DeviceKind } from '../ingest/schemas/kinds.js';

export interface Principal {
  id: string;
  role: Role;
  /** companyId for property, unit id for maintenance. */
  scope?: string | undefined;
}

/** What a device looks like to the access rules. */
export interface ScopedDevice {
  kind: DeviceKind;
  companyId: string;
  maintenanceUnitId?: string | undefined;
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
