/**
 * Live queue consumers over server-sent events: `GET /api/v1/queues/{queue}/stream`. A client
 * resumes where it left off with the standard `Last-Event-ID` header (or `?after=`): the stored
 * messages after that cursor are replayed first, then live ones follow with no gap and no
 * duplicate. Every event's `id` is its cursor. A client that falls too far behind is cut off and
 * resumes by cursor (the log is durable), so a slow reader never holds memory. The streams
 * themselves (headers, heartbeat, the cut-off, the per-account count) are core/sse.ts.
 */
import type { ServerResponse } from 'node:http';
import type { QueueLog, QueueMessage } from '../queues.js';
import { partyKey, type Principal } from '../../registry/index.js';
import { drained, SseHub, type SseStream } from '../../core/sse.js';
import type { StreamGate } from '../../core/streams.js';

interface Client extends SseStream {
  queue: string;
  lastSent: number;
  replaying: boolean;
  pending: Array<{ cursor: number; event: string; payload: string }>;
}

export interface SseOptions { heartbeatMs: number; maxPending: number; pageLimit: number }

const frame = (cursor: number, event: string, payload: string) => `id: ${cursor}\nevent: ${event}\ndata: ${payload}\n\n`;

/** A live message is a few kB at most: this many of them waiting in a socket is a reader that does not keep up. */
const BYTES_PER_PENDING = 4096;

export class QueueStreams {
  private readonly clients = new Map<string, Set<Client>>();
  private readonly streams: SseHub<Client>;

  /** `gate`: the streams per account and their revocation, shared with the console's feed. */
  constructor(private readonly queues: QueueLog, private readonly opts: SseOptions, gate?: StreamGate) {
    this.streams = new SseHub<Client>({
      heartbeatMs: opts.heartbeatMs,
      heartbeat: () => { for (const c of this.streams.streams()) if (!c.replaying) this.streams.write(c, ': ping\n\n'); },
      maxBufferedBytes: opts.maxPending * BYTES_PER_PENDING,
      gate,
      onRemove: (c) => {
        const set = this.clients.get(c.queue);
        if (set?.delete(c) && set.size === 0) this.clients.delete(c.queue);
      },
    });
  }

  get size(): number { return this.streams.size; }

  readonly onMessage = (message: QueueMessage, json: string): void => {
    const set = this.clients.get(message.queue);
    if (!set) return;
    for (const c of set) this.send(c, message.cursor, message.event, json);
  };

  /**
   * Another node appended to this queue (cluster mode): its streams here get what they have not
   * had yet, read from the store in cursor order.
   */
  async catchUp(queue: string): Promise<void> {
    const set = this.clients.get(queue);
    if (!set || set.size === 0) return;
    const after = Math.min(...[...set].map((c) => c.lastSent));
    const rows = await this.queues.readRaw(queue, after, this.opts.pageLimit);
    for (const r of rows) for (const c of set) this.send(c, r.cursor, r.event, r.payload);
    if (rows.length === this.opts.pageLimit) await this.catchUp(queue);
  }

  /**
   * Throws a coded error when `principal` may not open one more stream. Call it before the response
   * is taken over, and `open` right after it in the same turn, so that nothing slips in between.
   */
  admit(principal: Principal): void {
    this.streams.admit(partyKey(principal));
  }

  /** Takes over a hijacked response: headers, replay after `after`, then live messages. */
  async open(principal: Principal, queue: string, after: number, res: ServerResponse): Promise<void> {
    const client: Client = { res, party: partyKey(principal), queue, lastSent: after, replaying: true, pending: [] };
    if (!this.streams.open(client, 'retry: 3000\n\n')) return;
    let set = this.clients.get(queue);
    if (!set) this.clients.set(queue, (set = new Set()));
    set.add(client);
    // replay page by page, waiting for the socket to drain; live messages wait in `pending`
    for (;;) {
      const rows = await this.queues.readRaw(queue, client.lastSent, this.opts.pageLimit);
      if (rows.length === 0 || res.destroyed || res.writableEnded) break;
      let ok = true;
      for (const r of rows) {
        ok = res.write(frame(r.cursor, r.event, r.payload));
        client.lastSent = r.cursor;
      }
      if (!ok) await drained(res);
    }
    client.replaying = false;
    if (res.destroyed || res.writableEnded) return;
    for (const p of client.pending) if (p.cursor > client.lastSent) this.write(client, p.cursor, p.event, p.payload);
    client.pending = [];
  }

  private send(c: Client, cursor: number, event: string, payload: string): void {
    if (c.replaying) {
      if (c.pending.length >= this.opts.maxPending) return this.streams.cutOff(c);
      c.pending.push({ cursor, event, payload });
      return;
    }
    if (cursor <= c.lastSent) return;
    this.write(c, cursor, event, payload);
  }

  private write(c: Client, cursor: number, event: string, payload: string): void {
    if (this.streams.write(c, frame(cursor, event, payload))) c.lastSent = cursor;
  }

  /** Ends every stream (before the HTTP server closes, which would otherwise wait for them). */
  close(): void {
    this.streams.close();
    this.clients.clear();
  }
}
