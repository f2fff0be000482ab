/**
 * NB-IoT platform pushes end to end, against the real gateway: simulated OneNET (legacy and
 * Studio, plaintext and 安全模式) and CTWing platforms push smoke alarms; alerts are raised, data
 * stored once; bad signatures, unknown IMEIs and undecodable payloads answered 200 and kept as dead
 * letters. Then the adapter alone, on a store that fails or is slow: 503, and the retry taken once.
 */
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, registerDevice, waitFor, type TestGateway } from './harness/gateway.js';
import { nbiotRoutes, nbiotSettingsSchema, onenetSignature } from '../protocols/nbiot/index.js';
import type { DeviceIngress, FieldDevice, ProtocolRejection } from '../protocols/ingress.js';
import { CtwingPush, OneNetPush, encodeGwSmokeFrame, lianServiceData, runNbiotSimulator } from '../simulators/nbiot/platforms.js';
import { createLogger } from '../core/log.js';

const ONENET_TOKEN = 'onenet-token-0123';
const CT_TOKEN = 'ctwing-secret-0123456789';
const STUDIO_KEY = 'k3y-0f-16-chars!';
const LEGACY_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const IMEI = '860374051096202';
const LIAN_IMEI = '860374051096203';
const BARE_IMEI = '860374051096204'; // registered without a model

interface DeadLetterRow { id: number; deviceId: string; topic: string; reason: string; message: string; payload: string }

