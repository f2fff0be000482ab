/**
 * The console's live feed: every change of every alert the signed-in account may see, as
 * server-sent events on `GET /api/v1/console/stream`.
 *
 * Why not the queue streams: an operator's view is "all alerts in my scope", which is not one
 * queue. An admin has no queue at all, and the agencies' queues hold only what is routed to them
 * (the fire service's queue gets a fire alarm only once it is confirmed), while the alert list
 * (`GET /api/v1/alerts`) shows everything in scope. So this feed follows the list's rule,
 * `canSeeAlert`, and is fed by the alerts' change events: one per change, after its commit, in
 * order, whichever queues the change went to (or none).
 *
 * The feed is not resumable: a console that reconnects reads the list again (the ledger is the
 * source of truth), which also covers anything missed. Nothing is unbounded: a cap on open
 * streams, one on each account's share of them, and a reader that stops reading is cut off
 * (core/sse.ts). A stream whose account is disabled or whose token is rotated ends at once (`bye`
 * with reason `revoked`): the console reconnects, is refused, and asks to sign in.
 */
import type { ServerResponse } from 'node:http';
import { canSeeAlert, partyKey, type Principal } from '../../registry/index.js';
import type { AlertChange, Clock } from '../../alerts/index.js';
import { SseHub, type SseStream } from '../../core/sse.js';
import type { StreamGate } from '../../core/streams.js';

export interface LiveOptions {
  /** A `time` event this often keeps proxies from closing an idle stream and the browser's clock in step. */
  heartbeatMs: number;
  /** Open streams at most; more answer 503. */
  maxStreams: number;
  /** Bytes a stream may have waiting in its socket buffer before it is cut off. */
  maxBufferedBytes: number;
  /**
   * A stream is ended (with a `bye` event) after this long and the console reconnects at once. The
   * token is checked when a stream opens; revocation ends streams at once, and this bounds how long
   * anything else about the account (its scope) can be stale.
   */
  maxAgeMs: number;
}

interface Stream extends SseStream { principal: Principal; openedAt: number }

const bye = (reason: 'revoked' | 'max_age') => `event: bye\ndata: {"reason":"${reason}"}\n\n`;

export class ConsoleLive {
  private readonly hub: SseHub<Stream>;

  /** `gate`: the streams per account and their revocation, shared with the queue streams. */
  constructor(private readonly clock: Clock, private readonly opts: LiveOptions, gate?: StreamGate) {
    this.hub = new SseHub<Stream>({
      heartbeatMs: opts.heartbeatMs, heartbeat: () => this.ping(), maxBufferedBytes: opts.maxBufferedBytes, maxStreams: opts.maxStreams,
      revokedFrame: bye('revoked'), gate,
    });
  }

  get size(): number { return this.hub.size; }

  get full(): boolean { return this.hub.full; }

  /** The alerts' change listener. */
  readonly onChange = (change: AlertChange): void => {
    if (this.hub.size === 0) return;
    let frame: string | undefined;
    for (const s of this.hub.streams()) {
      // one stream that fails must not stop the others from hearing
      try {
        if (!canSeeAlert(s.principal, change.alert)) continue;
        frame ??= `event: alert\ndata: ${JSON.stringify({
          now: this.clock.now(), event: change.kind, at: change.at, alert: change.alert,
          ...(change.actor ? { actor: change.actor } : {}), ...(change.note ? { note: change.note } : {}), ...(change.reason ? { reason: change.reason } : {}),
        })}\n\n`;
        this.hub.write(s, frame);
      } catch {
        this.hub.cutOff(s);
      }
    }
  };

  /**
   * Throws a coded error when `principal` may not open one more stream (all taken: 503; the
   * account's share taken: 429). Call it before the response is taken over, and `open` right after
   * it in the same turn.
   */
  admit(principal: Principal): void {
    this.hub.admit(partyKey(principal));
  }

  /** Takes over a hijacked response of an authenticated caller. */
  open(principal: Principal, res: ServerResponse): void {
    // nothing is registered for a caller nobody authenticated
    if (!principal?.id || !principal.role) { res.destroy(); return; }
    // `now` is the alert clock's time, so countdowns are right even when the browser's clock is not
    const hello = `retry: 3000\nevent: hello\ndata: ${JSON.stringify({ now: this.clock.now(), principal: { id: principal.id, role: principal.role, scope: principal.scope ?? null } })}\n\n`;
    this.hub.open({ res, party: partyKey(principal), principal, openedAt: Date.now() }, hello);
  }

  private ping(): void {
    const frame = `event: time\ndata: {"now":${this.clock.now()}}\n\n`;
    const oldest = Date.now() - this.opts.maxAgeMs;
    for (const s of this.hub.streams()) {
      if (s.openedAt <= oldest) this.hub.end(s, bye('max_age'));
      else this.hub.write(s, frame);
    }
  }

  /** Ends every stream: the HTTP server's close waits for open responses. */
  close(): void {
    this.hub.close();
  }
}
