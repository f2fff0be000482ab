/**
 * Open event streams per account, shared by every stream hub (the console's feed, the queue
 * streams). Two jobs: one account cannot take every stream slot of the gateway, and when an
 * account's credentials stop being valid its streams end at once — a stream is authenticated only
 * when it opens, so without this a disabled account would keep hearing until it reconnects.
 */
import type { ServerResponse } from 'node:http';
import type { Principal } from '../access.js';
import { ADMIN_PRINCIPAL } from '../admin.js';
import { GatewayError } from '../errors.js';

interface Open { principal: Principal; end: () => void }

// the bootstrap admin is not an account: an account that happens to be called "admin" must neither
// share its allowance nor end its streams when revoked (ids cannot contain a space)
const keyOf = (p: Principal) => (p === ADMIN_PRINCIPAL ? ' bootstrap-admin' : p.id);

export class StreamGate {
  private readonly open = new Map<string, Set<Open>>();

  constructor(private readonly perAccount: number) {}

  /** Throws GW_TOO_MANY_STREAMS when the principal already holds its share; call before taking over the response. */
  check(principal: Principal): void {
    if ((this.open.get(keyOf(principal))?.size ?? 0) >= this.perAccount) {
      throw new GatewayError('GW_TOO_MANY_STREAMS', `this account already has ${this.perAccount} streams open; close one first`, { limit: this.perAccount });
    }
  }

  /** Counts the stream until its response closes; `end` ends it if the account is revoked. */
  track(principal: Principal, res: ServerResponse, end: () => void): void {
    const key = keyOf(principal);
    let set = this.open.get(key);
    if (!set) this.open.set(key, (set = new Set()));
    const entry: Open = { principal, end };
    set.add(entry);
    res.once('close', () => {
      if (set.delete(entry) && set.size === 0 && this.open.get(key) === set) this.open.delete(key);
    });
  }

  /** Ends every open stream of the account (disabled, or its token rotated). The bootstrap admin cannot be revoked. */
  revoke(accountId: string): number {
    const set = this.open.get(accountId);
    if (!set) return 0;
    this.open.delete(accountId);
    for (const s of set) {
      try { s.end(); } catch { /* the socket is gone already */ }
    }
    return set.size;
  }

  count(principal: Principal): number { return this.open.get(keyOf(principal))?.size ?? 0; }
}

/**
 * Ends a stream's response with its last frame; a reader that does not take those bytes within a
 * second is cut off, so that a revoked party cannot keep the socket by not reading.
 */
export function endStream(res: ServerResponse, last?: string): void {
  if (res.destroyed || res.writableEnded) return;
  const timer = setTimeout(() => res.destroy(), 1000);
  timer.unref();
  res.once('close', () => clearTimeout(timer));
  if (last === undefined) res.end(); else res.end(last);
}
