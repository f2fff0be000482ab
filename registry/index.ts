/**
 * The registry: organisations' sites, their devices, API / MQTT accounts, and the one scope module
 * (who may see what). What other capabilities may use of it is exported here, and only here.
 */
export { Registry, type Site, type SiteView, type Company, type MaintenanceUnit, type Device, type Account, type DeviceCheck, type RegistryEvents } from './registry.js';
export { DEVICE_KINDS, deviceKindSchema, type DeviceKind } from './kinds.js';
export {
  ROLES, type Role, idSchema, siteInputSchema, deviceInputSchema, devicePatchSchema, accountInputSchema, accountPatchSchema,
  sitePatchSchema, SITE_AREAS, type SiteArea, ELEVATOR_FIELDS, companyInputSchema, companyPatchSchema, maintenanceUnitInputSchema, maintenanceUnitPatchSchema,
  registrySeedSchema, type RegistrySeed,
} from './schemas.js';
export {
  type Principal, type ScopedDevice, type ScopedAlert, type ScopedSite, canSeeSite, canSeeDevice, canSeeCompany, canManageCompany, canSeeMaintenanceUnit, canManageMaintenanceUnit, isAdmin,
  canSeeAlert, alertScopeCondition, type AlertScopeTable, QUEUE_ROLES, type QueueRole, AUTHORITY_QUEUES, queueOf, queueParty, isQueueName, QUEUE_NAME_HINT, ownQueue,
  canReadQueue, partyKey,
} from './scope.js';
export { ADMIN_PRINCIPAL, resolveAdminToken, isAdminToken } from './admin.js';
export { seedRegistry } from './seed.js';
/** Bulk import and export of sites and devices (CSV, XLSX): registry/bulk. */
export {
  ENTITIES as BULK_ENTITIES, type Entity as BulkEntity, parseCsv, parseXlsx, planImport, applyPlan, exportCsv, exportXlsx, secretsCsv, type Parsed as BulkParsed,
  type RowError as BulkRowError,
} from './bulk/index.js';
