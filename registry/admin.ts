/**
 * The bootstrap admin. ADMIN_TOKEN, if set, is the admin's bearer token. If it is not set, one is
 * generated at the first start, its hash stored, and the token printed once on the console (not in
 * the JSON logs, which are shipped elsewhere); later starts reuse the stored hash.
 */
import { SqliteStore, type Db } from '../core/db/sqlite.js';
import { KV_MIGRATIONS, registryQueries, type RegistryTables } from './store.js';
import { generateSecret, hashSecret, secretMatches } from './secrets.js';
import type { Principal } from './scope.js';

export const ADMIN_PRINCIPAL: Principal = Object.freeze({ id: 'admin', role: 'admin' });

export function resolveAdminToken(db: Db, configured: string | undefined): { hash: string; generated?: string } {
  if (configured) return { hash: hashSecret(configured) };
  const store = new SqliteStore<RegistryTables>(db);
  store.migrate('kv', KV_MIGRATIONS);
  const queries = registryQueries(store.q);
  const row = store.get(queries.kvGet('admin_token_hash'));
  if (row) return { hash: row.value };
  const token = generateSecret();
  const hash = hashSecret(token);
  store.run(queries.kvInsert('admin_token_hash', hash));
  return { hash, generated: token };
}

export function isAdminToken(token: string, hash: string): boolean {
  return secretMatches(token, hash);
}
