/**
 * The gateway's stop with acceptor processes (gateway/broker/acceptors.ts `holdConnections`): once
 * held, a session that ends leaves its device's socket open, and every socket closes at once when the
 * acceptors are closed, at the end of the stop. Otherwise the devices whose sessions the broker ended
 * first would wait, backing off, through the rest of the stop.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { openConnection, startAcceptors, stopAcceptors } from './harness/acceptors.js';

afterEach(() => stopAcceptors());

/** Two connections through one acceptor, each stream known by the name its client sent first. */
async function twoConnections(): Promise<{ acceptors: Awaited<ReturnType<typeof startAcceptors>>['acceptors']; clients: Record<'a' | 'b', Socket>; streams: Record<'a' | 'b', Duplex> }> {
  const streams: Partial<Record<'a' | 'b', Duplex>> = {};
  let named = 0;
  let done: () => void = () => undefined;
  const both = new Promise<void>((resolve) => { done = resolve; });
  const { acceptors, port } = await startAcceptors({
    count: 1,
    onStream: (s) => s.once('data', (d: Buffer) => { streams[String(d) as 'a' | 'b'] = s; if (++named === 2) done(); }),
    onExit: () => undefined,
  });
  const clients = { a: openConnection(port), b: openConnection(port) };
  clients.a.write('a');
  clients.b.write('b');
  await both;
  return { acceptors, clients, streams: streams as Record<'a' | 'b', Duplex> };
}

/**
 * Two round trips through the acceptor on b: the second frame reaches the acceptor in a later turn
 * than a's END would have, by when that END's FIN (sent when the socket's shutdown completes) has
 * left before b's second reply.
 */
async function twoRoundTrips(streams: Record<'a' | 'b', Duplex>, clients: Record<'a' | 'b', Socket>): Promise<void> {
  for (const text of ['one', 'two']) {
    streams.b.write(text);
    expect(String((await once(clients.b, 'data'))[0])).toBe(text);
  }
}

it('without holding, a session\'s end closes its socket: the device sees it within two round trips on another', async () => {
  const { clients, streams } = await twoConnections();
  let aEnded = false;
  clients.a.on('end', () => { aEnded = true; }).resume();
  streams.a.destroy();
  await twoRoundTrips(streams, clients);
  expect(aEnded).toBe(true);
});

it('held, a session\'s end leaves the socket open; closing the acceptors closes every socket', async () => {
  const { acceptors, clients, streams } = await twoConnections();
  let aEnded = false;
  clients.a.on('end', () => { aEnded = true; }).resume();
  acceptors.holdConnections();
  streams.a.destroy();
  // when the device would have seen its connection end (the test above)
  await twoRoundTrips(streams, clients);
  expect(aEnded).toBe(false);
  expect(clients.a.destroyed).toBe(false);
  acceptors.close();
  await Promise.all([once(clients.a, 'close'), once(clients.b, 'close')]);
  expect(aEnded).toBe(true);
});
