/**
 * An agency offline for the length of 1,000 alert messages (and a gateway restart): on reconnect
 * with its persistent session it receives all of them, once each, in queue order.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { account, addDevice, persistentAgency, startAlertGateway, type TestDevice } from './harness/alerts.js';
import { waitFor, type TestGateway } from './harness/gateway.js';

const LIFTS = 10;
const FAULTS_PER_LIFT = 100; // the first raises an alert, the 99 repeats update it: 1,000 queue messages

let t: TestGateway;
beforeAll(async () => { ({ t } = await startAlertGateway()); });
afterAll(async () => { await t.dispose(); });

interface Msg { cursor: number; event: string; alert: { id: number; deviceId: string; count: number } }

it('delivers 1,000 alert messages missed while offline, in order, after a restart too', async () => {
  const token = await account(t, 'msb-offline', 'market-supervision');
  let c = await persistentAgency(t, 'msb-offline', token, []);
  await c.subscribeAsync('alerts/market-supervision', { qos: 1 });
  await c.endAsync();

  const lifts: TestDevice[] = [];
  for (let i = 0; i < LIFTS; i++) lifts.push(await addDevice(t, 'elevator'));
  for (let n = 0; n < FAULTS_PER_LIFT; n++) {
    await Promise.all(lifts.map((d) => d.client.publishAsync(`devices/${d.id}/events`, JSON.stringify({ type: 'fault', fault: 'overspeed' }), { qos: 1 })));
  }
  const pullAll = async (): Promise<Msg[]> => {
    const all: Msg[] = [];
    for (let after = 0; ;) {
      const res = await t.api('GET', `/api/v1/queues/market-supervision/messages?after=${after}&limit=500`);
      all.push(...res.body.items);
      if (res.body.items.length === 0) return all;
      after = res.body.next;
    }
  };
  const pulled = await waitFor(async () => {
    const all = await pullAll();
    return all.length >= LIFTS * FAULTS_PER_LIFT && all;
  }, 30_000);
  const expected: number[] = pulled.map((m: Msg) => m.cursor);
  expect(expected).toHaveLength(LIFTS * FAULTS_PER_LIFT);
  for (const d of lifts) await d.client.endAsync();

  await t.stop();
  await t.restart();

  const received: Msg[] = [];
  c = await persistentAgency(t, 'msb-offline', token, received);
  await waitFor(() => received.length >= expected.length, 30_000);
  // an alert raised now is the marker: it is queued after the 1,000, so once it is in, a missed
  // message delivered twice would be in too
  const marker = await addDevice(t, 'elevator');
  await marker.client.publishAsync(`devices/${marker.id}/events`, JSON.stringify({ type: 'fault', fault: 'overspeed' }), { qos: 1 });
  await waitFor(() => received.some((m) => m.alert.deviceId === marker.id), 10_000);
  expect(received.map((m) => m.cursor)).toEqual([...expected, received.at(-1)!.cursor]);
  expect(received.at(-1)!).toMatchObject({ event: 'raised', alert: { deviceId: marker.id } });
  expect(received.at(-1)!.cursor).toBeGreaterThan(expected.at(-1)!);
  expect(received.filter((m) => m.event === 'raised' && m.alert.deviceId !== marker.id)).toHaveLength(LIFTS);
  // each alert's repeat count climbs 1..100 in the order received
  for (const d of lifts) {
    expect(received.filter((m) => m.alert.deviceId === d.id).map((m) => m.alert.count)).toEqual(Array.from({ length: FAULTS_PER_LIFT }, (_, i) => i + 1));
  }
  await c.endAsync();
  await marker.client.endAsync();
}, 120_000);