describe('NB-IoT pushes into the real gateway', () => {
  let t: TestGateway;
  const onenet = (instance: string) => `${t.httpUrl}/api/v1/ingest/onenet/${instance}`;
  const ctwing = (token = CT_TOKEN) => `${t.httpUrl}/api/v1/ingest/ctwing/ct?token=${encodeURIComponent(token)}`;
  const deadLetters = async () => (await t.api<{ items: DeadLetterRow[] }>('GET', '/api/v1/dead-letters?limit=1000')).body.items;
  /** The dead letter a push just left (dead letters are written behind the answer). */
  const deadLetterWith = (reason: string, text: string) => waitFor(async () => (await deadLetters()).find((d) => d.reason === reason && d.payload.includes(text)));
  const rows = async (deviceId: string, channel: 'telemetry' | 'events' = 'telemetry') =>
    (await t.api<{ rows: Array<Record<string, unknown>> }>('GET', `/api/v1/devices/${deviceId}/telemetry?channel=${channel}&from=0`)).body.rows;
  const alerts = async (deviceId: string, type: string) => (await t.api<{ items: Array<{ type: string; state: string; details: Record<string, unknown> }> }>('GET', `/api/v1/alerts?deviceId=${deviceId}&type=${type}`)).body.items;
  const metric = async (protocol: string, outcome: string) => {
    const text = await (await fetch(`${t.httpUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('gateway_protocol_messages_total') && l.includes(`protocol="${protocol}"`) && l.includes(`outcome="${outcome}"`));
    return line ? Number(line.split(' ').pop()) : 0;
  };

  beforeAll(async () => {
    t = await startTestGateway({
      protocols: {
        nbiot: {
          onenet: {
            main: { token: ONENET_TOKEN },
            studio: { token: ONENET_TOKEN, aesKey: STUDIO_KEY, dialect: 'studio' },
            secure: { token: ONENET_TOKEN, aesKey: LEGACY_KEY },
          },
          ctwing: { ct: { token: CT_TOKEN } },
        },
      },
    });
    await registerDevice(t, { id: 'nb-smoke-1', kind: 'smoke_detector', imei: IMEI, model: 'gw-smoke-v1' });
    await registerDevice(t, { id: 'nb-smoke-lian', kind: 'smoke_detector', imei: LIAN_IMEI, model: 'lian-nb-smoke' });
    await registerDevice(t, { id: 'nb-smoke-bare', kind: 'smoke_detector', imei: BARE_IMEI });
  });
  afterAll(async () => { await t?.dispose(); });

  it('answers the OneNET URL check with msg exactly, as text, only with the right token', async () => {
    const ok = await new OneNetPush({ url: onenet('main'), token: ONENET_TOKEN, dialect: 'legacy' }).verifyUrl('r4nd0m+Msg/=', 'I$TLyP&f');
    expect(ok).toEqual({ status: 200, body: 'r4nd0m+Msg/=', ok: true });
    const escaped = await new OneNetPush({ url: onenet('main'), token: ONENET_TOKEN, dialect: 'studio', escapePlus: true }).verifyUrl();
    expect(escaped.ok).toBe(true);
    const res = await fetch(`${onenet('main')}?msg=abc&nonce=abcdefgh&signature=x`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const wrong = await new OneNetPush({ url: onenet('main'), token: 'not-the-token', dialect: 'legacy' }).verifyUrl('handshake-wrong-token');
    expect(wrong.ok).toBe(false);
    expect(wrong.status).toBe(403);
    expect(wrong.body).not.toContain('handshake-wrong-token');
    await deadLetterWith('bad_signature', 'handshake-wrong-token');
    expect((await fetch(`${t.httpUrl}/api/v1/ingest/onenet/nope?msg=a&nonce=b&signature=c`)).status).toBe(404);
    // a check sent as a POST without a body is answered the same way
    const sig = encodeURIComponent(onenetSignature(ONENET_TOKEN, 'abcdefgh', 'post-check'));
    const post = await fetch(`${onenet('main')}?msg=post-check&nonce=abcdefgh&signature=${sig}`, { method: 'POST' });
    expect([post.status, await post.text()]).toEqual([200, 'post-check']);
    // public to the bearer check, and in the API document
    const doc = await t.api<{ paths: Record<string, unknown> }>('GET', '/api/v1/openapi.json');
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/api/v1/ingest/onenet/{instance}', '/api/v1/ingest/ctwing/{instance}']));
  });

  it('a legacy OneNET alarm (our frame in 3200_0_5750) → 200, the reading stored, a fire alarm raised', async () => {
    const push = new OneNetPush({ url: onenet('main'), token: ONENET_TOKEN, dialect: 'legacy', retryDelaysMs: [] });
    const at = Date.now() - 60_000;
    const frame = encodeGwSmokeFrame({ status: 'alarm', smoke: 12.5, temperature: 23.4, battery: 87 }).toString('hex').toUpperCase();
    const res = await push.pushReading(IMEI, frame, { at });
    expect(res).toMatchObject({ status: 200, attempts: 1 });
    // acknowledged once durable: the data is there when the answer is
    expect((await rows('nb-smoke-1')).find((r) => r.ts === at)).toMatchObject({ smoke: 12.5, temperature: 23.4, battery: 87 });
    expect((await rows('nb-smoke-1', 'events')).find((r) => r.ts === at)).toMatchObject({ type: 'alarm' });
    const raised = await waitFor(async () => (await alerts('nb-smoke-1', 'fire.alarm'))[0]);
    expect(raised).toMatchObject({ type: 'fire.alarm', details: { source: 'smoke_detector', smoke: 12.5 } });
  });

  it('the same push twice (a platform retry) is stored once, counted duplicate', async () => {
    const push = new OneNetPush({ url: onenet('main'), token: ONENET_TOKEN, dialect: 'legacy', retryDelaysMs: [] });
    const at = Date.now() - 50_000;
    const body = push.legacyBody(JSON.stringify({ at, imei: IMEI, type: 1, ds_id: '3200_0_5750', value: encodeGwSmokeFrame({ status: 'reading', smoke: 0.4, temperature: 21, battery: 86 }).toString('hex'), dev_id: 518816929 }));
    const before = await metric('onenet', 'duplicate');
    expect((await push.pushRaw(body)).status).toBe(200);
    // another nonce, the same message: re-sent
    const again = push.legacyBody(JSON.stringify(JSON.parse(body).msg));
    expect((await push.pushRaw(again)).status).toBe(200);
    expect((await push.pushRaw(body)).status).toBe(200);
    expect(await metric('onenet', 'duplicate')).toBe(before + 2);
    expect((await rows('nb-smoke-1')).filter((r) => r.ts === at)).toHaveLength(1);
  });

  it('a wrong signature → 200 (the push stays enabled), a bad_signature dead letter, nothing stored', async () => {
    const push = new OneNetPush({ url: onenet('main'), token: 'someone-elses-token', dialect: 'legacy', retryDelaysMs: [] });
    const at = Date.now() - 40_000;
    const res = await push.pushReading(IMEI, encodeGwSmokeFrame({ status: 'alarm', smoke: 50, temperature: 60, battery: 80 }).toString('hex'), { at });
    expect(res).toMatchObject({ status: 200, attempts: 1 });
    const dl = await deadLetterWith('bad_signature', String(at));
    expect(dl.topic).toMatch(/^onenet:onenet\/main /);
    expect(dl.payload).not.toContain(ONENET_TOKEN);
    // the request was handled to the end before its answer: nothing of it can arrive later
    expect((await rows('nb-smoke-1')).filter((r) => r.ts === at)).toHaveLength(0);
    expect((await rows('nb-smoke-1', 'events')).filter((r) => r.ts === at)).toHaveLength(0);
  });

  it('an unknown IMEI → 200 and an unknown_device dead letter; a device without a decoder → undecodable', async () => {
    const push = new OneNetPush({ url: onenet('main'), token: ONENET_TOKEN, dialect: 'legacy', retryDelaysMs: [] });
    const frame = encodeGwSmokeFrame({ status: 'alarm', smoke: 1, temperature: 20, battery: 90 }).toString('hex');
    expect((await push.pushReading('866971031491171', frame)).status).toBe(200);
    const unknown = await deadLetterWith('unknown_device', '866971031491171');
    expect(unknown.message).toContain('866971031491171');
    expect((await push.pushReading(BARE_IMEI, frame)).status).toBe(200);
    const bare = await deadLetterWith('undecodable', BARE_IMEI);
    expect(bare.deviceId).toBe('nb-smoke-bare');
    expect((await push.pushReading(IMEI, 'ffff')).status).toBe(200);
    expect((await deadLetterWith('undecodable', '"ffff"')).deviceId).toBe('nb-smoke-1');
  });

  it('a legacy batch (msg array) is read whole: each device and `at` a report of its own', async () => {
    const push = new OneNetPush({ url: onenet('main'), token: ONENET_TOKEN, dialect: 'legacy', retryDelaysMs: [] });
    const at = Date.now() - 45_000;
    const point = (t: number, status: 'reading' | 'low_battery', battery: number) => ({ at: t, imei: IMEI, type: 1, ds_id: '3200_0_5750', value: encodeGwSmokeFrame({ status, smoke: 0.5, temperature: 22, battery }).toString('hex'), dev_id: 7 });
    const batch = [point(at, 'reading', 30), point(at + 1, 'low_battery', 9), { type: 2, dev_id: 7, status: 1, login_type: 10, at: at + 2 }];
    expect((await push.pushRaw(push.legacyBody(JSON.stringify(batch)))).status).toBe(200);
    expect((await rows('nb-smoke-1')).filter((r) => r.ts === at || r.ts === at + 1).map((r) => r.battery)).toEqual([30, 9]);
    expect((await rows('nb-smoke-1', 'events')).find((r) => r.ts === at + 1)).toMatchObject({ type: 'low_battery', battery: 9 });
  });

  it('any content type, or none, is read as raw text (never a 415)', async () => {
    const push = new OneNetPush({ url: onenet('main'), token: ONENET_TOKEN, dialect: 'legacy', retryDelaysMs: [] });
    const at = Date.now() - 35_000;
    const msg = `{"at":${at},"imei":"${IMEI}","type":1,"ds_id":"3200_0_5750","value":"${encodeGwSmokeFrame({ status: 'reading', smoke: 0.1, temperature: 20, battery: 85 }).toString('hex')}","dev_id":518816929}`;
    expect((await push.pushRaw(push.legacyBody(msg), 'text/plain')).status).toBe(200);
    expect((await push.pushRaw('{"not":"an envelope"}', 'application/x-www-form-urlencoded')).status).toBe(200);
    await deadLetterWith('bad_frame', 'not');
    expect((await rows('nb-smoke-1')).filter((r) => r.ts === at)).toHaveLength(1);
  });

  it('Studio 安全模式 (AES-128-CBC) and legacy enc_msg (AES-256-CBC) pushes are decrypted and stored', async () => {
    const studio = new OneNetPush({ url: onenet('studio'), token: ONENET_TOKEN, dialect: 'studio', aesKey: STUDIO_KEY, retryDelaysMs: [] });
    const at1 = Date.now() - 30_000;
    expect((await studio.pushReading(IMEI, encodeGwSmokeFrame({ status: 'reading', smoke: 0.2, temperature: 19.5, battery: 84 }).toString('hex'), { at: at1 })).status).toBe(200);
    expect((await rows('nb-smoke-1')).find((r) => r.ts === at1)).toMatchObject({ smoke: 0.2, temperature: 19.5, battery: 84 });
    // a Studio retry (same id, same msg) is a duplicate
    const body = studio.studioBody({ messageType: 'notify', notifyType: 'property', imei: IMEI, deviceName: IMEI, data: { id: '1', params: { '3200_0_5750': { time: at1 + 1, value: encodeGwSmokeFrame({ status: 'reading', smoke: 0.2, temperature: 19.5, battery: 84 }).toString('hex') } } } }, 'id-42');
    expect((await studio.pushRaw(body)).status).toBe(200);
    expect((await studio.pushRaw(body)).status).toBe(200);
    expect((await rows('nb-smoke-1')).filter((r) => r.ts === at1 + 1)).toHaveLength(1);

    const secure = new OneNetPush({ url: onenet('secure'), token: ONENET_TOKEN, dialect: 'legacy', aesKey: LEGACY_KEY, retryDelaysMs: [] });
    const at2 = Date.now() - 25_000;
    const legacyRaw = secure.legacyBody(JSON.stringify({ at: at2, imei: IMEI, type: 1, ds_id: '3200_0_5750', value: encodeGwSmokeFrame({ status: 'reading', smoke: 0.3, temperature: 18, battery: 83 }).toString('hex'), dev_id: 1 }));
    expect(JSON.parse(legacyRaw)).toHaveProperty('enc_msg');
    expect((await secure.pushRaw(legacyRaw)).status).toBe(200);
    expect((await rows('nb-smoke-1')).find((r) => r.ts === at2)).toMatchObject({ smoke: 0.3, temperature: 18, battery: 83 });
    // the key it was encrypted with is not ours: signed right, undecodable
    const other = new OneNetPush({ url: onenet('secure'), token: ONENET_TOKEN, dialect: 'legacy', aesKey: 'ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut', retryDelaysMs: [] });
    expect((await other.pushRaw(other.legacyBody('{"type":1}'))).status).toBe(200);
    await waitFor(async () => (await deadLetters()).find((d) => d.reason === 'undecodable' && d.message.includes('aesKey')));
  });

  it('online/offline: online is a heartbeat, offline (a sleeping NB device) only counted, never an alert', async () => {
    const push = new OneNetPush({ url: onenet('main'), token: ONENET_TOKEN, dialect: 'legacy', retryDelaysMs: [] });
    const [hb, off] = [await metric('onenet', 'heartbeat'), await metric('onenet', 'offline')];
    expect((await push.pushLifecycle(IMEI, true)).status).toBe(200);
    expect((await push.pushLifecycle(IMEI, false)).status).toBe(200);
    expect(await metric('onenet', 'heartbeat')).toBe(hb + 1);
    expect(await metric('onenet', 'offline')).toBe(off + 1);
    expect(await alerts('nb-smoke-1', 'device.offline')).toEqual([]);
  });

  it('CTWing: a LiAn profile alarm → 200 and a fire alarm; a test alarm is marked test; a wrong token → 200 + bad_signature, nothing stored', async () => {
    const push = new CtwingPush({ url: ctwing(), retryDelaysMs: [] });
    const ts = Date.now() - 20_000;
    expect((await push.pushDataReport(LIAN_IMEI, { serviceData: lianServiceData(LIAN_IMEI, 'alarm') }, ts)).status).toBe(200);
    expect((await rows('nb-smoke-lian', 'events')).find((r) => r.ts === ts)).toMatchObject({ type: 'alarm' });
    await waitFor(async () => (await alerts('nb-smoke-lian', 'fire.alarm'))[0]);

    expect((await push.pushDataReport(LIAN_IMEI, { serviceData: lianServiceData(LIAN_IMEI, 'test_alarm') }, ts + 1)).status).toBe(200);
    expect((await rows('nb-smoke-lian', 'events')).find((r) => r.ts === ts + 1)).toMatchObject({ type: 'alarm', test: true });

    const wrong = new CtwingPush({ url: ctwing('guessed-token-0123456'), retryDelaysMs: [] });
    expect((await wrong.pushDataReport(LIAN_IMEI, { serviceData: lianServiceData(LIAN_IMEI, 'tamper') }, ts + 2)).status).toBe(200);
    const dl = await deadLetterWith('bad_signature', String(ts + 2));
    expect(dl.topic).toMatch(/^ctwing:ctwing\/ct /);
    expect((await rows('nb-smoke-lian', 'events')).filter((r) => r.ts === ts + 2)).toHaveLength(0);
    const none = new CtwingPush({ url: `${t.httpUrl}/api/v1/ingest/ctwing/ct`, retryDelaysMs: [] });
    expect((await none.pushDataReport(LIAN_IMEI, { serviceData: lianServiceData(LIAN_IMEI, 'tamper') }, ts + 3)).status).toBe(200);
    await deadLetterWith('bad_signature', String(ts + 3));

    // a retry of a report: stored once
    const body = push.dataReportBody(LIAN_IMEI, { serviceData: lianServiceData(LIAN_IMEI, 'tamper') }, ts + 4);
    expect((await push.pushRaw(body)).status).toBe(200);
    expect((await push.pushRaw(body)).status).toBe(200);
    expect((await rows('nb-smoke-lian', 'events')).filter((r) => r.ts === ts + 4)).toHaveLength(1);

    // online/offline without an IMEI: known by its deviceId from the reports
    const hb = await metric('ctwing', 'heartbeat');
    expect((await push.pushOnlineOffline(LIAN_IMEI, true)).status).toBe(200);
    expect(await metric('ctwing', 'heartbeat')).toBe(hb + 1);

    expect((await fetch(`${t.httpUrl}/api/v1/ingest/ctwing/ct`)).status).toBe(200);
    expect((await fetch(`${t.httpUrl}/api/v1/ingest/ctwing/nope?token=x`, { method: 'POST', body: '{}' })).status).toBe(404);
  });

  it('the simulator command pushes an alarm and a clear through both platforms', async () => {
    const lines: string[] = [];
    const r1 = await runNbiotSimulator({ api: t.httpUrl, platform: 'onenet', instance: 'main', token: ONENET_TOKEN, imei: IMEI, event: 'clear', verify: true, retryDelaysMs: [] }, (l) => lines.push(l));
    const r2 = await runNbiotSimulator({ api: t.httpUrl, platform: 'ctwing', instance: 'ct', token: CT_TOKEN, imei: LIAN_IMEI, event: 'clear', retryDelaysMs: [] }, (l) => lines.push(l));
    expect([r1.status, r2.status]).toEqual([200, 200]);
    expect(lines[0]).toContain('URL 验证成功');
    expect(lines.join('\n')).toContain('→ HTTP 200');
    expect((await rows('nb-smoke-1', 'events')).some((r) => r.type === 'alarm_cleared')).toBe(true);
    expect((await rows('nb-smoke-lian', 'events')).some((r) => r.type === 'alarm_cleared')).toBe(true);
  });
});

describe('the adapter on a store that fails or is slow', () => {
  const device: FieldDevice = { id: 'd1', kind: 'smoke_detector', model: 'gw-smoke-v1' };
  const token = 'onenet-token-0123';

  function fakeIngress(submit: DeviceIngress['submit']) {
    const rejected: ProtocolRejection[] = [];
    const counts: Record<string, number> = {};
    const ingress = {
      byImei: (imei: string) => (imei === IMEI ? device : undefined),
      submit,
      heartbeat: () => {},
      reject: (r: ProtocolRejection) => { rejected.push(r); },
      count: (_p: string, outcome: string, n = 1) => { counts[outcome] = (counts[outcome] ?? 0) + n; },
    } as unknown as DeviceIngress;
    return { ingress, rejected, counts };
  }

  async function app(ingress: DeviceIngress, answerWithinMs = 4000) {
    const a = Fastify();
    const settings = nbiotSettingsSchema.parse({ onenet: { main: { token } }, answerWithinMs });
    await a.register(nbiotRoutes({ ingress, settings, log: createLogger('silent') }), { prefix: '/api/v1' });
    return a;
  }

  const body = () => new OneNetPush({ url: 'x', token, dialect: 'legacy' })
    .legacyBody(JSON.stringify({ at: 1700000000000, imei: IMEI, type: 1, ds_id: '3200_0_5750', value: encodeGwSmokeFrame({ status: 'alarm', smoke: 1, temperature: 2, battery: 3 }).toString('hex'), dev_id: 1 }));

  it('answers 503 when the store refuses, so the platform retries; the retry is taken', async () => {
    let fail = true;
    const stored: unknown[] = [];
    const f = fakeIngress(async (_d, channel, objects) => {
      if (fail) throw new Error('store unavailable');
      stored.push([channel, objects]);
      return { accepted: objects.length, rejections: [] };
    });
    const a = await app(f.ingress);
    const payload = body();
    expect((await a.inject({ method: 'POST', url: '/api/v1/ingest/onenet/main', payload })).statusCode).toBe(503);
    fail = false;
    expect((await a.inject({ method: 'POST', url: '/api/v1/ingest/onenet/main', payload })).statusCode).toBe(200);
    expect((await a.inject({ method: 'POST', url: '/api/v1/ingest/onenet/main', payload })).statusCode).toBe(200);
    expect(stored).toEqual([['telemetry', [{ ts: 1700000000000, smoke: 1, temperature: 2, battery: 3 }]], ['event', [{ ts: 1700000000000, type: 'alarm' }]]]);
    expect(f.counts.duplicate).toBe(1);
    await a.close();
  });

  it('warns of bad signatures at most once a minute, without the token; each one a dead letter', async () => {
    const warnings: unknown[][] = [];
    let now = 0;
    const f = fakeIngress(async () => ({ accepted: 1, rejections: [] }));
    const log = { ...createLogger('silent'), warn: (...args: unknown[]) => { warnings.push(args); } } as unknown as ReturnType<typeof createLogger>;
    const a = Fastify();
    const settings = nbiotSettingsSchema.parse({ onenet: { main: { token } } });
    await a.register(nbiotRoutes({ ingress: f.ingress, settings, log, now: () => now }), { prefix: '/api/v1' });
    const bad = new OneNetPush({ url: 'x', token: 'wrong-token-0123', dialect: 'legacy' }).legacyBody('{"type":1}');
    for (const at of [0, 30_000, 59_999, 60_000]) {
      now = at;
      expect((await a.inject({ method: 'POST', url: '/api/v1/ingest/onenet/main', payload: bad })).statusCode).toBe(200);
    }
    expect(warnings).toHaveLength(2);
    expect(JSON.stringify(warnings)).not.toContain(token);
    expect(f.rejected.map((r) => r.reason)).toEqual(['bad_signature', 'bad_signature', 'bad_signature', 'bad_signature']);
    await a.close();
  });

  it('answers 503 when the store is slower than answerWithinMs; stored meanwhile, the retry is a duplicate', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let submits = 0;
    const f = fakeIngress(async (_d, _c, objects) => { submits++; await gate; return { accepted: objects.length, rejections: [] }; });
    const a = await app(f.ingress, 100);
    const payload = body();
    expect((await a.inject({ method: 'POST', url: '/api/v1/ingest/onenet/main', payload })).statusCode).toBe(503);
    // a retry while the first delivery is still under way waits for it instead of storing twice
    const retry = a.inject({ method: 'POST', url: '/api/v1/ingest/onenet/main', payload });
    release();
    expect((await retry).statusCode).toBe(200);
    expect((await a.inject({ method: 'POST', url: '/api/v1/ingest/onenet/main', payload })).statusCode).toBe(200);
    expect(submits).toBe(2); // telemetry and event, once
    expect(f.counts.duplicate).toBe(2);
    await a.close();
  });
});
