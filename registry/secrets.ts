/**
 * Device secrets and account tokens.
 *
 * Generated ones are 32 random bytes, shown once, stored only as SHA-256. A fast hash is right there
 * because they carry 256 bits of entropy (nothing to brute-force, unlike human passwords), and a
 * reconnect storm of thousands of devices must not cost seconds of CPU per connection as scrypt or
 * bcrypt would.
 *
 * A device secret an operator chose (the config seed: a secret already flashed into firmware) may be
 * guessable, so it is stored salted and slow (scrypt). Its check runs in the thread pool, not on the
 * event loop; after the first success a keyed fast proof is kept in memory, so the device's later
 * logins cost one fast hash again (see SecretProofs).
 */
import { createHash, createHmac, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

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

/**
 * scrypt N = 2^15, r = 8, p = 1: 32 MiB and about 90 ms per check on one core of the gateway's class
 * of machine. The cost is paid once per device per gateway start (then the proof is used) and at
 * seeding, so it can be well above the interactive-login minimum (2^14); the parameters travel in
 * the stored string, so they can be raised later without invalidating stored hashes.
 */
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
const SCRYPT_KEY_BYTES = 32;
const SCRYPT_RE = /^scrypt:(\d+):(\d+):(\d+):([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/;

/** `scrypt:<N>:<r>:<p>:<saltB64>:<hashB64>` */
export function hashChosenSecret(secret: string | Buffer): string {
  const salt = randomBytes(16);
  const hash = scryptSync(secret, salt, SCRYPT_KEY_BYTES, { ...SCRYPT, maxmem: maxmem(SCRYPT.N, SCRYPT.r) });
  return `scrypt:${SCRYPT.N}:${SCRYPT.r}:${SCRYPT.p}:${salt.toString('base64')}:${hash.toString('base64')}`;
}

export function isSlowHash(storedHash: string): boolean {
  return storedHash.startsWith('scrypt:');
}

/** A stored hash the registry accepts from the config seed. */
export const STORED_HASH_RE = /^(sha256:[0-9a-f]{64}|scrypt:\d+:\d+:\d+:[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2})$/;

/** Checks a secret against a `scrypt:` hash in the thread pool; a malformed hash or absurd parameters never match. */
export function secretMatchesSlow(secret: string | Buffer, storedHash: string): Promise<boolean> {
  const m = SCRYPT_RE.exec(storedHash);
  if (!m) return Promise.resolve(false);
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const salt = Buffer.from(m[4]!, 'base64');
  const expected = Buffer.from(m[5]!, 'base64');
  // a hash from the seed is operator input: refuse parameters that would take the process's memory
  if (N < 2 || (N & (N - 1)) !== 0 || N > 2 ** 20 || r < 1 || r > 32 || p < 1 || p > 16 || expected.length < 16) return Promise.resolve(false);
  return new Promise((resolve) => {
    scrypt(secret, salt, expected.length, { N, r, p, maxmem: maxmem(N, r) }, (err, derived) => {
      resolve(!err && timingSafeEqual(derived, expected));
    });
  });
}

function maxmem(N: number, r: number): number {
  return 128 * N * r * 2;
}

/**
 * Proofs that a device's chosen secret was checked: an HMAC of the secret under a key that exists only
 * in this process, remembered with the stored hash it was checked against. A later login compares one
 * HMAC instead of running scrypt again; a rotated secret (another stored hash) or a forgotten proof
 * (the device was revoked) sends the next login back to scrypt. Nothing here survives a restart.
 */
export class SecretProofs {
  private readonly key = randomBytes(32);
  private readonly proofs = new Map<string, { storedHash: string; mac: Buffer }>();

  /** true / false: decided by the proof; undefined: no proof for this stored hash, run scrypt. */
  check(id: string, storedHash: string, secret: string | Buffer): boolean | undefined {
    const proof = this.proofs.get(id);
    if (!proof || proof.storedHash !== storedHash) return undefined;
    return timingSafeEqual(this.mac(secret), proof.mac);
  }

  remember(id: string, storedHash: string, secret: string | Buffer): void {
    this.proofs.set(id, { storedHash, mac: this.mac(secret) });
  }

  forget(id: string): void {
    this.proofs.delete(id);
  }

  private mac(secret: string | Buffer): Buffer {
    return createHmac('sha256', this.key).update(secret).digest();
  }
}
