/**
 * The bootstrap admin. ADMIN_TOKEN, if set, is the admin's bearer token. If it is not set, one is
 * generated at the first start, its hash stored, and the token printed once on the console (not in
 * the JSON logs, which are shipped elsewhere); later starts reuse the stored hash.
 */
import type { Database } from '../core/db/store.js';
import { KV_MIGRATIONS, registryQueries, type RegistryTables } from './store.js';
import { generateSecret, hashSecret, secretMatches } from './secrets.js';
import type { Principal } from './scope.js';

export const ADMIN_PRINCIPAL: Principal = Object.freeze({ id: 'admin', role: 'admin' });

export async function resolveAdminToken(db: Database, configured: string | undefined): Promise<{ hash: string; generated?: string }> {
  if (configured) return { hash: hashSecret(configured) };
  const store = db.store<RegistryTables>();
  await store.migrate('kv', KV_MIGRATIONS);
  const queries = registryQueries(store.q);
  const row = await store.get(queries.kvGet('admin_token_hash'));
  if (row) return { hash: row.value };
  const token = generateSecret();
  const hash = hashSecret(token);
  // another node starting at the same moment may have stored its own: the first one stays, and this node uses it
  store.write(queries.kvInsertIfAbsent('admin_token_hash', hash));
  await store.durable();
  const stored = await store.get(queries.kvGet('admin_token_hash'));
  return stored && stored.value !== hash ? { hash: stored.value } : { hash, generated: token };
}

export function isAdminToken(token: string, hash: string): boolean {
  return secretMatches(token, hash);
}
