/**
 * The registry's tables, their migrations for both stores, and every query the registry makes, built
 * with the query layer so that the embedded store and PostgreSQL run the same ones.
 */
import type { Kysely } from 'kysely';
import type { Migration } from '../core/db/query.js';

export interface RegistryTables {
  sites: { id: string; name: string; company_id: string; address: string | null; created_at: number };
  devices: {
    id: string; kind: string; site_id: string; location: string | null; building: string | null; maintenance_unit_id: string | null;
    registration_code: string | null; next_inspection_due: string | null; secret_hash: string; disabled: number; created_at: number;
  };
  accounts: { id: string; role: string; scope: string | null; name: string | null; token_hash: string; disabled: number; created_at: number };
  kv: { key: string; value: string };
}

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
}];

/** The bootstrap admin's token hash lives in a key-value table of its own. */
export const KV_MIGRATIONS: readonly Migration[] = ['CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)'];

type SiteRow = RegistryTables['sites'];
type DeviceRow = RegistryTables['devices'];
type AccountRow = RegistryTables['accounts'];

export const registryQueries = (q: Kysely<RegistryTables>) => ({
  sites: () => q.selectFrom('sites').selectAll(),
  devices: () => q.selectFrom('devices').selectAll(),
  accounts: () => q.selectFrom('accounts').selectAll(),
  sitesIn: (ids: readonly string[]) => q.selectFrom('sites').selectAll().where('id', 'in', ids),
  devicesIn: (ids: readonly string[]) => q.selectFrom('devices').selectAll().where('id', 'in', ids),
  accountsIn: (ids: readonly string[]) => q.selectFrom('accounts').selectAll().where('id', 'in', ids),
  insertSite: (row: SiteRow) => q.insertInto('sites').values(row),
  insertDevice: (row: DeviceRow) => q.insertInto('devices').values(row),
  updateDevice: (id: string, set: Partial<Omit<DeviceRow, 'id' | 'kind' | 'created_at'>>) => q.updateTable('devices').set(set).where('id', '=', id),
  insertAccount: (row: AccountRow) => q.insertInto('accounts').values(row),
  updateAccount: (id: string, set: Partial<Pick<AccountRow, 'disabled' | 'name' | 'token_hash'>>) => q.updateTable('accounts').set(set).where('id', '=', id),
  kvGet: (key: string) => q.selectFrom('kv').select('value').where('key', '=', key),
  kvInsertIfAbsent: (key: string, value: string) => q.insertInto('kv').values({ key, value }).onConflict((oc) => oc.column('key').doNothing()),
});
