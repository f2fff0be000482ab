/**
 * Makes a checked import's changes all or none: one store transaction through the registry (which
 * writes its own per-entry audit records), plus one audit record for the import as a whole. The
 * registry still checks each change; should one refuse (it would mean the plan missed a rule), the
 * whole import is taken back and the error answers the request.
 */
import type { AuditLog } from '../../core/audit.js';
import type { Registry } from '../registry.js';
import type { Plan } from './plan.js';

export interface ImportSecret { deviceId: string; secret: string }

export function applyPlan(registry: Registry, audit: AuditLog, plan: Plan, actor: string, detail: Record<string, unknown>): ImportSecret[] {
  return registry.atomically(() => {
    const secrets: ImportSecret[] = [];
    for (const c of plan.changes) {
      switch (c.op) {
        case 'createSite': registry.createSite(c.input, actor); break;
        case 'updateSite': registry.updateSite(c.id, c.patch, actor); break;
        case 'updateDevice': registry.updateDevice(c.id, c.patch, actor); break;
        case 'createDevice': {
          const { device, secret } = registry.createDevice(c.input, actor, { disabled: c.disabled });
          // generated, so always present; shown this once, stored only as its hash
          if (secret !== undefined) secrets.push({ deviceId: device.id, secret });
          break;
        }
      }
    }
    audit.record(actor, 'registry.import', 'registry', { ...detail, sites: plan.sites, devices: plan.devices });
    return secrets;
  });
}
