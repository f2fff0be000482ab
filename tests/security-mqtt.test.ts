/**
 * The MQTT side of the security contract, probed the way an attacker would, with real mqtt.js clients,
 * raw sockets and real certificates: whose client id an account may use, what a socket may make the
 * gateway buffer before it has logged in, how many such sockets one address may hold, that revoking a
 * device or an account ends its live sessions, device client certificates, the login slow-down under
 * parallel guessing, seeded secrets at rest, and the audit of refused logins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { connect, connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { openDatabase } from '../core/db/sqlite.js';
import { sampleTelemetry } from '../simulators/samples.js';

const code = (err: unknown) => (err as { code?: number }).code;
const refusal = (p: Promise<MqttClient>) => p.then(async (c) => { await c.endAsync(); return 0; }, code);

async function account(t: TestGateway, id: string, role: string, scope?: string): Promise<string> {
  const res = await t.api('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) });
  if (res.status !== 201) throw new Error(`account create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token as string;
}

async function refused(t: TestGateway, reason: string): Promise<number> {
  const text = await fetch(t.httpUrl + '/metrics').then((r) => r.text());
  const m = new RegExp(`gateway_mqtt_connects_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** Resolves when the emitter closes; fails the test if that takes longer than `ms`. */
function closesWithin(emitter: { once(e: 'close', f: (...a: unknown[]) => void): unknown }, ms: number, what: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} was not closed within ${ms} ms`)), ms);
    emitter.once('close', (...args: unknown[]) => { clearTimeout(timer); resolve(args); });
  });
}

function rawSocket(t: TestGateway): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(new URL(t.mqttUrl).port), '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** The fixed header of a packet announcing `length` bytes of body: type byte, then the length as a varint. */
function header(type: number, length: number): Buffer {
  const bytes = [type];
  do {
    let b = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) b |= 0x80;
    bytes.push(b);
  } while (length > 0);
  return Buffer.from(bytes);
}

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    mqtt: { port: 0, host: '127.0.0.1', limits: { loginFailuresBeforeDelay: 50 } },
    seed: {
      sites: [{ id: 'seed-site', name: 'Seeded', companyId: 'company-seed' }],
      devices: [{ id: 'seeded-lift', kind: 'elevator', siteId: 'seed-site', secret: 'flashed-into-the-firmware-1' }],
      accounts: [],
    },
  });
});
afterAll(async () => { await t?.dispose(); });

describe('client id of accounts', () => {
  it('MQTT-1 an account cannot take over another account\'s persistent session through its client id (CONNACK 2)', async () => {
    const tokenA = await account(t, 'prop-a', 'property', 'company-1');
    const tokenB = await account(t, 'prop-b', 'property', 'company-2');
    await registerDevice(t, { id: 'cid-lift', kind: 'elevator' });
    const a = await connect(t.mqttUrl, { clientId: 'prop-a', username: 'prop-a', password: tokenA, clean: false });
    await a.subscribeAsync('alerts/property/company-1', { qos: 1 });
    await a.endAsync();
    const before = await refused(t, 'client_id_mismatch');
    for (const clientId of ['prop-a', 'prop-a:console', 'prop-b:', 'prop-bx', 'company-2', 'cid-lift']) {
      expect(await refusal(connect(t.mqttUrl, { clientId, username: 'prop-b', password: tokenB, clean: false })), `client id "${clientId}"`).toBe(2);
    }
    // no client id at all: the broker would make one up, which is not the account's either
    expect(await refusal(connect(t.mqttUrl, { clientId: '', username: 'prop-b', password: tokenB, clean: true }))).toBe(2);
    expect(await refused(t, 'client_id_mismatch')).toBe(before + 7);
    for (const clientId of ['prop-b', 'prop-b:console', 'prop-b:night:2']) {
      expect(await refusal(connect(t.mqttUrl, { clientId, username: 'prop-b', password: tokenB })), `client id "${clientId}"`).toBe(0);
    }
    // the wrong token is still "bad credentials", whatever the client id
    expect(await refusal(connect(t.mqttUrl, { clientId: 'prop-a', username: 'prop-b', password: 'not-the-token-not-the-token' }))).toBe(4);
  });

  it('MQTT-1b ids may contain ":", so a client id belongs to the longest account id it starts with', async () => {
    const acme = await account(t, 'acme', 'property', 'company-acme');
    const north = await account(t, 'acme:north', 'property', 'company-north');
    const as = (username: string, password: string, clientId: string) => refusal(connect(t.mqttUrl, { clientId, username, password }));
    expect(await as('acme', acme, 'acme:north')).toBe(2);
    expect(await as('acme', acme, 'acme:north:1')).toBe(2);
    expect(await as('acme', acme, 'acme:south')).toBe(0);
    expect(await as('acme:north', north, 'acme:north:1')).toBe(0);
    expect(await as('acme:north', north, 'acme')).toBe(2);
  });
});

describe('before login', () => {
  it('MQTT-2 a CONNECT announcing more than maxConnectPacketBytes closes the socket before it is buffered', async () => {
    const before = await refused(t, 'packet_too_large');
    const s = await rawSocket(t);
    const closed = closesWithin(s, 3000, 'the socket');
    s.write(header(0x10, 100 * 1024));
    await closed;
    expect(await refused(t, 'packet_too_large')).toBe(before + 1);
  });

  it('MQTT-2b the same over WebSocket: a large first frame is refused by the WebSocket layer (1009)', async () => {
    const before = await refused(t, 'packet_too_large');
    const ws = new WebSocket(`ws://127.0.0.1:${t.gw.ports().http}/mqtt`, 'mqtt');
    ws.on('error', () => undefined);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const closed = closesWithin(ws, 3000, 'the WebSocket');
    const frame = Buffer.alloc(64 * 1024);
    header(0x10, frame.length - 4).copy(frame);
    ws.send(frame);
    const [closeCode] = await closed;
    expect(closeCode).toBe(1009);
    expect(await refused(t, 'packet_too_large')).toBe(before + 1);
  });

  it('after login the full maxPacketBytes applies', async () => {
    const secret = await registerDevice(t, { id: 'big-after-login', kind: 'elevator' });
    const c = await connectDevice(t, 'big-after-login', secret);
    await publish(c, 'devices/big-after-login/telemetry', Buffer.alloc(100 * 1024, 0x20));
    expect(c.connected).toBe(true);
    await c.endAsync();
  });
});

