/**
 * A reconnect storm in small: more devices from one address than may log in at once
 * (`maxPendingPerAddress`) all connect together, with real mqtt.js clients. None is refused: those
 * past the limit wait their turn, unread (gateway/broker/login-queue.ts), on the plain port (sockets
 * accepted paused) and through an acceptor process (told to stop reading, then to read again).
 */
import type { MqttClient } from 'mqtt';
import { createConnection, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';

const DEVICES = 60;

async function counter(t: TestGateway, name: string, labels = ''): Promise<number> {
  const text = await fetch(t.httpUrl + '/metrics').then((r) => r.text());
  const m = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe.each([
  { via: 'the gateway process', acceptors: 0 },
  { via: 'an acceptor process', acceptors: 1 },
])('logins waiting their turn, through $via', ({ acceptors }) => {
  let t: TestGateway;
  const secrets = new Map<string, string>();
  beforeAll(async () => {
    t = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', acceptors, limits: { maxPendingPerAddress: 2, loginQueueTimeoutMs: 20_000 } } });
    for (let i = 0; i < DEVICES; i++) secrets.set(`q-lift-${i}`, await registerDevice(t, { id: `q-lift-${i}`, kind: 'elevator' }));
  });
  afterAll(async () => { await t?.dispose(); });

  it(`${DEVICES} devices from one address connecting at once all log in; those past the limit waited instead of being refused`, async () => {
    // Until an acceptor has the port, the gateway accepts too and hands over at once what it took,
    // while the acceptor announces its own later: a device could then overtake the silent two below.
    if (acceptors > 0) await waitFor(() => t.gw.broker.acceptorStats()?.lent, 10_000);
    // two connections that say nothing take the address's two logins in progress: every device waits
    const port = Number(new URL(t.mqttUrl).port);
    const silent = await Promise.all([0, 1].map(() => new Promise<Socket>((resolve) => { const s = createConnection({ port, host: '127.0.0.1' }, () => resolve(s)); })));
    const logins = Promise.all([...secrets].map(([id, secret]) => connectDevice(t, id, secret, { connectTimeout: 20_000 })));
    await waitFor(async () => ((await counter(t, 'gateway_mqtt_logins_waiting')) === DEVICES ? true : undefined), 10_000);
    // their turns come as the silent ones leave, two at a time from then on
    for (const s of silent) s.destroy();
    const clients: MqttClient[] = await logins;
    expect(clients.every((c) => c.connected)).toBe(true);
    expect(await counter(t, 'gateway_mqtt_logins_queued_total')).toBe(DEVICES);
    expect(await counter(t, 'gateway_mqtt_connects_refused_total', '{reason="too_many_pending"}')).toBe(0);
    expect(await counter(t, 'gateway_mqtt_connects_refused_total', '{reason="login_queue_timeout"}')).toBe(0);
    expect(await counter(t, 'gateway_mqtt_logins_waiting')).toBe(0);
    await Promise.all(clients.map((c) => c.endAsync()));
  });
});
