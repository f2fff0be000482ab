/**
 * The one server-sent-events mechanism (core/sse.ts) under the queue streams and the console's
 * feed: the caps (all streams, per account), a reader that stops reading is cut off, a revoked
 * account's streams end with the feed's last frame, and closing ends every stream.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SseHub, SSE_HEADERS, type SseStream } from '../core/sse.js';
import { StreamGate } from '../core/streams.js';
import { CodedHttpError } from '../core/errors.js';
import { waitFor } from './harness/gateway.js';

interface Stream extends SseStream { name: string }

let server: Server | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.length = 0;
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

/** A server whose every request is one stream of `hub`, for the party named in `?party=`. */
async function serve(hub: SseHub<Stream>, opened: Stream[]): Promise<string> {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const party = new URL(req.url!, 'http://x').searchParams.get('party')!;
    const s: Stream = { res, party, name: `${party}-${opened.length}` };
    opened.push(s);
    hub.open(s, 'event: hello\ndata: {}\n\n');
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A raw client that sends its request and then reads only when told to (or never). */
function rawClient(host: string, party: string): { socket: Socket; text: () => string } {
  const [h, p] = host.split(':');
  const socket = connect(Number(p), h!);
  sockets.push(socket);
  let got = '';
  socket.on('data', (b) => { got += b.toString(); });
  socket.write(`GET /?party=${party} HTTP/1.1\r\nHost: x\r\n\r\n`);
  return { socket, text: () => got };
}

const code = (fn: () => void) => {
  try { fn(); return undefined; } catch (err) { return (err as CodedHttpError).code; }
};

describe('the SSE hub', () => {
  it('admits up to its caps: all streams 503, one account 429', async () => {
    const gate = new StreamGate(2);
    const hub = new SseHub<Stream>({ heartbeatMs: 60_000, heartbeat: () => {}, maxBufferedBytes: 1 << 20, maxStreams: 3, gate });
    const opened: Stream[] = [];
    const host = await serve(hub, opened);
    expect(code(() => hub.admit('a'))).toBeUndefined();
    const a1 = rawClient(host, 'a');
    const a2 = rawClient(host, 'a');
    await waitFor(() => hub.size === 2);
    expect(code(() => hub.admit('a'))).toBe('GW_TOO_MANY_STREAMS');
    expect(code(() => hub.admit('b'))).toBeUndefined();
    rawClient(host, 'b');
    await waitFor(() => hub.size === 3);
    expect(hub.full).toBe(true);
    expect(code(() => hub.admit('c'))).toBe('GW_UNAVAILABLE');
    await waitFor(() => a1.text().includes('event: hello') && a2.text().includes('event: hello'));
    for (const [k, v] of Object.entries(SSE_HEADERS)) expect(a1.text().toLowerCase()).toContain(`${k}: ${v}`);
    hub.close();
    expect(hub.size).toBe(0);
    expect(code(() => hub.admit('b'))).toBe('GW_UNAVAILABLE');
  });

  it('cuts off a reader that stops reading; the others keep hearing', async () => {
    const removed: string[] = [];
    const hub = new SseHub<Stream>({ heartbeatMs: 60_000, heartbeat: () => {}, maxBufferedBytes: 64 * 1024, onRemove: (s) => removed.push(s.name) });
    const opened: Stream[] = [];
    const host = await serve(hub, opened);
    const stuck = rawClient(host, 'stuck');
    await waitFor(() => hub.size === 1);
    stuck.socket.pause();
    const reader = rawClient(host, 'reader');
    await waitFor(() => hub.size === 2);
    const frame = `data: ${'x'.repeat(16 * 1024)}\n\n`;
    let cut = false;
    for (let i = 0; i < 1000 && !cut; i++) {
      for (const s of [...hub.streams()]) if (!hub.write(s, frame) && s.party === 'stuck') cut = true;
      await new Promise((r) => setImmediate(r));
    }
    expect(cut).toBe(true);
    expect(removed).toEqual(['stuck-0']);
    expect([...hub.streams()].map((s) => s.party)).toEqual(['reader']);
    expect(opened[0]!.res.destroyed).toBe(true);
    expect(hub.write(opened[1]!, 'event: still\ndata: {}\n\n')).toBe(true);
    await waitFor(() => reader.text().includes('event: still'));
    hub.close();
  });

  it('ends a revoked account\'s streams with the feed\'s last frame; the others keep their heartbeat', async () => {
    const gate = new StreamGate(5);
    let beats = 0;
    const hub = new SseHub<Stream>({ heartbeatMs: 20, heartbeat: () => { beats++; }, maxBufferedBytes: 1 << 20, revokedFrame: 'event: bye\ndata: {"reason":"revoked"}\n\n', gate });
    const opened: Stream[] = [];
    const host = await serve(hub, opened);
    const a = rawClient(host, 'a');
    const b = rawClient(host, 'b');
    await waitFor(() => hub.size === 2);
    await waitFor(() => beats > 0);
    expect(gate.revoke('a')).toBe(1);
    expect([...hub.streams()].map((s) => s.party)).toEqual(['b']);
    await waitFor(() => a.text().includes('event: bye\ndata: {"reason":"revoked"}'));
    const before = beats;
    await waitFor(() => beats > before);
    hub.close();
    await waitFor(() => b.text().endsWith('0\r\n\r\n'));
  });
});
