/**
 * The bootstrap admin. ADMIN_TOKEN, if set, is the admin's bearer token. If it is not set, one is
 * generated at the first start, its hash stored, and the token printed once on the console (not in
 * the JSON logs, which are shipped elsewhere); later starts reuse the stored hash.
 */
import { migrate, type Db } from '../core/store.js';
import { generateSecret, hashSecret, secretMatches } from './secrets.js';
import type { Principal } from './scope.js';

export const ADMIN_PRINCIPAL: Principal = Object.freeze({ id: 'admin', role: 'admin' });

export function resolveAdminToken(db: Db, configured: string | undefined): { hash: string; generated?: string } {
  if (configured) return { hash: hashSecret(configured) };
  migrate(db, 'kv', ['CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)']);
  const row = db.prepare("SELECT value FROM kv WHERE key = 'admin_token_hash'").get() as { value: string } | undefined;
  if (row) return { hash: row.value };
  const token = generateSecret();
  const hash = hashSecret(token);
  db.prepare("INSERT INTO kv (key, value) VALUES ('admin_token_hash', ?)").run(hash);
  return { hash, generated: token };
}

export function isAdminToken(token: string, hash: string): boolean {
  return secretMatches(token, hash);
}
