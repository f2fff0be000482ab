/**
 * With `mqtt.acceptors`, a session that is not taking what its device sends gets no more of it than
 * the credit window (gateway/broker/acceptors.ts, `CREDIT_WINDOW`): the acceptor forwards a
 * connection's bytes only against credit the gateway gives back as the session reads, as the kernel
 * stops a socket nobody reads without acceptors. Before, the acceptor read on until a request to
 * stop reached it: a device over its publish rate made the gateway hold up to 1.4 MB for it.
 */
import { connect as tcp, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDIT_WINDOW } from '../gateway/broker/acceptors.js';
import { registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';

let t: TestGateway;
let secret: string;
let socket: Socket | undefined;

beforeAll(async () => {
  // 20 publishes a second: what a device sends faster waits unread
  t = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', acceptors: 1, limits: { publishPerSecond: 20, publishBurst: 1 } } });
  secret = await registerDevice(t, { id: 'pump-flood', kind: 'water_pump' });
});
afterAll(async () => {
  socket?.destroy();
  await t?.dispose();
});

const stats = () => t.gw.broker.acceptorStats()!;

/** Bytes the gateway holds for the acceptors' connections, not yet read by their sessions. */
function bufferedInGateway(): number {
  const links = (t.gw.broker as unknown as { acceptors: { links: Array<{ streams: Map<number, { readableLength: number }> } | undefined> } }).acceptors.links;
  let n = 0;
  for (const l of links) for (const s of l?.streams.values() ?? []) n += s.readableLength;
  return n;
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('acceptors: per-connection backpressure', () => {
  it('a device sending 8 MB faster than its publish rate: the gateway never holds more than the credit window of it', async () => {
    const port = Number(new URL(t.mqttUrl).port);
    socket = tcp({ port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const connack = new Promise<number>((resolve) => parser.on('packet', (p) => { if (p.cmd === 'connack') resolve(p.returnCode ?? 0); }));
    socket.on('data', (b: Buffer) => parser.parse(b));
    await new Promise<void>((resolve) => socket!.once('connect', () => resolve()));
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'pump-flood', keepalive: 60, username: 'pump-flood', password: Buffer.from(secret) }));
    expect(await connack).toBe(0);

    const before = stats().grants;
    const payload = JSON.stringify({ ts: Date.now(), outletPressure: 0.42, pad: 'x'.repeat(900) });
    const one = mqttPacket.generate({ cmd: 'publish', topic: 'devices/pump-flood/telemetry', payload, qos: 0, retain: false, dup: false });
    socket.write(Buffer.concat(Array.from({ length: 8000 }, () => one)));

    // The session reads at 20 messages a second, giving credit back 16 KB at a time; by the second
    // grant the acceptor has had its chance to forward the 8 MB many times over.
    await until(() => stats().grants >= before + 2, 'credit given back twice as the rate limit lets messages through', 15_000);
    // the most this connection ever had waiting in the gateway (recorded at every push)
    expect(stats().peakUnread).toBeGreaterThan(0);
    expect(stats().peakUnread).toBeLessThanOrEqual(CREDIT_WINDOW);
    expect(bufferedInGateway()).toBeLessThanOrEqual(CREDIT_WINDOW);
    expect(socket.destroyed).toBe(false);
  });
});
