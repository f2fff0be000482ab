/**
 * For every device kind, a table of bad payloads: each becomes a dead letter whose reason names the
 * field, the device hears why on devices/{id}/errors, and the good data around it is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { sampleTelemetry, sampleEvent } from '../simulators/samples.js';
import { DEVICE_KINDS, type DeviceKind } from '../ingest/schemas/kinds.js';

/** Per kind: a field of the wrong type, a required field, a value out of range. */
const FIELD_CASES: Record<DeviceKind, { wrongType: [string, unknown]; required: string; outOfRange: [string, unknown] }> = {
  elevator: { wrongType: ['running', 'yes'], required: 'door', outOfRange: ['floor', 1000] },
  fire_panel: { wrongType: ['mainPowerOk', 1], required: 'backupPowerOk', outOfRange: ['seq', -1] },
  smoke_detector: { wrongType: ['smoke', 'high'], required: 'battery', outOfRange: ['battery', 140] },
  fire_water: { wrongType: ['pressure', '0.3'], required: 'tankLevel', outOfRange: ['pressure', -0.2] },
  water_pump: { wrongType: ['pumpsRunning', 1.5], required: 'flooded', outOfRange: ['ph', 15] },
  drainage: { wrongType: ['pumpFault', 'no'], required: 'level', outOfRange: ['level', -0.5] },
};

interface ErrorMessage { reason: string; message: string; issues: Array<{ path: string; message: string }>; index?: number }

let t: TestGateway;
beforeAll(async () => { t = await startTestGateway({ ingest: { maxPayloadBytes: 2048 } }); });
afterAll(async () => { await t.dispose(); });

describe.each(DEVICE_KINDS.map((k) => [k]))('%s', (kind) => {
  const id = `bad-${kind}`;
  let client: MqttClient;
  const errors: ErrorMessage[] = [];
  const topic = `devices/${id}/telemetry`;

  beforeAll(async () => {
    const secret = await registerDevice(t, { id, kind });
    client = await connectDevice(t, id, secret);
    await client.subscribeAsync(`devices/${id}/errors`, { qos: 0 });
    client.on('message', (_topic, payload) => errors.push(JSON.parse(payload.toString())));
  });
  afterAll(async () => { await client.endAsync(); });

  const base = () => sampleTelemetry(kind, 1);
  const { wrongType, required, outOfRange } = FIELD_CASES[kind];
  const withField = (k: string, v: unknown) => ({ ...base(), [k]: v });
  const without = (k: string) => { const b = base(); delete b[k]; return b; };

  const cases: Array<{ name: string; payload: string | Buffer; reason: string; field?: string }> = [
    { name: 'not JSON', payload: '{"mode": normal', reason: 'not_json' },
    { name: 'not an object', payload: '42', reason: 'not_object' },
    { name: 'wrong type', payload: JSON.stringify(withField(...wrongType)), reason: 'schema', field: wrongType[0] },
    { name: 'missing required field', payload: JSON.stringify(without(required)), reason: 'schema', field: required },
    { name: 'out of range', payload: JSON.stringify(withField(...outOfRange)), reason: 'schema', field: outOfRange[0] },
    { name: 'oversize', payload: JSON.stringify({ ...base(), pad: 'x'.repeat(4000) }), reason: 'too_large' },
    { name: 'future timestamp', payload: JSON.stringify({ ...base(), ts: Date.now() + 3600_000 }), reason: 'future_timestamp', field: 'ts' },
    { name: 'bad RFC 3339 timestamp', payload: JSON.stringify({ ...base(), ts: '2026-13-45T99:00:00Z' }), reason: 'schema', field: 'ts' },
  ];

  it.each(cases)('$name → dead letter ($reason), explained on the errors topic, nothing stored', async ({ payload, reason, field }) => {
    const before = errors.length;
    const lettersBefore = (await t.api('GET', `/api/v1/dead-letters?deviceId=${id}&limit=1000`)).body.items.length;
    await publish(client, topic, payload);
    const err = await waitFor(() => errors.length > before && errors[errors.length - 1]);
    expect(err.reason).toBe(reason);
    if (field) expect(err.issues.map((i) => i.path)).toContain(field);
    expect(err.message.length).toBeGreaterThan(5);
    const letters = (await t.api('GET', `/api/v1/dead-letters?deviceId=${id}&limit=1000`)).body.items;
    expect(letters.length).toBe(lettersBefore + 1);
    expect(letters[0]).toMatchObject({ deviceId: id, topic, reason });
    if (field) expect(letters[0].issues.map((i: { path: string }) => i.path)).toContain(field);
    expect(typeof letters[0].payload).toBe('string');
    expect(letters[0].payload.length).toBeGreaterThan(0);
    const stored = await t.api('GET', `/api/v1/devices/${id}/telemetry?from=0`);
    expect(stored.body.count).toBe(0);
  });

  it('a batch with one bad object stores the good ones and dead-letters the bad one by index', async () => {
    const now = Date.now();
    const batch = [
      { ...sampleTelemetry(kind, 10), ts: now - 3000 },
      { ...sampleTelemetry(kind, 11), ts: now - 2000, [wrongType[0]]: wrongType[1] },
      { ...sampleTelemetry(kind, 12), ts: new Date(now - 1000).toISOString() },
    ];
    const before = errors.length;
    await publish(client, topic, JSON.stringify(batch));
    const err = await waitFor(() => errors.length > before && errors[errors.length - 1]);
    expect(err).toMatchObject({ reason: 'schema', index: 1 });
    expect(err.issues.map((i) => i.path)).toContain(`[1].${wrongType[0]}`);
    const stored = await t.api('GET', `/api/v1/devices/${id}/telemetry?from=0&fields=seq`);
    expect(stored.body.rows.map((r: { seq: number }) => r.seq)).toEqual([10, 12]);
    expect(stored.body.rows[1].ts).toBe(now - 1000);
    // an event with an unknown type is rejected too, and a valid one is stored
    await publish(client, `devices/${id}/events`, { type: 'no_such_event' });
    await publish(client, `devices/${id}/events`, sampleEvent(kind));
    const events = await waitFor(async () => {
      const res = await t.api('GET', `/api/v1/devices/${id}/telemetry?from=0&channel=events`);
      return res.body.count === 1 && res.body.rows;
    });
    expect(events[0].type).toBe(sampleEvent(kind).type);
    await waitFor(() => errors.some((e) => e.reason === 'schema' && e.issues.some((i) => i.path === 'type')));
  });
});

it('counts every rejection by reason in the metrics', async () => {
  const text = await fetch(t.httpUrl + '/metrics').then((r) => r.text());
  const count = (reason: string) => Number(new RegExp(`gateway_rejected_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  expect(count('not_json')).toBe(DEVICE_KINDS.length);
  expect(count('too_large')).toBe(DEVICE_KINDS.length);
  expect(count('future_timestamp')).toBe(DEVICE_KINDS.length);
  // wrong type, missing, out of range, bad ts, the batch object, the unknown event type
  expect(count('schema')).toBe(DEVICE_KINDS.length * 6);
});
