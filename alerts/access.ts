/**
 * Who may see and act on which alert (SPEC section 4). Property companies see their own sites'
 * alerts; a maintenance unit the elevators it maintains; market supervision elevator alerts; the
 * fire service fire alerts (fire kinds, fire water, e-bikes in lifts). Alerts recorded in
 * inspection / maintenance mode are not shown to the authorities, to whom they are not routed.
 * Queue access is the same rule the MQTT broker applies (`canReadQueue`).
 */
import type { Principal } from '../gateway/access.js';
import type { Alert } from './model.js';

export { canReadQueue } from '../gateway/broker/topics.js';

export function canSeeAlert(p: Principal, a: Alert): boolean {
  switch (p.role) {
    case 'admin': return true;
    case 'property': return a.companyId === p.scope;
    case 'maintenance': return a.deviceKind === 'elevator' && a.maintenanceUnitId === p.scope;
    case 'market-supervision': return a.deviceKind === 'elevator' && !a.suppressed;
    case 'fire-service': return a.domain === 'fire' && !a.suppressed;
  }
}

/** The same rule as SQL over the `alerts` table, for listing. */
export function alertScopeSql(p: Principal): { where: string; params: unknown[] } {
  switch (p.role) {
    case 'admin': return { where: '1 = 1', params: [] };
    case 'property': return { where: 'company_id = ?', params: [p.scope ?? ''] };
    case 'maintenance': return { where: "device_kind = 'elevator' AND maintenance_unit_id = ?", params: [p.scope ?? ''] };
    case 'market-supervision': return { where: "device_kind = 'elevator' AND suppressed = 0", params: [] };
    case 'fire-service': return { where: "domain = 'fire' AND suppressed = 0", params: [] };
  }
}
