/**
 * The registry's tables, their migrations for both stores, and every query the registry makes, built
 * with the query layer so that the embedded store and PostgreSQL run the same ones.
 */
import type { Kysely } from 'kysely';
import type { Migration } from '../core/db/query.js';

export interface RegistryTables {
  sites: {
    id: string; name: string; company_id: string; address: string | null; created_at: number;
    street: string | null; community: string | null; grid: string | null; area: string;
    /** The company is an emergency operator (应急物业) until this date (YYYY-MM-DD); null for a regular one. */
    emergency_until: string | null;
    /** A handover fixed for a later time: to this company, from `handover_at` (epoch ms). */
    handover_company_id: string | null; handover_at: number | null; handover_emergency_until: string | null; handover_actor: string | null;
  };
  /** Who was responsible for a site when: one row per period, `until_at` null for the current one. */
  site_responsibility: { site_id: string; company_id: string; from_at: number; until_at: number | null; emergency: number; actor: string };
  devices: {
    id: string; kind: string; site_id: string; location: string | null; building: string | null; maintenance_unit_id: string | null;
    registration_code: string | null; next_inspection_due: string | null; secret_hash: string; disabled: number; created_at: number;
    rated_speed: number | null; top_floor: number | null; bottom_floor: number | null; installed_at: string | null; warranty_until: string | null;
    /** The device model (型号): its rule settings may differ (alerts.rules.models). */
    model: string | null;
    /** Fire devices: in test mode until this time (epoch ms), with the note given; null when not. */
    test_mode_until: number | null; test_mode_note: string | null;
    /** Field protocols: an NB-IoT device's IMEI, a GB/T 26875.3 transmission device's source address (12 hex, wire order). */
    imei: string | null; uitd_address: string | null;
  };
  accounts: { id: string; role: string; scope: string | null; name: string | null; token_hash: string; disabled: number; created_at: number };
  kv: { key: string; value: string };
  companies: { id: string; name: string; credit_code: string | null; phone: string | null; created_at: number };
  /** `phone` is the unit's 24 h phone; '' only for units carried forward from before it was asked for (not registered). */
  maintenance_units: { id: string; name: string; licence: string | null; phone: string; created_at: number };
}

/** Version 2's carrying forward of the ids in use (the same SQL in both dialects). */
const CARRY_FORWARD = `INSERT INTO companies (id, name, credit_code, phone, created_at)
      SELECT used.id, used.id, NULL, NULL, MIN(used.created_at) FROM (
        SELECT company_id AS id, created_at FROM sites
        UNION ALL SELECT scope AS id, created_at FROM accounts WHERE role = 'property' AND scope IS NOT NULL) used
      GROUP BY used.id;
    INSERT INTO maintenance_units (id, name, licence, phone, created_at)
      SELECT used.id, used.id, NULL, '', MIN(used.created_at) FROM (
        SELECT maintenance_unit_id AS id, created_at FROM devices WHERE maintenance_unit_id IS NOT NULL
        UNION ALL SELECT scope AS id, created_at FROM accounts WHERE role = 'maintenance' AND scope IS NOT NULL) used
      GROUP BY used.id;`;

/** Version 4's responsibility table, carried forward from the sites (epoch milliseconds need BIGINT in PostgreSQL). */
const RESPONSIBILITY = (epoch: string) => `CREATE TABLE site_responsibility (site_id TEXT NOT NULL, company_id TEXT NOT NULL,
      from_at ${epoch} NOT NULL, until_at ${epoch}, emergency INTEGER NOT NULL DEFAULT 0, actor TEXT NOT NULL);
    CREATE INDEX site_responsibility_site ON site_responsibility (site_id, from_at);
    CREATE UNIQUE INDEX site_responsibility_current ON site_responsibility (site_id) WHERE until_at IS NULL;
    INSERT INTO site_responsibility (site_id, company_id, from_at, until_at, emergency, actor) SELECT id, company_id, created_at, NULL, 0, 'system' FROM sites;`;

