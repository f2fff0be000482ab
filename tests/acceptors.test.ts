/**
 * `mqtt.acceptors` (gateway/broker/acceptors.ts): the devices' sockets live in child processes and the
 * gateway process holds none of them, with real mqtt.js clients. A device logs in, publishes and gets
 * its PUBACK once stored; a subscriber gets live data; the gateway's own open files do not grow with
 * the connections; the per-address limit still sees the device's address; a device that leaves ends
 * its session; an acceptor killed takes its connections, which come back once it is started again;
 * the gateway's close ends the acceptors; the PROXY protocol is refused with it.
 */
import { readdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../gateway/config.js';
import { sampleTelemetry } from '../simulators/samples.js';
import { ADMIN_TOKEN, connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';

let t: TestGateway;
const secrets = new Map<string, string>();
const clients: MqttClient[] = [];
const MAX_PER_ADDRESS = 25;

const openFiles = () => readdirSync('/proc/self/fd').length;
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

beforeAll(async () => {
  t = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', acceptors: 2, limits: { maxConnectionsPerAddress: MAX_PER_ADDRESS } } });
  for (let i = 0; i < 30; i++) secrets.set(`pump-a${i}`, await registerDevice(t, { id: `pump-a${i}`, kind: 'water_pump' }));
});
afterAll(async () => {
  for (const c of clients) c.end(true);
  await t?.dispose();
});

async function device(id: string): Promise<MqttClient> {
  const c = await connectDevice(t, id, secrets.get(id)!);
  clients.push(c);
  return c;
}

describe('acceptor processes', () => {
  it('runs two acceptor processes', () => {
    const pids = t.gw.broker.acceptorPids();
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(alive(pid)).toBe(true);
  });

  it('a device logs in, its reading is acknowledged once stored, and a subscriber gets the live copy', async () => {
    const c = await device('pump-a0');
    // a device may follow its own subtree: the live copy comes back to it through its acceptor
    await c.subscribeAsync('devices/pump-a0/#', { qos: 1 });
    const heard = new Promise<string>((resolve) => c.once('message', (_topic, payload) => resolve(String(payload))));
    const ts = Date.now() - 1000;
    await publish(c, 'devices/pump-a0/telemetry', { ...sampleTelemetry('water_pump', 1), ts, outletPressure: 0.42 });
    const stored = await t.api('GET', `/api/v1/devices/pump-a0/telemetry?from=${ts - 1}&to=${ts + 1}`);
    expect(stored.status).toBe(200);
    expect(JSON.stringify(stored.body)).toContain('0.42');
    expect(await heard).toContain('0.42');
    expect(t.gw.presence.isLocal('pump-a0')).toBe(true);
  });

  it('holds no file per connection in the gateway process: 20 more devices add only their client sockets here', async () => {
    // the clients run in this process too: each connection adds its client's socket, and would add the
    // gateway's socket as well without acceptors
    const before = openFiles();
    for (let i = 1; i <= 20; i++) await device(`pump-a${i}`);
    await waitFor(() => [1, 20].every((i) => t.gw.presence.isLocal(`pump-a${i}`)));
    const added = openFiles() - before;
    expect(added).toBeGreaterThanOrEqual(20);
    expect(added).toBeLessThan(30);
    // the acceptors accept from the shared port themselves (what the gateway accepts, it hands over)
    const stats = t.gw.broker.acceptorStats()!;
    expect(stats.acceptedThere + stats.handedOver).toBe(21);
    expect(stats.acceptedThere).toBeGreaterThan(0);
    expect(stats.held.reduce((a, b) => a + b, 0)).toBe(21);
  });

  it('still applies the per-address connection limit to the devices\' address', async () => {
    const open = clients.filter((c) => c.connected).length;
    const extra: MqttClient[] = [];
    // past the limit the gateway closes the connection before its CONNACK
    let refused = 0;
    for (let i = 21; i < 30 && open + extra.length < MAX_PER_ADDRESS + 1; i++) {
      try {
        extra.push(await device(`pump-a${i}`));
      } catch {
        refused++;
      }
    }
    const anyMore = await device('pump-a29').then(() => false, () => true);
    expect(open + extra.length).toBe(MAX_PER_ADDRESS);
    expect(refused + (anyMore ? 1 : 0)).toBeGreaterThan(0);
    for (const c of extra) await c.endAsync();
    await waitFor(() => extra.every((_, k) => !t.gw.presence.isLocal(`pump-a${21 + k}`)));
  });

  it('a device that leaves ends its session in the gateway', async () => {
    const c = clients.find((x) => x.options.clientId === 'pump-a5')!;
    await c.endAsync();
    await waitFor(() => !t.gw.presence.isLocal('pump-a5'));
  });

  it('an acceptor killed takes its connections with it; it is started again and the devices come back', async () => {
    // the acceptor holding the most (the kernel decides which acceptor accepts: one may hold them all)
    const { held: perAcceptor } = t.gw.broker.acceptorStats()!;
    const index = perAcceptor.indexOf(Math.max(...perAcceptor));
    const victim = t.gw.broker.acceptorPids()[index];
    const held = clients.filter((c) => c.connected);
    expect(perAcceptor.reduce((a, b) => a + b, 0)).toBe(held.length);
    process.kill(victim!, 'SIGKILL');
    // exactly its connections close; those on the other acceptor stay
    await waitFor(() => held.filter((c) => !c.connected).length === perAcceptor[index], 5000);
    const lost = held.filter((c) => !c.connected);
    expect(lost.length).toBeGreaterThan(0);
    expect(held.filter((c) => c.connected)).toHaveLength(held.length - perAcceptor[index]!);
    await waitFor(() => t.gw.broker.acceptorPids().length === 2 && !t.gw.broker.acceptorPids().includes(victim!), 5000);
    const back = await device(String(lost[0]!.options.clientId));
    await publish(back, `devices/${back.options.clientId}/telemetry`, sampleTelemetry('water_pump', 2));
  });

  it('its close ends the acceptor processes', async () => {
    const other = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', acceptors: 1 } });
    const pids = other.gw.broker.acceptorPids();
    expect(pids).toHaveLength(1);
    const port = Number(new URL(other.mqttUrl).port);
    await other.dispose();
    await waitFor(() => pids.every((pid) => !alive(pid)), 5000);
    // nobody listens on the port any more: not the gateway, not an acceptor holding the shared socket
    const refused = await new Promise<boolean>((resolve) => {
      const s = createConnection(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(false); });
      s.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  it('cannot be combined with the PROXY protocol (its header is read in the gateway process)', () => {
    expect(() => loadConfig({}, { adminToken: ADMIN_TOKEN, mqtt: { acceptors: 2, proxyProtocol: 'v1v2', trustedProxies: ['127.0.0.1'] } })).toThrow(/acceptors/);
  });
});
