/**
 * An acceptor whose pipe to the gateway is full (gateway/broker/acceptors.ts): it stops reading the
 * connections that deliver data meanwhile, each chunk put back unread, and resumes them when the pipe
 * drains. Here the gateway's side (this process) stops reading the pipe for a second while 20
 * connections send 256 KB each: every byte still arrives, in order, on its own connection's stream.
 */
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { openConnection, startAcceptors, stopAcceptors } from './harness/acceptors.js';

afterEach(stopAcceptors);

const CONNECTIONS = 20;
const BYTES = 256 * 1024;

/** What connection `i` sends: its number, then a counter, so that a byte lost, doubled or swapped shows. */
function payload(i: number): Buffer {
  const b = Buffer.alloc(BYTES);
  for (let k = 0; k < BYTES; k += 4) b.writeUInt32BE((i << 24) | (k >> 2), k);
  return b;
}
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('acceptors: a full pipe to the gateway', () => {
  it('loses, doubles and reorders nothing while the gateway is not reading, and every connection resumes', async () => {
    const received = new Map<number, Buffer[]>();
    const { port } = await startAcceptors({
      count: 1,
      onStream: (s: Duplex) => {
        s.once('data', (first: Buffer) => {
          const i = first.readUInt32BE(0) >>> 24;
          const chunks = [first];
          received.set(i, chunks);
          s.on('data', (c: Buffer) => chunks.push(c));
        });
      },
      onExit: () => undefined,
    });
    const sent = Array.from({ length: CONNECTIONS }, (_, i) => payload(i));
    await Promise.all(sent.map((body) => new Promise<void>((resolve) => {
      const s = openConnection(port);
      s.once('connect', () => { s.write(body); resolve(); });
    })));
    // this process stops reading the acceptor's pipe: what the acceptor reads from the 20 connections fills it
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    const deadline = Date.now() + 15_000;
    const total = () => [...received.values()].reduce((n, cs) => n + cs.reduce((m, c) => m + c.length, 0), 0);
    while (total() < CONNECTIONS * BYTES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(total()).toBe(CONNECTIONS * BYTES);
    for (let i = 0; i < CONNECTIONS; i++) expect(sha(Buffer.concat(received.get(i) ?? [])), `connection ${i}`).toBe(sha(sent[i]!));
  });
});