export const REGISTRY_MIGRATIONS: readonly Migration[] = [{
  // the same DDL in both dialects, but for epoch milliseconds, which need 64 bits in PostgreSQL
  sqlite: `CREATE TABLE sites (id TEXT PRIMARY KEY, name TEXT NOT NULL, company_id TEXT NOT NULL, address TEXT, created_at INTEGER NOT NULL);
    CREATE TABLE devices (id TEXT PRIMARY KEY, kind TEXT NOT NULL, site_id TEXT NOT NULL REFERENCES sites(id),
      location TEXT, building TEXT, maintenance_unit_id TEXT, registration_code TEXT, next_inspection_due TEXT,
      secret_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
    CREATE TABLE accounts (id TEXT PRIMARY KEY, role TEXT NOT NULL, scope TEXT, name TEXT, token_hash TEXT NOT NULL UNIQUE,
      disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);`,
  postgres: `CREATE TABLE sites (id TEXT PRIMARY KEY, name TEXT NOT NULL, company_id TEXT NOT NULL, address TEXT, created_at BIGINT NOT NULL);
    CREATE TABLE devices (id TEXT PRIMARY KEY, kind TEXT NOT NULL, site_id TEXT NOT NULL REFERENCES sites(id),
      location TEXT, building TEXT, maintenance_unit_id TEXT, registration_code TEXT, next_inspection_due TEXT,
      secret_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);
    CREATE TABLE accounts (id TEXT PRIMARY KEY, role TEXT NOT NULL, scope TEXT, name TEXT, token_hash TEXT NOT NULL UNIQUE,
      disabled INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);`,
}, {
  // version 2: property companies and maintenance units as entries with names. Every company id a site
  // or a property account names and every unit id a device or a maintenance account names is carried
  // forward, named by its id; units get an empty phone (not registered) that the operator must fill in.
  sqlite: `CREATE TABLE companies (id TEXT PRIMARY KEY, name TEXT NOT NULL, credit_code TEXT, phone TEXT, created_at INTEGER NOT NULL);
    CREATE TABLE maintenance_units (id TEXT PRIMARY KEY, name TEXT NOT NULL, licence TEXT, phone TEXT NOT NULL, created_at INTEGER NOT NULL);
    ${CARRY_FORWARD}`,
  postgres: `CREATE TABLE companies (id TEXT PRIMARY KEY, name TEXT NOT NULL, credit_code TEXT, phone TEXT, created_at BIGINT NOT NULL);
    CREATE TABLE maintenance_units (id TEXT PRIMARY KEY, name TEXT NOT NULL, licence TEXT, phone TEXT NOT NULL, created_at BIGINT NOT NULL);
    ${CARRY_FORWARD}`,
}, {
  // version 3: where a site is (street, community, grid; urban or rural sets the rescue arrival deadline) and the elevators' data
  sqlite: `ALTER TABLE sites ADD COLUMN street TEXT; ALTER TABLE sites ADD COLUMN community TEXT; ALTER TABLE sites ADD COLUMN grid TEXT;
    ALTER TABLE sites ADD COLUMN area TEXT NOT NULL DEFAULT 'urban';
    ALTER TABLE devices ADD COLUMN rated_speed REAL; ALTER TABLE devices ADD COLUMN top_floor INTEGER; ALTER TABLE devices ADD COLUMN bottom_floor INTEGER;
    ALTER TABLE devices ADD COLUMN installed_at TEXT; ALTER TABLE devices ADD COLUMN warranty_until TEXT;`,
  postgres: `ALTER TABLE sites ADD COLUMN street TEXT; ALTER TABLE sites ADD COLUMN community TEXT; ALTER TABLE sites ADD COLUMN grid TEXT;
    ALTER TABLE sites ADD COLUMN area TEXT NOT NULL DEFAULT 'urban';
    ALTER TABLE devices ADD COLUMN rated_speed DOUBLE PRECISION; ALTER TABLE devices ADD COLUMN top_floor INTEGER; ALTER TABLE devices ADD COLUMN bottom_floor INTEGER;
    ALTER TABLE devices ADD COLUMN installed_at TEXT; ALTER TABLE devices ADD COLUMN warranty_until TEXT;`,
}, {
  // version 4: handover. Each site's company so far is responsible from the site's creation on; a
  // handover closes that period and opens the next one (one open period per site: the unique index).
  sqlite: `ALTER TABLE sites ADD COLUMN emergency_until TEXT; ALTER TABLE sites ADD COLUMN handover_company_id TEXT;
    ALTER TABLE sites ADD COLUMN handover_at INTEGER; ALTER TABLE sites ADD COLUMN handover_emergency_until TEXT; ALTER TABLE sites ADD COLUMN handover_actor TEXT;
    ${RESPONSIBILITY('INTEGER')}`,
  postgres: `ALTER TABLE sites ADD COLUMN emergency_until TEXT; ALTER TABLE sites ADD COLUMN handover_company_id TEXT;
    ALTER TABLE sites ADD COLUMN handover_at BIGINT; ALTER TABLE sites ADD COLUMN handover_emergency_until TEXT; ALTER TABLE sites ADD COLUMN handover_actor TEXT;
    ${RESPONSIBILITY('BIGINT')}`,
}, {
  // version 5: the device model (rule settings per model) and a fire device's test mode, which must outlive a restart
  sqlite: `ALTER TABLE devices ADD COLUMN model TEXT; ALTER TABLE devices ADD COLUMN test_mode_until INTEGER; ALTER TABLE devices ADD COLUMN test_mode_note TEXT;`,
  postgres: `ALTER TABLE devices ADD COLUMN model TEXT; ALTER TABLE devices ADD COLUMN test_mode_until BIGINT; ALTER TABLE devices ADD COLUMN test_mode_note TEXT;`,
},
// version 6: how field protocols name a device; unique, as a push or a frame must name one device (NULLs do not collide)
`ALTER TABLE devices ADD COLUMN imei TEXT; ALTER TABLE devices ADD COLUMN uitd_address TEXT;
    CREATE UNIQUE INDEX devices_imei ON devices (imei); CREATE UNIQUE INDEX devices_uitd_address ON devices (uitd_address);`];

