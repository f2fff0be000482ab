/**
 * Live queue consumers over server-sent events: `GET /api/v1/queues/{queue}/stream`. A client
 * resumes where it left off with the standard `Last-Event-ID` header (or `?after=`): the stored
 * messages after that cursor are replayed first, then live ones follow with no gap and no
 * duplicate. Every event's `id` is its cursor. A client that falls too far behind is cut off and
 * resumes by cursor (the log is durable), so a slow reader never holds memory.
 */
import type { ServerResponse } from 'node:http';
import type { QueueLog, QueueMessage } from '../queues.js';
import { partyKey, type Principal } from '../../registry/index.js';
import { GatewayError } from '../../core/errors.js';
import { endStream, SSE_HEADERS, type StreamGate } from '../../core/streams.js';

interface Client {
  queue: string;
  res: ServerResponse;
  lastSent: number;
  replaying: boolean;
  pending: Array<{ cursor: number; event: string; payload: string }>;
}

export interface SseOptions { heartbeatMs: number; maxPending: number; pageLimit: number }

const frame = (cursor: number, event: string, payload: string) => `id: ${cursor}\nevent: ${event}\ndata: ${payload}\n\n`;


export class SseHub {
  private readonly clients = new Map<string, Set<Client>>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;

  /** `gate`: the streams per account and their revocation, shared with the console's feed. */
  constructor(private readonly queues: QueueLog, private readonly opts: SseOptions, private readonly gate?: StreamGate) {
    this.heartbeat = setInterval(() => this.ping(), opts.heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number { let n = 0; for (const s of this.clients.values()) n += s.size; return n; }

  readonly onMessage = (message: QueueMessage, json: string): void => {
    const set = this.clients.get(message.queue);
    if (!set) return;
    for (const c of set) this.send(c, message.cursor, message.event, json);
  };

  /**
   * Throws a coded error when `principal` may not open one more stream. Call it before the response
   * is taken over, and `open` right after it in the same turn, so that nothing slips in between.
   */
  admit(principal: Principal): void {
    if (this.closed) throw new GatewayError('GW_UNAVAILABLE', 'the gateway is stopping');
    this.gate?.check(partyKey(principal));
  }

  /** Takes over a hijacked response: headers, replay after `after`, then live messages. */
  async open(principal: Principal, queue: string, after: number, res: ServerResponse): Promise<void> {
    if (this.closed) { res.destroy(); return; }
    this.gate?.track(partyKey(principal), res, () => endStream(res));
    // a stream is quiet between heartbeats by design: the server's idle timeout is for requests
    res.socket?.setTimeout(0);
    res.writeHead(200, SSE_HEADERS);
    res.write('retry: 3000\n\n');
    const client: Client = { queue, res, lastSent: after, replaying: true, pending: [] };
    let set = this.clients.get(queue);
    if (!set) this.clients.set(queue, (set = new Set()));
    set.add(client);
    res.on('close', () => this.remove(client));
    // replay page by page, waiting for the socket to drain; live messages wait in `pending`
    for (;;) {
      const rows = this.queues.readRaw(queue, client.lastSent, this.opts.pageLimit);
      if (rows.length === 0 || res.destroyed || res.writableEnded) break;
      let ok = true;
      for (const r of rows) {
        ok = res.write(frame(r.cursor, r.event, r.payload));
        client.lastSent = r.cursor;
      }
      if (!ok) await new Promise<void>((resolve) => { res.once('drain', resolve); res.once('close', resolve); });
    }
    client.replaying = false;
    if (res.destroyed || res.writableEnded) return;
    for (const p of client.pending) if (p.cursor > client.lastSent) this.write(client, p.cursor, p.event, p.payload);
    client.pending = [];
  }

  private send(c: Client, cursor: number, event: string, payload: string): void {
    if (c.replaying) {
      if (c.pending.length >= this.opts.maxPending) return this.cutOff(c);
      c.pending.push({ cursor, event, payload });
      return;
    }
    if (cursor <= c.lastSent) return;
    this.write(c, cursor, event, payload);
  }

  private write(c: Client, cursor: number, event: string, payload: string): void {
    if (c.res.destroyed || c.res.writableEnded) return this.remove(c);
    c.res.write(frame(cursor, event, payload));
    c.lastSent = cursor;
    // a reader that does not keep up is cut off rather than buffered without bound
    if (c.res.writableLength > this.opts.maxPending * 4096) this.cutOff(c);
  }

  private cutOff(c: Client): void {
    this.remove(c);
    c.res.destroy();
  }

  private remove(c: Client): void {
    const set = this.clients.get(c.queue);
    if (set?.delete(c) && set.size === 0) this.clients.delete(c.queue);
  }

  private ping(): void {
    for (const set of this.clients.values()) for (const c of set) if (!c.replaying && !c.res.destroyed && !c.res.writableEnded) c.res.write(': ping\n\n');
  }

  /** Ends every stream (before the HTTP server closes, which would otherwise wait for them). */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const set of this.clients.values()) for (const c of set) c.res.end();
    this.clients.clear();
  }
}