describe('sockets that have not logged in', () => {
  let few: TestGateway;
  const QUEUE_MS = 800;
  beforeAll(async () => { few = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', limits: { maxPendingPerAddress: 3, loginQueueTimeoutMs: QUEUE_MS } } }); });
  afterAll(async () => { await few?.dispose(); });

  const gauge = async (t: TestGateway, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await fetch(t.httpUrl + '/metrics').then((r) => r.text()))?.[1] ?? NaN);

  it('MQTT-3 past the logins in progress per address, a device waits its turn unread, and logs in once one ends; logged-in sessions are not counted', async () => {
    const secrets = [await registerDevice(few, { id: 'p-1', kind: 'fire_panel' }), await registerDevice(few, { id: 'p-2', kind: 'fire_panel' })];
    const idle = [await rawSocket(few), await rawSocket(few), await rawSocket(few)];
    const queuedBefore = await gauge(few, 'gateway_mqtt_logins_queued_total');
    const waiting = connectDevice(few, 'p-1', secrets[0]!, { connectTimeout: 10_000 });
    // it waits (the gauge says so), not refused: its device only sees a slower CONNACK
    await waitFor(async () => ((await gauge(few, 'gateway_mqtt_logins_waiting')) === 1 ? true : undefined), 3000);
    expect(await gauge(few, 'gateway_mqtt_logins_queued_total')).toBe(queuedBefore + 1);
    idle[0]!.destroy();
    const logged = await waiting;
    expect(logged.connected).toBe(true);
    expect(await gauge(few, 'gateway_mqtt_logins_waiting')).toBe(0);
    // logged in, it no longer counts: the next device from the address has its turn at once
    const another = await connectDevice(few, 'p-2', secrets[1]!);
    expect(another.connected).toBe(true);
    expect(await gauge(few, 'gateway_mqtt_logins_queued_total')).toBe(queuedBefore + 1);
    for (const s of idle.slice(1)) s.destroy();
    await logged.endAsync();
    await another.endAsync();
    expect(await refused(few, 'too_many_pending')).toBe(0);
  });

  it('MQTT-3 a connection waits at most loginQueueTimeoutMs, unread: then it is closed and counted', async () => {
    const idle = [await rawSocket(few), await rawSocket(few), await rawSocket(few)];
    const before = await refused(few, 'login_queue_timeout');
    const fourth = await rawSocket(few);
    const sentAt = Date.now();
    // a malformed packet: read, it would close the connection at once as a protocol error
    fourth.write(Buffer.from([0x10, 0x02, 0xff, 0xff]));
    await closesWithin(fourth, QUEUE_MS + 3000, 'the waiting socket');
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(QUEUE_MS - 50);
    expect(await refused(few, 'login_queue_timeout')).toBe(before + 1);
    for (const s of idle) s.destroy();
  });

  it('MQTT-3 with loginQueueTimeoutMs 0, a connection past the limit is closed at once and counted', async () => {
    const none = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', limits: { maxPendingPerAddress: 3, loginQueueTimeoutMs: 0 } } });
    try {
      const idle = [await rawSocket(none), await rawSocket(none), await rawSocket(none)];
      const fourth = await rawSocket(none);
      await closesWithin(fourth, 3000, 'the fourth socket that has not logged in');
      expect(await refused(none, 'too_many_pending')).toBe(1);
      expect(await gauge(none, 'gateway_mqtt_logins_queued_total')).toBe(0);
      for (const s of idle) s.destroy();
    } finally {
      await none.dispose();
    }
  });
});

describe('revocation', () => {
  it('MQTT-4 rotating a device secret closes its live session; the old secret is refused (4), the new one works', async () => {
    const secret = await registerDevice(t, { id: 'rot-live', kind: 'elevator' });
    const live = await connectDevice(t, 'rot-live', secret);
    const closed = closesWithin(live, 3000, 'the live session');
    const res = await t.api('POST', '/api/v1/devices/rot-live/secret');
    expect(res.status).toBe(201);
    await closed;
    live.end(true);
    expect(await refusal(connectDevice(t, 'rot-live', secret))).toBe(4);
    expect(await refusal(connectDevice(t, 'rot-live', res.body.secret))).toBe(0);
  });

  it('MQTT-4b a login that passed just before a rotation is closed when its session registers', async () => {
    const secret = await registerDevice(t, { id: 'rot-race', kind: 'elevator' });
    // the rotation lands between the secret check and the session's registration (Aedes sets up the
    // session asynchronously after the check)
    const persistence = (t.gw.broker.aedes as unknown as { persistence: { cleanSubscriptions(c: { id: string }): Promise<unknown> } }).persistence;
    const original = persistence.cleanSubscriptions;
    persistence.cleanSubscriptions = function (this: unknown, c: { id: string }) {
      if (c.id === 'rot-race') t.gw.registry.rotateSecret('rot-race', 'test');
      return original.call(this, c);
    };
    try {
      const session = new Promise<MqttClient | undefined>((resolve) => {
        const c = mqtt.connect(t.mqttUrl, { clientId: 'rot-race', username: 'rot-race', password: secret, reconnectPeriod: 0 });
        c.on('error', () => undefined);
        c.once('close', () => { c.end(true); resolve(undefined); });
        c.once('connect', () => resolve(c));
      });
      const c = await session;
      if (c) await closesWithin(c, 3000, 'the session that logged in with the revoked secret');
    } finally {
      persistence.cleanSubscriptions = original;
    }
    expect(await refusal(connectDevice(t, 'rot-race', secret))).toBe(4);
  });

  it('MQTT-4c a live session follows its device to another company at once, not under the old identity', async () => {
    const secret = await registerDevice(t, { id: 'moved-lift', kind: 'elevator', siteId: 'site-old', companyId: 'company-old' });
    expect((await t.api('POST', '/api/v1/sites', { id: 'site-new', name: 'New', companyId: 'company-new' })).status).toBe(201);
    const c = await connectDevice(t, 'moved-lift', secret);
    const seen: Array<{ siteId: string; companyId: string }> = [];
    t.gw.pipeline.onAccepted((items) => { for (const i of items) if (i.device.id === 'moved-lift') seen.push({ siteId: i.device.siteId, companyId: i.device.companyId }); });
    await publish(c, 'devices/moved-lift/telemetry', sampleTelemetry('elevator'));
    expect((await t.api('PATCH', '/api/v1/devices/moved-lift', { siteId: 'site-new' })).status).toBe(200);
    await publish(c, 'devices/moved-lift/telemetry', sampleTelemetry('elevator'));
    expect(seen).toEqual([{ siteId: 'site-old', companyId: 'company-old' }, { siteId: 'site-new', companyId: 'company-new' }]);
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('MQTT-5 disabling an account closes every session of it (id and id:suffix), and its token is refused (4)', async () => {
    const token = await account(t, 'fire-1', 'fire-service');
    const neighbour = await account(t, 'fire-1:x', 'fire-service');
    const sessions = [
      await connect(t.mqttUrl, { clientId: 'fire-1', username: 'fire-1', password: token }),
      await connect(t.mqttUrl, { clientId: 'fire-1:console', username: 'fire-1', password: token }),
    ];
    const other = await connect(t.mqttUrl, { clientId: 'fire-1:x', username: 'fire-1:x', password: neighbour });
    const closed = Promise.all(sessions.map((s, i) => closesWithin(s, 3000, `session ${i}`)));
    const res = await t.api('PATCH', '/api/v1/accounts/fire-1', { disabled: true });
    expect(res.status).toBe(200);
    await closed;
    for (const s of sessions) s.end(true);
    // the account whose id only starts like it is not touched
    expect(other.connected).toBe(true);
    await other.endAsync();
    expect(await refusal(connect(t.mqttUrl, { clientId: 'fire-1', username: 'fire-1', password: token }))).toBe(4);
  });

  it('MQTT-6 rotating an account token closes its session; the old token is refused (4), the new one works', async () => {
    const token = await account(t, 'msa-1', 'market-supervision');
    const live = await connect(t.mqttUrl, { clientId: 'msa-1:ops', username: 'msa-1', password: token });
    const closed = closesWithin(live, 3000, 'the live session');
    const res = await t.api('POST', '/api/v1/accounts/msa-1/token');
    expect(res.status).toBe(201);
    await closed;
    live.end(true);
    expect(await refusal(connect(t.mqttUrl, { clientId: 'msa-1', username: 'msa-1', password: token }))).toBe(4);
    expect(await refusal(connect(t.mqttUrl, { clientId: 'msa-1', username: 'msa-1', password: res.body.token }))).toBe(0);
  });
});

describe('seeded device secrets', () => {
  it('MQTT-12 an operator-chosen seeded secret is stored salted and slow (scrypt), and logs in', async () => {
    const row = t.gw.db.prepare('SELECT secret_hash FROM devices WHERE id = ?').get('seeded-lift') as { secret_hash: string };
    expect(row.secret_hash).toMatch(/^scrypt:\d+:\d+:\d+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(row.secret_hash).not.toContain('flashed-into-the-firmware-1');
    expect(await refusal(connectDevice(t, 'seeded-lift', 'flashed-into-the-firmware-2'))).toBe(4);
    expect(await refusal(connectDevice(t, 'seeded-lift', 'flashed-into-the-firmware-1'))).toBe(0);
    // after one slow check, the next ones are one fast hash: answered synchronously
    const again = t.gw.registry.checkDevice('seeded-lift', 'flashed-into-the-firmware-1');
    expect(again).not.toBeInstanceOf(Promise);
    expect(again).toMatchObject({ ok: true });
    expect(t.gw.registry.checkDevice('seeded-lift', 'flashed-into-the-firmware-2')).toMatchObject({ ok: false, reason: 'bad_secret' });
    // the fast proof goes with the device's revocation
    const res = await t.api('POST', '/api/v1/devices/seeded-lift/secret');
    expect(res.status).toBe(201);
    expect(await Promise.resolve(t.gw.registry.checkDevice('seeded-lift', 'flashed-into-the-firmware-1'))).toMatchObject({ ok: false, reason: 'bad_secret' });
    expect(await refusal(connectDevice(t, 'seeded-lift', res.body.secret))).toBe(0);
  });

  it('scrypt hashes are salted, and a malformed stored hash never matches', async () => {
    const { hashChosenSecret, secretMatchesSlow } = await import('../registry/secrets.js');
    const a = hashChosenSecret('the-same-chosen-secret');
    const b = hashChosenSecret('the-same-chosen-secret');
    expect(a).not.toBe(b);
    expect(await secretMatchesSlow('the-same-chosen-secret', a)).toBe(true);
    expect(await secretMatchesSlow('the-same-chosen-secreT', a)).toBe(false);
    expect(await secretMatchesSlow('the-same-chosen-secret', 'scrypt:garbage')).toBe(false);
  });
});

describe('login slow-down', () => {
  let slow: TestGateway;
  const DELAY = 300;
  beforeAll(async () => {
    slow = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', limits: { loginFailuresBeforeDelay: 5, loginDelayMs: DELAY, loginMaxDelayMs: 600, loginMaxWaiting: 3 } } });
  });
  afterAll(async () => { await slow?.dispose(); });

  it('MQTT-7 50 parallel guesses from one address are held and mostly refused unseen; a right guess is not answered at once', async () => {
    const secret = await registerDevice(slow, { id: 'guessed', kind: 'elevator' });
    const neighbourSecret = await registerDevice(slow, { id: 'neighbour', kind: 'elevator' });
    // the free allowance of the username, and one more: it is now past it
    for (let i = 0; i < 5; i++) expect(await refusal(connectDevice(slow, 'guessed', `wrong-guess-${i}-wrong-guess`))).toBe(4);
    // the hold is counted from this last failure, so the clock starts before it is sent: nothing may
    // be answered sooner than DELAY after this instant, however slow the machine is in between
    const start = Date.now();
    expect(await refusal(connectDevice(slow, 'guessed', 'wrong-guess-5-wrong-guess'))).toBe(4);
    const evaluatedBefore = await refused(slow, 'bad_secret');
    const guesses = Array.from({ length: 50 }, (_, i) => (i === 49 ? secret : `parallel-guess-${i}-parallel`));
    const answers = guesses.map((password) => connectDevice(slow, 'guessed', password, { connectTimeout: 10_000 })
      .then(async (c) => { await c.endAsync(); return { code: 0, at: Date.now() - start }; }, (e) => ({ code: code(e), at: Date.now() - start })));
    // a different device from the same address is not held up by the guessing
    const neighbourStart = Date.now();
    const neighbour = await connectDevice(slow, 'neighbour', neighbourSecret);
    expect(Date.now() - neighbourStart).toBeLessThan(DELAY);
    await neighbour.endAsync();
    const results = await Promise.all(answers);
    // nothing, right or wrong, was evaluated and answered before the delay
    const early = results.filter((r) => r.at < DELAY - 20);
    expect(early.every((r) => r.code === 3), JSON.stringify(early)).toBe(true);
    expect(results.some((r) => r.code === 0 && r.at < DELAY - 20)).toBe(false);
    expect(results.filter((r) => r.at >= DELAY - 20).length).toBeGreaterThan(0);
    // only the few held attempts had their password checked; the rest were refused unseen
    const evaluated = (await refused(slow, 'bad_secret')) - evaluatedBefore + results.filter((r) => r.code === 0).length;
    expect(evaluated).toBeLessThanOrEqual(3);
    expect(results.filter((r) => r.code === 3).length).toBeGreaterThanOrEqual(47);
    expect(await refused(slow, 'login_throttled')).toBeGreaterThanOrEqual(47);
  });
});

describe('audit of refused logins', () => {
  let aud: TestGateway;
  beforeAll(async () => { aud = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', limits: { loginFailuresBeforeDelay: 100 } } }); });
  afterAll(async () => { await aud?.dispose(); });

  it('MQTT-8 refused logins are audited, one row per address and reason per minute with a count, never with a secret', async () => {
    const secret = await registerDevice(aud, { id: 'aud-lift', kind: 'elevator' });
    const wrong = Array.from({ length: 10 }, (_, i) => `audited-wrong-secret-${i}-xyz`);
    for (const w of wrong) expect(await refusal(connectDevice(aud, 'aud-lift', w))).toBe(4);
    // a client that swapped its fields sends the secret as username: it must not end up in the audit
    expect(await refusal(connect(aud.mqttUrl, { clientId: 'x', username: secret, password: 'aud-lift' }))).toBe(4);
    const audit = (await aud.api('GET', '/api/v1/audit?limit=1000')).body as Array<{ actor: string; action: string; target: string; detail: Record<string, unknown> }>;
    const rows = audit.filter((r) => r.action === 'mqtt.login_refused');
    expect(rows.map((r) => r.detail.reason).sort()).toEqual(['bad_secret', 'unknown_user']);
    const bad = rows.find((r) => r.detail.reason === 'bad_secret')!;
    expect(bad).toMatchObject({ target: 'address:127.0.0.1', detail: { count: 1, usernames: ['aud-lift'] } });
    const text = JSON.stringify(audit);
    for (const s of [...wrong, secret]) expect(text.includes(s), 'a secret is in the audit log').toBe(false);
    // the rest are counted in the row written at the end of the minute, or at shutdown
    await aud.stop();
    const db = openDatabase(aud.dataDir, 'gateway.sqlite');
    try {
      const stored = (db.prepare("SELECT detail FROM audit_log WHERE action = 'mqtt.login_refused' ORDER BY id").all() as Array<{ detail: string }>).map((r) => JSON.parse(r.detail) as { reason: string; count: number });
      expect(stored.filter((d) => d.reason === 'bad_secret').map((d) => d.count)).toEqual([1, 9]);
      expect(stored.filter((d) => d.reason === 'unknown_user').map((d) => d.count)).toEqual([1]);
      const all = JSON.stringify(db.prepare('SELECT * FROM audit_log').all());
      for (const s of [...wrong, secret]) expect(all.includes(s)).toBe(false);
    } finally {
      db.close();
    }
  });
});

describe('device client certificates', () => {
  let dir: string;
  const file = (name: string) => join(dir, name);
  const pem = (name: string) => readFileSync(file(name));
  /** A P-256 key and certificate; signed by the test CA unless `selfSigned`. */
  const cert = (name: string, cn: string, opts: { san?: string; selfSigned?: boolean; ca?: boolean } = {}) => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${cn}`,
      ...(opts.ca || opts.selfSigned ? [] : ['-CA', file('ca.pem'), '-CAkey', file('ca.key')]),
      ...(opts.ca ? [] : ['-addext', 'basicConstraints=critical,CA:FALSE']),
      ...(opts.san ? ['-addext', `subjectAltName=${opts.san}`] : []),
      '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`)], { stdio: 'ignore' });
  };
  let req: TestGateway;
  let opt: TestGateway;
  let secret1: string;
  let optSecret1: string;
  let fireToken: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-'));
    cert('ca', 'Test Device CA', { ca: true });
    cert('server', 'localhost', { san: 'DNS:localhost,IP:127.0.0.1' });
    cert('dev-1', 'dev-1');
    cert('other', 'dev-other');
    cert('san', 'not-a-device', { san: 'DNS:dev-2,URI:dev-3' });
    cert('forged', 'dev-1', { selfSigned: true });
    const tls = { port: 0, certFile: file('server.pem'), keyFile: file('server.key'), caFile: file('ca.pem') };
    req = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', tls: { ...tls, clientCerts: 'required' } } });
    opt = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', tls: { ...tls, clientCerts: 'optional' } } });
    secret1 = await registerDevice(req, { id: 'dev-1', kind: 'smoke_detector' });
    for (const id of ['dev-2', 'dev-3', 'dev-other']) await registerDevice(req, { id, kind: 'smoke_detector' });
    optSecret1 = await registerDevice(opt, { id: 'dev-1', kind: 'smoke_detector' });
    fireToken = await account(req, 'fire-tls', 'fire-service');
  });
  afterAll(async () => {
    await req?.dispose();
    await opt?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const over = (g: TestGateway, id: string, opts: { cert?: string; password?: string; username?: string }) => {
    const o: IClientOptions = { clientId: id, username: opts.username ?? id, ca: pem('ca.pem'), servername: 'localhost', connectTimeout: 5000 };
    if (opts.password !== undefined) o.password = opts.password;
    if (opts.cert) { o.cert = pem(`${opts.cert}.pem`); o.key = pem(`${opts.cert}.key`); }
    return refusal(connect(`mqtts://127.0.0.1:${g.gw.ports().mqtts}`, o));
  };

  it('MQTT-9 a device with a verified certificate naming it (CN, DNS or URI SAN) logs in without a password', async () => {
    expect(await over(req, 'dev-1', { cert: 'dev-1' })).toBe(0);
    expect(await over(req, 'dev-2', { cert: 'san' })).toBe(0);
    expect(await over(req, 'dev-3', { cert: 'san' })).toBe(0);
    expect(await over(opt, 'dev-1', { cert: 'dev-1' })).toBe(0);
  });

  it('MQTT-10 a verified certificate of another device is refused (5), even with the right password', async () => {
    const before = await refused(req, 'cert_mismatch');
    expect(await over(req, 'dev-1', { cert: 'other', password: secret1 })).toBe(5);
    expect(await over(req, 'dev-1', { cert: 'san', password: secret1 })).toBe(5);
    expect(await refused(req, 'cert_mismatch')).toBe(before + 2);
  });

  it('MQTT-11 with `required`, a device without a verified certificate is refused (5); accounts log in with their token', async () => {
    const before = await refused(req, 'cert_required');
    expect(await over(req, 'dev-1', { password: secret1 })).toBe(5);
    expect(await over(req, 'dev-1', { cert: 'forged', password: secret1 })).toBe(5);
    expect(await refused(req, 'cert_required')).toBe(before + 2);
    // wrong password: "bad credentials" as anywhere, so the certificate rule reveals no device id
    expect(await over(req, 'dev-1', { password: 'not-the-secret-not-the-secret' })).toBe(4);
    expect(await over(req, 'fire-tls', { password: fireToken })).toBe(0);
    expect(await over(req, 'fire-tls:desk', { username: 'fire-tls', password: fireToken })).toBe(0);
  });

  it('MQTT-11b with `optional`, an unverified certificate counts for nothing: the password is still needed', async () => {
    expect(await over(opt, 'dev-1', { cert: 'forged' })).toBe(4);
    expect(await over(opt, 'dev-1', { cert: 'forged', password: optSecret1 })).toBe(0);
    expect(await over(opt, 'dev-1', { password: optSecret1 })).toBe(0);
    expect(await over(opt, 'dev-1', {})).toBe(4);
  });
});
