/**
 * The HTTP device API (SPEC 12): a device without MQTT posts the same payloads with its secret as
 * Basic auth. 200 only once stored; the same dead letters and errors topic; the MQTT login slow-down
 * and per-device rate limit apply; the registry's IMEI and transmission device addresses are unique.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, registerDevice, startTestGateway, waitFor, ADMIN_TOKEN, type TestGateway } from './harness/gateway.js';
import { sampleTelemetry } from '../simulators/samples.js';

let t: TestGateway;
let secret: string;
const id = 'http-pump';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

async function post(path: string, body: string, auth: string | undefined, contentType = 'application/json') {
  const res = await fetch(t.httpUrl + path, { method: 'POST', headers: { 'content-type': contentType, ...(auth ? { authorization: auth } : {}) }, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  t = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', limits: { publishPerSecond: 5, publishBurst: 5, loginFailuresBeforeDelay: 3, loginDelayMs: 200 } } });
  secret = await registerDevice(t, { id, kind: 'water_pump' });
});
afterAll(async () => { await t.dispose(); });

describe('HTTP device API', () => {
  it('stores telemetry and answers 200 only once stored; the reading is readable right after', async () => {
    const ts = Date.now() - 1000;
    const res = await post(`/api/v1/devices/${id}/telemetry`, JSON.stringify({ ...sampleTelemetry('water_pump', 1), ts, outletPressure: 0.42 }), basic(id, secret));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accepted: 1, rejected: [] });
    const stored = await t.api('GET', `/api/v1/devices/${id}/telemetry?from=${ts - 1}&to=${ts + 1}`);
    expect(stored.status).toBe(200);
    expect(JSON.stringify(stored.body)).toContain('0.42');
    expect(t.gw.presence.get(id)?.lastSeenAt).toBeGreaterThan(0);
  });

  it('takes any content type (the pipeline judges the bytes) and a batch with a bad object: good ones stored, the bad one explained', async () => {
    const good = sampleTelemetry('water_pump', 2);
    const bad = { ...sampleTelemetry('water_pump', 3), ph: 15 };
    const res = await post(`/api/v1/devices/${id}/telemetry`, JSON.stringify([good, bad]), basic(id, secret), 'text/plain');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected).toHaveLength(1);
    expect(res.body.rejected[0]).toMatchObject({ reason: 'schema', index: 1 });
    expect(res.body.rejected[0].issues[0].path).toContain('ph');
  });

  it('a message with nothing valid is 400 INGEST_REJECTED, kept as a dead letter and told on devices/{id}/errors', async () => {
    // the device also has an MQTT session (e.g. a gateway box): it hears why on its errors topic
    const listener = await connectDevice(t, id, secret);
    const heard: string[] = [];
    await listener.subscribeAsync(`devices/${id}/errors`, { qos: 0 });
    listener.on('message', (_t, p) => heard.push(p.toString()));
    const res = await post(`/api/v1/devices/${id}/events`, '{"type": "pump_fault",', basic(id, secret));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INGEST_REJECTED');
    expect(res.body.error.details[0].reason).toBe('not_json');
    const letters = await t.api('GET', `/api/v1/dead-letters?deviceId=${id}`);
    const letter = letters.body.items.find((l: { reason: string }) => l.reason === 'not_json');
    expect(letter).toMatchObject({ deviceId: id, topic: `http:devices/${id}/events` });
    expect(letter.payload).toContain('pump_fault');
    await waitFor(() => heard.some((h) => h.includes('not_json')));
    await listener.endAsync();
  });

  it('refuses missing or wrong credentials (401 with a Basic challenge), another device\'s path (403), and stores nothing', async () => {
    const body = JSON.stringify(sampleTelemetry('water_pump', 4));
    const none = await post(`/api/v1/devices/${id}/telemetry`, body, undefined);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic/);
    const wrong = await post(`/api/v1/devices/${id}/telemetry`, body, basic(id, 'not-the-secret-at-all'));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('GW_UNAUTHORIZED');
    const other = await post('/api/v1/devices/someone-else/telemetry', body, basic(id, secret));
    expect(other.status).toBe(403);
    // a bearer token is not a device's credential
    const bearer = await post(`/api/v1/devices/${id}/telemetry`, body, `Bearer ${ADMIN_TOKEN}`);
    expect(bearer.status).toBe(401);
  });

  it('shares the MQTT login slow-down: after repeated wrong secrets the next attempt is held back', async () => {
    const victim = 'http-guessed';
    const realSecret = await registerDevice(t, { id: victim, kind: 'water_pump' });
    const body = JSON.stringify(sampleTelemetry('water_pump', 5));
    for (let i = 0; i < 4; i++) expect((await post(`/api/v1/devices/${victim}/telemetry`, body, basic(victim, `guess-${i}-xxxxxxxxxxxx`))).status).toBe(401);
    const held = await t.gw.metrics.registry.getSingleMetric('gateway_mqtt_logins_held_total')?.get();
    const before = held?.values[0]?.value ?? 0;
    expect((await post(`/api/v1/devices/${victim}/telemetry`, body, basic(victim, realSecret))).status).toBe(200);
    const after = (await t.gw.metrics.registry.getSingleMetric('gateway_mqtt_logins_held_total')?.get())?.values[0]?.value ?? 0;
    expect(after).toBe(before + 1);
  });

  it('applies the per-device rate limit: past the burst, 429 with Retry-After, and nothing of it stored', async () => {
    const limited = 'http-chatty';
    const s = await registerDevice(t, { id: limited, kind: 'water_pump' });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const res = await post(`/api/v1/devices/${limited}/telemetry`, JSON.stringify({ ...sampleTelemetry('water_pump', i), seq: i }), basic(limited, s));
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses.filter((x) => x === 200).length).toBeGreaterThanOrEqual(5);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/gateway_protocol_messages_total\{protocol="http",outcome="throttled"\} [1-9]/);
    expect(metrics).toMatch(/gateway_protocol_messages_total\{protocol="http",outcome="accepted"\} [1-9]/);
  });

  it('refuses a disabled device with 403', async () => {
    const off = 'http-disabled';
    const s = await registerDevice(t, { id: off, kind: 'water_pump' });
    expect((await t.api('PATCH', `/api/v1/devices/${off}`, { disabled: true })).status).toBe(200);
    const res = await post(`/api/v1/devices/${off}/telemetry`, JSON.stringify(sampleTelemetry('water_pump', 1)), basic(off, s));
    expect(res.status).toBe(403);
  });
});

describe('field protocol addresses in the registry', () => {
  it('keeps imei and uitdAddress (lower-cased), unique across devices, and uitdAddress only on fire panels', async () => {
    await registerDevice(t, { id: 'nb-smoke-1', kind: 'smoke_detector', imei: '860374051096202' });
    await registerDevice(t, { id: 'uitd-1', kind: 'fire_panel', uitdAddress: '40E201000000' });
    const got = await t.api('GET', '/api/v1/devices/uitd-1');
    expect(got.body.uitdAddress).toBe('40e201000000');
    expect(t.gw.registry.deviceByUitdAddress('40e201000000')?.id).toBe('uitd-1');
    expect(t.gw.registry.deviceByImei('860374051096202')?.id).toBe('nb-smoke-1');

    const dupImei = await t.api('POST', '/api/v1/devices', { id: 'nb-smoke-2', kind: 'smoke_detector', siteId: 'site-1', imei: '860374051096202' });
    expect(dupImei.status).toBe(409);
    expect(dupImei.body.error.details[0].path).toBe('imei');
    // the holder is not named: it may be another company's device
    expect(dupImei.body.error.message).not.toContain('nb-smoke-1');
    const dupAddress = await t.api('POST', '/api/v1/devices', { id: 'uitd-2', kind: 'fire_panel', siteId: 'site-1', uitdAddress: '40e201000000' });
    expect(dupAddress.status).toBe(409);
    const notPanel = await t.api('POST', '/api/v1/devices', { id: 'pump-uitd', kind: 'water_pump', siteId: 'site-1', uitdAddress: '010203040506' });
    expect(notPanel.status).toBe(400);
    const badImei = await t.api('POST', '/api/v1/devices', { id: 'nb-bad', kind: 'smoke_detector', siteId: 'site-1', imei: '12345' });
    expect(badImei.status).toBe(400);

    // moving an IMEI frees the old one
    expect((await t.api('PATCH', '/api/v1/devices/nb-smoke-1', { imei: '860374051096203' })).status).toBe(200);
    expect(t.gw.registry.deviceByImei('860374051096202')).toBeUndefined();
    expect((await t.api('POST', '/api/v1/devices', { id: 'nb-smoke-2', kind: 'smoke_detector', siteId: 'site-1', imei: '860374051096202' })).status).toBe(201);
  });

  it('keeps them across a restart', async () => {
    await t.stop();
    await t.restart();
    expect(t.gw.registry.deviceByImei('860374051096203')?.id).toBe('nb-smoke-1');
    expect(t.gw.registry.deviceByUitdAddress('40e201000000')?.id).toBe('uitd-1');
  });
});
