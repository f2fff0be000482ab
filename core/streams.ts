/**
 * Open event streams per party (an account), shared by every stream hub (the console's feed, the
 * queue streams). Two jobs: one party cannot take every stream slot of the gateway, and when a
 * party's credentials stop being valid its streams end at once — a stream is authenticated only
 * when it opens, so without this a disabled account would keep hearing until it reconnects.
 * Parties are named by a key (the registry's `partyKey`), so this module knows nothing of accounts.
 * The streams themselves are core/sse.ts.
 */
import type { ServerResponse } from 'node:http';
import { GatewayError } from './errors.js';

interface Open { end: () => void }

export class StreamGate {
  private readonly open = new Map<string, Set<Open>>();

  constructor(private readonly perAccount: number) {}

  /** Throws GW_TOO_MANY_STREAMS when the party already holds its share; call before taking over the response. */
  check(party: string): void {
    if ((this.open.get(party)?.size ?? 0) >= this.perAccount) {
      throw new GatewayError('GW_TOO_MANY_STREAMS', `this account already has ${this.perAccount} streams open; close one first`, { limit: this.perAccount });
    }
  }

  /** Counts the stream until its response closes; `end` ends it if the account is revoked. */
  track(party: string, res: ServerResponse, end: () => void): void {
    let set = this.open.get(party);
    if (!set) this.open.set(party, (set = new Set()));
    const entry: Open = { end };
    set.add(entry);
    res.once('close', () => {
      if (set.delete(entry) && set.size === 0 && this.open.get(party) === set) this.open.delete(party);
    });
  }

  /** Ends every open stream of the party (an account disabled, or its token rotated). */
  revoke(party: string): number {
    const set = this.open.get(party);
    if (!set) return 0;
    this.open.delete(party);
    for (const s of set) {
      try { s.end(); } catch { /* the socket is gone already */ }
    }
    return set.size;
  }

  count(party: string): number { return this.open.get(party)?.size ?? 0; }

  /** Open streams of every account. */
  get total(): number {
    let n = 0;
    for (const set of this.open.values()) n += set.size;
    return n;
  }
}
