/**
 * A connection waiting for its login's turn is held at its acceptor (gateway/broker/acceptors.ts,
 * `gwHold` / `gwRelease`): the acceptor stops reading its socket until the turn comes. The hold used
 * to end on the stream's `_read`, which Node calls right after any push: the device's CONNECT,
 * forwarded before the PAUSE reached the acceptor, released it at once, and a waiting connection
 * then held a credit window in the gateway instead of its CONNECT.
 */
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { openConnection, startAcceptors, stopAcceptors } from './harness/acceptors.js';

afterEach(stopAcceptors);

type Held = Duplex & { gwHold(): void; gwRelease(): void };

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const BIG = 256 * 1024;
const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

describe('acceptors: a connection held for its login', () => {
  it('gets nothing past what was on its way when held, however much its device sends, until released', async () => {
    const streams: Duplex[] = [];
    const { port } = await startAcceptors({
      count: 1,
      onStream: (s) => {
        streams.push(s);
        // Held as the broker holds a connection whose address has a login in progress, with its
        // device's first bytes (the CONNECT) already here: held as they are pushed, before Node's
        // next call of `_read`, which is what used to release the hold.
        if (streams.length === 1) s.once('readable', () => (s as Held).gwHold());
      },
      onExit: () => undefined,
    });

    const first = pattern(100, 1);
    const a = openConnection(port);
    a.write(first);
    await until(() => streams.length === 1 && streams[0]!.readableLength === first.length, "the held connection's first bytes in the gateway");
    const held = streams[0] as Held;

    // a second connection, not held, read as it arrives: the reference for when the held one's bytes would have come
    const b = openConnection(port);
    await until(() => streams.length === 2, 'the second connection');
    let arrived = 0;
    streams[1]!.on('data', (c: Buffer) => { arrived += c.length; });

    const rest = pattern(BIG, 2);
    a.write(rest);
    b.write(pattern(BIG, 3));
    await until(() => arrived === BIG, "the second connection's 256 KB");
    // the held one's 256 KB were sent first: released, the acceptor would have forwarded a credit window of them by now
    expect(held.readableLength).toBe(first.length);

    held.gwRelease();
    const got: Buffer[] = [];
    held.on('data', (c: Buffer) => got.push(c));
    await until(() => got.reduce((n, c) => n + c.length, 0) === first.length + BIG, 'everything the held connection sent, once released');
    expect(Buffer.concat(got).equals(Buffer.concat([first, rest]))).toBe(true);
  });

  it('a connection handed over is held even when the hold reaches the acceptor before its socket', async () => {
    const streams: Duplex[] = [];
    // share: false, so that every connection is accepted here and handed over with its socket
    const { acceptors, port } = await startAcceptors({
      count: 1,
      onStream: (s) => {
        streams.push(s);
        if (streams.length === 1) (s as Held).gwHold();
      },
      onExit: () => undefined,
    }, { share: false });
    // The socket goes over the IPC channel, the hold over the pipe: the two are not ordered. Delaying
    // the sockets by 200 ms makes the hold come first every time.
    const proc = (acceptors as unknown as { links: Array<{ proc: { send: (...args: unknown[]) => boolean } }> }).links[0]!.proc;
    const send = proc.send.bind(proc);
    proc.send = (...args: unknown[]) => { setTimeout(() => send(...args), 200); return true; };

    const sent = pattern(BIG, 4);
    const a = openConnection(port);
    a.write(sent);
    await until(() => streams.length === 1, 'the held connection');
    const b = openConnection(port);
    b.write(pattern(BIG, 5));
    await until(() => streams.length === 2, 'the second connection');
    let arrived = 0;
    streams[1]!.on('data', (c: Buffer) => { arrived += c.length; });
    await until(() => arrived === BIG, "the second connection's 256 KB");
    expect(streams[0]!.readableLength).toBe(0);

    const held = streams[0] as Held;
    held.gwRelease();
    const got: Buffer[] = [];
    held.on('data', (c: Buffer) => got.push(c));
    await until(() => got.reduce((n, c) => n + c.length, 0) === BIG, 'everything the held connection sent, once released');
    expect(Buffer.concat(got).equals(sent)).toBe(true);
  });
});
