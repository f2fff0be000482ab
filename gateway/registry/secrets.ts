/**
 * Device secrets and account tokens: 32 random bytes, shown once, stored only as SHA-256.
 * A fast hash is right here because the secrets are machine-generated with 256 bits of entropy
 * (nothing to brute-force, unlike human passwords), and a reconnect storm of thousands of devices
 * must not cost seconds of CPU per connection as scrypt or bcrypt would.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string | Buffer): string {
  return 'sha256:' + createHash('sha256').update(secret).digest('hex');
}

export function secretMatches(secret: string | Buffer, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
