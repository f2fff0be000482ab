/**
 * Acceptor processes (gateway/broker/acceptors.ts) at the port they share: no connection is lost, the
 * acceptors stay even, and none holds more than its capacity. While the gateway process accepted from the port too, some
 * connections an acceptor took were never announced (3 to 26 in 3,000): their devices waited for a
 * CONNACK that never came. The kernel gives each connection to whichever listener asks first, so one
 * acceptor can take most; past its limit of open files libuv would close them unannounced and
 * uncounted. Driven here without a broker: each stream answers one byte, so its client knows.
 */
import type { Socket } from 'node:net';
import { getPriority } from 'node:os';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { openFilesLimit, type Acceptors } from '../gateway/broker/acceptors.js';
import { openConnection, startAcceptors, stopAcceptors } from './harness/acceptors.js';

let acceptors: Acceptors | undefined;
afterEach(() => {
  stopAcceptors();
  acceptors = undefined;
});

async function start(count: number, capacity?: number): Promise<{ port: number; streams: Duplex[]; full: () => number }> {
  const streams: Duplex[] = [];
  let full = 0;
  const started = await startAcceptors({ count, ...(capacity === undefined ? {} : { capacity }), onStream: (s) => { streams.push(s); s.write('k'); }, onExit: () => undefined, onFull: () => { full++; } });
  acceptors = started.acceptors;
  return { port: started.port, streams, full: () => full };
}

/** Opens a connection (kept in `opened`, if given) and waits until the acceptors have taken it (a stream) or it was closed. */
async function connect(port: number, streams: Duplex[], opened?: Socket[]): Promise<'held' | 'closed'> {
  const before = streams.length;
  const socket = openConnection(port);
  opened?.push(socket);
  let closed = false;
  socket.once('close', () => { closed = true; });
  const deadline = Date.now() + 10_000;
  while (streams.length === before && !closed) {
    if (Date.now() > deadline) throw new Error('neither held nor closed within 10 s');
    await new Promise((r) => setTimeout(r, 2));
  }
  return streams.length > before ? 'held' : 'closed';
}

/**
 * Opens `n` connections, 100 at a time, and waits until each has been announced to the gateway
 * (the acceptor writes one byte back once the gateway's stream for it exists) or closed.
 */
async function connectMany(port: number, streams: Duplex[], n: number): Promise<{ held: number; closed: number }> {
  const counts = { held: 0, closed: 0 };
  for (let i = 0; i < n; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => new Promise<void>((resolve, reject) => {
      const socket = openConnection(port);
      const timer = setTimeout(() => reject(new Error('a connection neither announced nor closed within 10 s')), 10_000);
      socket.once('data', () => { clearTimeout(timer); counts.held++; resolve(); });
      socket.once('close', () => { clearTimeout(timer); counts.closed++; resolve(); });
    })));
  }
  return counts;
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('acceptors at their shared port', () => {
  it('the acceptors run at a lower priority than the gateway (5 nice steps): they take the cores the gateway leaves', async () => {
    await start(2);
    const pids = acceptors!.pids();
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(getPriority(pid)).toBe(Math.min(19, getPriority() + 5));
  });

    it('reads the limit of open files from /proc', () => {
    expect(openFilesLimit()).toBeGreaterThan(1000);
  });

  it('an acceptor at its capacity stops accepting; with every one full, a connection waits until one has room', async () => {
    const { port, streams } = await start(2, 4);
    await until(() => acceptors!.stats().lent, 'an acceptor lent the port back');
    const held: Socket[] = [];
    for (let i = 0; i < 8; i++) {
      expect(await connect(port, streams, held)).toBe('held');
    }
    expect(acceptors!.stats().held).toEqual([4, 4]);
    expect(acceptors!.stats().accepting).toEqual([false, false]);
    // a ninth waits in the kernel's queue; taken (not closed) once a device leaves and its acceptor has room again
    const ninth = connect(port, streams);
    held[0]!.destroy();
    expect(await ninth).toBe('held');
    expect(acceptors!.stats().held.reduce((a, b) => a + b, 0)).toBe(8);
    expect(acceptors!.stats().full).toBe(0);
  });

  it('connections are spread evenly: none holds more than its share plus the slack', async () => {
    const { port, streams } = await start(2);
    await until(() => acceptors!.stats().lent, 'an acceptor lent the port back');
    const n = 1200;
    expect(await connectMany(port, streams, n)).toEqual({ held: n, closed: 0 });
    const { held } = acceptors!.stats();
    expect(held.reduce((a, b) => a + b, 0)).toBe(n);
    // share 600, slack 256, and what one accepts between passing it and hearing it should stop
    for (const h of held) expect(h).toBeLessThanOrEqual(600 + 256 + 100);
  });

  it('no connection is lost once the gateway stopped accepting: every one of 3,000 is announced', async () => {
    const { port, streams } = await start(3);
    await until(() => acceptors!.stats().lent, 'an acceptor lent the port back');
    const outcomes = await connectMany(port, streams, 3000);
    expect(outcomes).toEqual({ held: 3000, closed: 0 });
  });

});
