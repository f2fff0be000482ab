/**
 * The device path end to end, with the same test body on both backends: a device registered over
 * the API connects with its secret, publishes, and its readings come back from the telemetry API,
 * once from the embedded store and once from a real InfluxDB 1.x started for this file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { startInfluxd, type InfluxdHandle } from '../bench/influxd.js';
import { sampleTelemetry } from '../simulators/samples.js';

let influxd: InfluxdHandle;
beforeAll(async () => { influxd = await startInfluxd(); });
afterAll(async () => { await influxd?.dispose(); });

const backends = [
  { name: 'embedded store', overrides: () => ({}) },
  { name: 'InfluxDB 1.x', overrides: () => ({ influx: { url: influxd.url, database: 'devpath' }, timeseries: { flushIntervalMs: 50 } }) },
];

describe.each(backends)('$name', ({ overrides }) => {
  let t: TestGateway;
  beforeAll(async () => { t = await startTestGateway(overrides()); });
  afterAll(async () => { await t.dispose(); });

  it('stores what a registered device publishes and reads it back, typed', async () => {
    const secret = await registerDevice(t, { id: 'lift-1', kind: 'elevator', building: '3号楼', maintenanceUnitId: 'mu-1', registrationCode: '31103301012019050001', nextInspectionDue: '2027-03-01' });
    const device = await connectDevice(t, 'lift-1', secret);
    const t0 = Date.now() - 10_000;
    // a single object, a batch, an RFC 3339 timestamp and one without ts (receive time)
    await publish(device, 'devices/lift-1/telemetry', { ...sampleTelemetry('elevator', 0), ts: t0, floor: -2 });
    await publish(device, 'devices/lift-1/telemetry', [
      { ...sampleTelemetry('elevator', 1), ts: t0 + 1000, speed: 2 },
      { ...sampleTelemetry('elevator', 2), ts: new Date(t0 + 2000).toISOString() },
    ]);
    await publish(device, 'devices/lift-1/telemetry', { ...sampleTelemetry('elevator', 3) });
    await publish(device, 'devices/lift-1/events', { type: 'alarm_button', ts: t0 + 500 });

    // every reading whole: InfluxDB 1.x stores a point's fields one by one, and a read in between
    // gave a row with some of them null (seen once under the full suite's load)
    const rows = await waitFor(async () => {
      const res = await t.api('GET', `/api/v1/devices/lift-1/telemetry?from=${t0}`);
      return res.status === 200 && res.body.count === 4 && res.body.rows.every((r: { floor: unknown }) => r.floor !== null) && res.body.rows;
    });
    expect(rows.map((r: { seq: number }) => r.seq)).toEqual([0, 1, 2, 3]);
    expect(rows[0]).toMatchObject({ ts: t0, floor: -2, mode: 'normal', running: true, door: 'closed', occupied: true });
    expect(rows[1].speed).toBe(2);
    expect(rows[2].ts).toBe(t0 + 2000);
    expect(rows[3].ts).toBeGreaterThan(t0 + 5000);
    // an integer field stays an integer, a float stays a float, even when it looks whole
    expect(Number.isInteger(rows[0].runCount)).toBe(true);

    const some = await t.api('GET', `/api/v1/devices/lift-1/telemetry?from=${t0}&to=${t0 + 1500}&fields=floor,speed`);
    expect(some.body.rows).toEqual([{ ts: t0, floor: -2, speed: 1.5 }, { ts: t0 + 1000, floor: 1, speed: 2 }]);

    const events = await waitFor(async () => {
      const res = await t.api('GET', `/api/v1/devices/lift-1/telemetry?from=${t0}&channel=events`);
      return res.body.count === 1 && res.body.rows;
    });
    expect(events[0]).toMatchObject({ ts: t0 + 500, type: 'alarm_button' });

    const bad = await t.api('GET', '/api/v1/devices/lift-1/telemetry?fields=floor,nope');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('GW_BAD_REQUEST');

    // presence: online, last seen, latest readings
    const state = await t.api('GET', '/api/v1/devices/lift-1');
    expect(state.body).toMatchObject({ id: 'lift-1', kind: 'elevator', online: true, building: '3号楼', latest: { seq: 3 } });
    expect(state.body.lastSeenAt).toBeGreaterThan(t0);
    expect(state.body.secretHash).toBeUndefined();
    await device.endAsync();
    await waitFor(async () => (await t.api('GET', '/api/v1/devices/lift-1')).body.online === false);
  });

  it('marks a device offline from its last will', async () => {
    const secret = await registerDevice(t, { id: 'pump-1', kind: 'water_pump' });
    const device = await connectDevice(t, 'pump-1', secret, { will: { topic: 'devices/pump-1/status', payload: Buffer.from('offline'), qos: 1, retain: true } });
    await publish(device, 'devices/pump-1/status', 'online');
    await waitFor(async () => (await t.api('GET', '/api/v1/devices/pump-1')).body.online === true);
    device.stream.destroy(); // an unclean drop: the broker publishes the will
    await waitFor(async () => (await t.api('GET', '/api/v1/devices/pump-1')).body.online === false);
    device.end(true);
  });
});

describe.each(backends)('$name: readings in the same millisecond', ({ overrides }) => {
  let t: TestGateway;
  beforeAll(async () => { t = await startTestGateway(overrides()); });
  afterAll(async () => { await t.dispose(); });

  it('keeps every reading of a batch without ts, and a retransmission stays one point', async () => {
    const secret = await registerDevice(t, { id: 'fw-burst', kind: 'fire_water' });
    const device = await connectDevice(t, 'fw-burst', secret);
    const base = sampleTelemetry('fire_water');
    delete base.seq;
    // no ts and no seq: all five get the receive time, yet none may overwrite another
    await publish(device, 'devices/fw-burst/telemetry', [1, 2, 3, 4, 5].map((i) => ({ ...base, pressure: i / 10 })));
    // the same seq and ts sent twice (a QoS 1 retransmission) is stored once
    const ts = Date.now() - 1000;
    await publish(device, 'devices/fw-burst/telemetry', { ...base, seq: 7, ts, pressure: 0.7 });
    await publish(device, 'devices/fw-burst/telemetry', { ...base, seq: 7, ts, pressure: 0.7 });
    await publish(device, 'devices/fw-burst/telemetry', { ...base, seq: 8, ts, pressure: 0.8 });
    expect(await t.gw.writer.flush(10_000)).toBe(true);
    const rows = (await t.api('GET', '/api/v1/devices/fw-burst/telemetry?from=0&fields=pressure')).body.rows;
    expect(rows.map((r: { pressure: number }) => r.pressure).sort()).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8]);
    await device.endAsync();
  });
});