/** The bootstrap admin's token hash lives in a key-value table of its own. */
export const KV_MIGRATIONS: readonly Migration[] = ['CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)'];

type SiteRow = RegistryTables['sites'];
type DeviceRow = RegistryTables['devices'];
type AccountRow = RegistryTables['accounts'];
/** The columns version 3 added: a row may leave them out (null, or the site's default area). */
type SiteV3 = 'street' | 'community' | 'grid' | 'area' | SiteV4;
/** The columns version 4 added (handover). */
type SiteV4 = 'emergency_until' | 'handover_company_id' | 'handover_at' | 'handover_emergency_until' | 'handover_actor';
type DeviceV3 = 'rated_speed' | 'top_floor' | 'bottom_floor' | 'installed_at' | 'warranty_until' | DeviceV5;
/** The columns version 5 added (model, test mode). */
type DeviceV5 = 'model' | 'test_mode_until' | 'test_mode_note' | DeviceV6;
/** The columns version 6 added (field protocol addresses). */
type DeviceV6 = 'imei' | 'uitd_address';
type Optional<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;
type CompanyRow = RegistryTables['companies'];
type UnitRow = RegistryTables['maintenance_units'];

export const registryQueries = (q: Kysely<RegistryTables>) => ({
  sites: () => q.selectFrom('sites').selectAll(),
  devices: () => q.selectFrom('devices').selectAll(),
  accounts: () => q.selectFrom('accounts').selectAll(),
  sitesIn: (ids: readonly string[]) => q.selectFrom('sites').selectAll().where('id', 'in', ids),
  devicesIn: (ids: readonly string[]) => q.selectFrom('devices').selectAll().where('id', 'in', ids),
  accountsIn: (ids: readonly string[]) => q.selectFrom('accounts').selectAll().where('id', 'in', ids),
  insertSite: (row: Optional<SiteRow, SiteV3>) => q.insertInto('sites').values({ ...row, area: row.area ?? 'urban' }),
  /** Name, address and location; the company changes only by a handover. */
  updateSite: (id: string, set: Partial<Omit<SiteRow, 'id' | 'company_id' | 'created_at' | SiteV4>>) => q.updateTable('sites').set(set).where('id', '=', id),
  /** The handover fixed for later (or none: nulls). */
  setPendingHandover: (id: string, set: Pick<SiteRow, 'handover_company_id' | 'handover_at' | 'handover_emergency_until' | 'handover_actor'>) =>
    q.updateTable('sites').set(set).where('id', '=', id),
  /** The site's company from now on; any handover fixed for later is done or void. */
  handOverSite: (id: string, companyId: string, emergencyUntil: string | null) => q.updateTable('sites')
    .set({ company_id: companyId, emergency_until: emergencyUntil, handover_company_id: null, handover_at: null, handover_emergency_until: null, handover_actor: null })
    .where('id', '=', id),
  responsibility: (siteId: string) => q.selectFrom('site_responsibility').selectAll().where('site_id', '=', siteId).orderBy('from_at'),
  /** Ends the site's current period of responsibility. */
  endResponsibility: (siteId: string, at: number) => q.updateTable('site_responsibility').set({ until_at: at }).where('site_id', '=', siteId).where('until_at', 'is', null),
  startResponsibility: (row: RegistryTables['site_responsibility']) => q.insertInto('site_responsibility').values(row),
  insertDevice: (row: Optional<DeviceRow, DeviceV3>) => q.insertInto('devices').values(row),
  updateDevice: (id: string, set: Partial<Omit<DeviceRow, 'id' | 'kind' | 'created_at'>>) => q.updateTable('devices').set(set).where('id', '=', id),
  insertAccount: (row: AccountRow) => q.insertInto('accounts').values(row),
  updateAccount: (id: string, set: Partial<Pick<AccountRow, 'disabled' | 'name' | 'token_hash'>>) => q.updateTable('accounts').set(set).where('id', '=', id),
  companies: () => q.selectFrom('companies').selectAll(),
  units: () => q.selectFrom('maintenance_units').selectAll(),
  companiesIn: (ids: readonly string[]) => q.selectFrom('companies').selectAll().where('id', 'in', ids),
  unitsIn: (ids: readonly string[]) => q.selectFrom('maintenance_units').selectAll().where('id', 'in', ids),
  insertCompany: (row: CompanyRow) => q.insertInto('companies').values(row),
  updateCompany: (id: string, set: Partial<Omit<CompanyRow, 'id' | 'created_at'>>) => q.updateTable('companies').set(set).where('id', '=', id),
  insertUnit: (row: UnitRow) => q.insertInto('maintenance_units').values(row),
  updateUnit: (id: string, set: Partial<Omit<UnitRow, 'id' | 'created_at'>>) => q.updateTable('maintenance_units').set(set).where('id', '=', id),
  kvGet: (key: string) => q.selectFrom('kv').select('value').where('key', '=', key),
  kvInsertIfAbsent: (key: string, value: string) => q.insertInto('kv').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()),
});
