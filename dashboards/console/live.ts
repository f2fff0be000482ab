/**
 * The console's live feed: every change of every alert the signed-in account may see, as
 * server-sent events on `GET /api/v1/console/stream`.
 *
 * Why not the queue streams: an operator's view is "all alerts in my scope", which is not one
 * queue. An admin has no queue at all, and the agencies' queues hold only what is routed to them
 * (the fire service's queue gets a fire alarm only once it is confirmed), while the alert list
 * (`GET /api/v1/alerts`) shows everything in scope. So this feed follows the list's rule,
 * `canSeeAlert`, and is fed by the queue log's live listener (after commit, in order).
 *
 * One change of an alert is appended to each of its queues, so the listener hears it once per
 * queue; identical snapshots are sent once. The feed is not resumable: a console that reconnects
 * reads the list again (the ledger is the source of truth), which also covers anything missed.
 * Nothing is unbounded: a cap on open streams, one on each account's share of them, and a reader
 * that stops reading is cut off. A stream whose account is disabled or whose token is rotated ends
 * at once (`bye` with reason `revoked`): the console reconnects, is refused, and asks to sign in.
 */
import type { ServerResponse } from 'node:http';
import { canSeeAlert, partyKey, type Principal } from '../../registry/index.js';
import type { Alert, Clock, QueueMessage } from '../../alerts/index.js';
import { GatewayError } from '../../core/errors.js';
import { endStream, SSE_HEADERS, type StreamGate } from '../../core/streams.js';

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

interface Stream { principal: Principal; res: ServerResponse; openedAt: number }

/** The part of a queue message that is the same in every queue it went to (from `"at":` on). */
const changeKey = (json: string) => json.slice(json.indexOf(',"at":'));
/** Recent changes remembered for de-duplication: one change reaches at most four queues, back to back. */
const RECENT = 32;

export class ConsoleLive {
  private readonly streams = new Set<Stream>();
  private readonly recent: string[] = [];
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  /** `gate`: the streams per account and their revocation, shared with the queue streams. */
  constructor(private readonly clock: Clock, private readonly opts: LiveOptions, private readonly gate?: StreamGate) {
    this.heartbeat = setInterval(() => this.ping(), opts.heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number { return this.streams.size; }

  get full(): boolean { return this.streams.size >= this.opts.maxStreams; }

  /** The queue log's live listener. */
  readonly onMessage = (message: QueueMessage, json: string): void => {
    if (this.streams.size === 0) return;
    const key = changeKey(json);
    if (this.recent.includes(key)) return;
    this.recent.push(key);
    if (this.recent.length > RECENT) this.recent.shift();
    // the snapshot as stored, not `message.alert`, which is the live object and may change later
    const snapshot = JSON.parse(json) as QueueMessage;
    const alert: Alert = snapshot.alert;
    let frame: string | undefined;
    for (const s of this.streams) {
      // one stream that fails must not stop the others from hearing
      try {
        if (!canSeeAlert(s.principal, alert)) continue;
        frame ??= `event: alert\ndata: ${JSON.stringify({
          now: this.clock.now(), event: snapshot.event, at: snapshot.at, alert,
          ...(snapshot.actor ? { actor: snapshot.actor } : {}), ...(snapshot.note ? { note: snapshot.note } : {}), ...(snapshot.reason ? { reason: snapshot.reason } : {}),
        })}\n\n`;
        this.write(s, frame);
      } catch {
        this.streams.delete(s);
        s.res.destroy();
      }
    }
  };

  /**
   * Throws a coded error when `principal` may not open one more stream (all taken: 503; the
   * account's share taken: 429). Call it before the response is taken over, and `open` right after
   * it in the same turn.
   */
  admit(principal: Principal): void {
    if (this.closed) throw new GatewayError('GW_UNAVAILABLE', 'the gateway is stopping');
    if (this.full) throw new GatewayError('GW_UNAVAILABLE', 'too many console streams are open; try again later');
    this.gate?.check(partyKey(principal));
  }

  /** Takes over a hijacked response of an authenticated caller. */
  open(principal: Principal, res: ServerResponse): void {
    if (this.closed) { res.destroy(); return; }
    // nothing is registered for a caller nobody authenticated
    if (!principal?.id || !principal.role) { res.destroy(); return; }
    const s: Stream = { principal, res, openedAt: Date.now() };
    this.gate?.track(partyKey(principal), res, () => {
      this.streams.delete(s);
      endStream(res, 'event: bye\ndata: {"reason":"revoked"}\n\n');
    });
    // a stream is quiet between heartbeats by design: the server's idle timeout is for requests
    res.socket?.setTimeout(0);
    res.writeHead(200, SSE_HEADERS);
    this.streams.add(s);
    res.on('close', () => this.streams.delete(s));
    // `now` is the alert clock's time, so countdowns are right even when the browser's clock is not
    this.write(s, `retry: 3000\nevent: hello\ndata: ${JSON.stringify({ now: this.clock.now(), principal: { id: principal.id, role: principal.role, scope: principal.scope ?? null } })}\n\n`);
  }

  private write(s: Stream, frame: string): void {
    if (s.res.destroyed || s.res.writableEnded) return;
    s.res.write(frame);
    // a console that stops reading is cut off; it reconnects and reads the list again
    if (s.res.writableLength > this.opts.maxBufferedBytes) {
      this.streams.delete(s);
      s.res.destroy();
    }
  }

  private ping(): void {
    if (this.streams.size === 0) return;
    const frame = `event: time\ndata: {"now":${this.clock.now()}}\n\n`;
    const oldest = Date.now() - this.opts.maxAgeMs;
    for (const s of this.streams) {
      if (s.openedAt <= oldest) {
        this.streams.delete(s);
        s.res.end('event: bye\ndata: {"reason":"max_age"}\n\n');
      } else {
        this.write(s, frame);
      }
    }
  }

  /** Ends every stream: the HTTP server's close waits for open responses. */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const s of this.streams) s.res.end();
    this.streams.clear();
  }
}
