/**
 * The one server-sent-events mechanism under every event stream of the gateway (the queue streams,
 * the console's feed). What is the same for all of them lives here: the response headers, taking
 * over a response, a heartbeat, writing with a cap on the bytes waiting in a socket (a reader that
 * stops reading is cut off, never buffered without bound), the per-account count and revocation of
 * `StreamGate`, and ending every stream when the gateway stops. What each feed sends, and when, is
 * the feed's own business: replay by cursor for the queues, hello / time / bye for the console.
 */
import type { ServerResponse } from 'node:http';
import { GatewayError } from './errors.js';
import type { StreamGate } from './streams.js';

/** Response headers of every server-sent event stream of the gateway. */
export const SSE_HEADERS = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  // proxies (nginx) must not buffer a stream
  'x-accel-buffering': 'no',
});

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

/** Resolves when the socket has taken what was written, or the response is gone. */
export function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
}

/** One open stream; a feed extends it with what it needs to know per stream. */
export interface SseStream {
  readonly res: ServerResponse;
  /** Whose stream it is, for the per-account count and revocation (the registry's `partyKey`). */
  readonly party: string;
}

export interface SseHubOptions<S extends SseStream> {
  /** The hub calls `heartbeat` this often while it is open; the feed writes what keeps its streams alive. */
  heartbeatMs: number;
  heartbeat: () => void;
  /** Bytes a stream may have waiting in its socket buffer before it is cut off. */
  maxBufferedBytes: number;
  /** Open streams at most; more are refused with GW_UNAVAILABLE. Unset: no cap but the per-account one. */
  maxStreams?: number | undefined;
  /** The last frame of a stream whose account is revoked (default: none, the response just ends). */
  revokedFrame?: string | undefined;
  /** Called once for each stream that leaves the hub (closed, cut off, revoked, ended). */
  onRemove?: ((s: S) => void) | undefined;
  /** Streams per account and their revocation, shared by every hub of the gateway. */
  gate?: StreamGate | undefined;
}

export class SseHub<S extends SseStream> {
  private readonly live = new Set<S>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly opts: SseHubOptions<S>) {
    this.timer = setInterval(() => { if (this.live.size > 0) opts.heartbeat(); }, opts.heartbeatMs);
    this.timer.unref();
  }

  get size(): number { return this.live.size; }

  get full(): boolean { return this.opts.maxStreams !== undefined && this.live.size >= this.opts.maxStreams; }

  /** The open streams (a snapshot is not taken: remove only through the hub while iterating). */
  streams(): IterableIterator<S> { return this.live.values(); }

  /**
   * Throws a coded error when `party` may not open one more stream: the gateway is stopping or all
   * streams are taken (503), or the account holds its share (429). Call it before the response is
   * taken over, and `open` right after it in the same turn, so that nothing slips in between.
   */
  admit(party: string): void {
    if (this.closed) throw new GatewayError('GW_UNAVAILABLE', 'the gateway is stopping');
    if (this.full) throw new GatewayError('GW_UNAVAILABLE', 'too many event streams are open; try again later');
    this.opts.gate?.check(party);
  }

  /**
   * Takes over a (hijacked) response: counted for its account, headers, then `first`. False when
   * the hub is closed already (the response is destroyed).
   */
  open(s: S, first?: string): boolean {
    if (this.closed) { s.res.destroy(); return false; }
    const { res } = s;
    this.opts.gate?.track(s.party, res, () => {
      this.remove(s);
      endStream(res, this.opts.revokedFrame);
    });
    // a stream is quiet between heartbeats by design: the server's idle timeout is for requests
    res.socket?.setTimeout(0);
    res.writeHead(200, SSE_HEADERS);
    this.live.add(s);
    res.on('close', () => this.remove(s));
    if (first !== undefined) res.write(first);
    return true;
  }

  /**
   * Writes a frame; false when the stream is gone or was cut off now because too much is waiting in
   * its socket (or the write threw: one stream that fails must not stop the others from hearing).
   */
  write(s: S, frame: string): boolean {
    const { res } = s;
    if (res.destroyed || res.writableEnded) { this.remove(s); return false; }
    try {
      res.write(frame);
    } catch {
      this.cutOff(s);
      return false;
    }
    if (res.writableLength > this.opts.maxBufferedBytes) { this.cutOff(s); return false; }
    return true;
  }

  /** Ends a stream in order, with its last frame. */
  end(s: S, last?: string): void {
    this.remove(s);
    if (s.res.destroyed || s.res.writableEnded) return;
    if (last === undefined) s.res.end(); else s.res.end(last);
  }

  /** Drops a stream at once; its client reconnects and catches up its own way. */
  cutOff(s: S): void {
    this.remove(s);
    s.res.destroy();
  }

  private remove(s: S): void {
    if (this.live.delete(s)) this.opts.onRemove?.(s);
  }

  /** Ends every stream (before the HTTP server closes, which would otherwise wait for them). */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const s of [...this.live]) this.end(s);
  }
}
