/**
 * The HTTP side of the security contract, against the real gateway: authentication decided by the
 * route that matched whatever the spelling of the URL, server timeouts, open streams per account,
 * revocation ending open streams, HTTPS / WSS, the API docs' headers, and failed API logins in the
 * audit log. Request lines that fetch() would normalise are sent on raw sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { request as httpsRequest } from 'node:https';
import { chromium } from 'playwright-core';
import { ADMIN_TOKEN, connect, connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { selfSignedLocalhost } from './harness/certs.js';
import { ConfigError, loadConfig } from '../gateway/config.js';
import { buildHttp } from '../gateway/http/server.js';
import type { HttpDeps } from '../gateway/http/deps.js';
import { createLogger } from '../core/log.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let t: TestGateway;
let port: number;
const sockets: Socket[] = [];

// small timeouts so that the tests see them act; the streams must outlive all of them
const HTTP = { port: 0, host: '127.0.0.1', requestTimeoutMs: 1000, headersTimeoutMs: 1000, idleTimeoutMs: 1000, streamsPerAccount: 3 };

beforeAll(async () => {
  t = await startTestGateway({ http: HTTP, alerts: { schedules: { runAtStart: false } } });
  port = t.gw.ports().http;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await t?.dispose();
});

// ---- helpers ----

interface RawResponse { status: number; headers: Record<string, string>; body: string; socket: Socket }

/**
 * Sends `text` as is on a new connection. Resolves when the response has ended, or, with
 * `untilHead`, as soon as its status line and headers are in (a stream); status 0 = no response
 * within `ms`.
 */
function raw(text: string, opts: { untilHead?: boolean; ms?: number; from?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: '127.0.0.1', ...(opts.from ? { localAddress: opts.from } : {}) }, () => socket.write(text));
    sockets.push(socket);
    let data = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return resolve({ status: 0, headers: {}, body: data, socket });
      const [line, ...lines] = data.slice(0, end).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) { const i = l.indexOf(':'); headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim(); }
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(line!)?.[1] ?? 0), headers, body: data.slice(end + 4), socket });
    };
    const timer = setTimeout(finish, opts.ms ?? 3000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (opts.untilHead && data.includes('\r\n\r\n')) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => { /* a reset is an answer too */ });
  });
}

const requestText = (method: string, target: string, opts: { token?: string; body?: string; close?: boolean } = {}) =>
  `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${opts.token ? `Authorization: Bearer ${opts.token}\r\n` : ''}`
  + `${opts.body === undefined ? '' : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(opts.body)}\r\n`}`
  + `${opts.close === false ? '' : 'Connection: close\r\n'}\r\n${opts.body ?? ''}`;

const codeOf = (r: RawResponse) => { try { return JSON.parse(r.body).error?.code; } catch { return undefined; } };

interface Stream { status: number; code?: string; text(): string; ended(): boolean; close(): void }

/** Opens an event stream with fetch() and keeps reading it in the background. */
async function openStream(path: string, token: string): Promise<Stream> {
  const ac = new AbortController();
  const res = await fetch(t.httpUrl + path, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  if (res.status !== 200) {
    const body = await res.json() as { error?: { code?: string } };
    return { status: res.status, code: body.error?.code, text: () => '', ended: () => true, close: () => {} };
  }
  let buf = '';
  let ended = false;
  const decoder = new TextDecoder();
  const reader = res.body!.getReader();
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
      }
    } catch { /* cut off, or closed by us */ }
    ended = true;
  })();
  // the stream is open once its first frame (`retry`, `hello`) is in
  await waitFor(() => buf.length > 0 || ended);
  return { status: 200, text: () => buf, ended: () => ended, close: () => ac.abort() };
}

async function account(id: string, role: string, scope?: string): Promise<string> {
  const res = await t.api('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) });
  expect(res.status).toBe(201);
  return res.body.token as string;
}

let lifts = 0;
/** A new elevator of company co-a presses its alarm button: a new alert in co-a's scope. */
async function raiseAlert(): Promise<string> {
  const id = `lift-${++lifts}`;
  const secret = await registerDevice(t, { id, kind: 'elevator', siteId: 'site-a', companyId: 'co-a', maintenanceUnitId: 'unit-a' });
  const c = await connectDevice(t, id, secret);
  await publish(c, `devices/${id}/events`, { type: 'alarm_button' });
  await c.endAsync();
  return id;
}
const heard = (s: Stream, deviceId: string) => s.text().includes(`"deviceId":"${deviceId}"`);

function httpsGet(url: string, ca: Buffer, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// ---- authentication by route ----

describe('API authentication is decided by the route that matched, not by the spelling of the URL', () => {
  it('every spelling that reaches an API route without a token gets 401; the others 404; none reaches a handler', async () => {
    const targets = [
      '/api/v1/me', '/%61pi/v1/me', '/api/v1/%6De', '/%61%70%69/%76%31/%6D%65', '/api/%761/me', '/api/v1/me?x=1', '/api/v1/me#x',
      // absolute-form request lines
      'http://x/api/v1/me', `http://127.0.0.1:${port}/%61pi/v1/me`, 'http://x//api/v1/me',
      // double slashes, case variants, trailing dots, dot segments, encoded slashes
      '//api/v1/me', '/api//v1/me', '/api/v1//me', '/API/v1/me', '/Api/V1/Me', '/api/v1/ME', '/api/v1/me.', '/api/v1./me', '/api./v1/me',
      '/api/v1/me%2e', '/api/v1/me/', '/api/v1/./me', '/api/v1/../v1/me', '/x/../api/v1/me', '/api%2fv1/me', '/api/v1/me;x',
    ];
    const reached: string[] = [];
    for (const target of targets) {
      const withToken = await raw(requestText('GET', target, { token: ADMIN_TOKEN }));
      const without = await raw(requestText('GET', target));
      const wrongToken = await raw(requestText('GET', target, { token: 'not-a-token-of-anyone-0123456789' }));
      if (withToken.status === 200) {
        reached.push(target);
        expect(without.status, target).toBe(401);
        expect(codeOf(without), target).toBe('GW_UNAUTHORIZED');
        expect(wrongToken.status, target).toBe(401);
      } else {
        expect(withToken.status, target).toBe(404);
        expect(without.status, target).toBe(404);
        expect(codeOf(without), target).toBe('GW_NOT_FOUND');
      }
    }
    // the spellings of the finding do reach the route, so their 401 is the authentication's doing
    expect(reached).toEqual(expect.arrayContaining(['/api/v1/me', '/%61pi/v1/me', '/api/v1/%6De', 'http://x/api/v1/me', `http://127.0.0.1:${port}/%61pi/v1/me`]));
  });

  it('HEAD and writes under another spelling are refused too, before anything is written', async () => {
    expect((await raw(requestText('HEAD', '/%61pi/v1/me'))).status).toBe(401);
    const body = JSON.stringify({ id: 'site-spoofed', name: 'x', companyId: 'co-x' });
    for (const target of ['/%61pi/v1/sites', 'http://x/api/v1/sites']) {
      const res = await raw(requestText('POST', target, { body }));
      expect(res.status, target).toBe(401);
      expect(codeOf(res), target).toBe('GW_UNAUTHORIZED');
    }
    expect((await t.api('GET', '/api/v1/sites/site-spoofed')).status).toBe(404);
  });

  it('unauthenticated console streams under other spellings register nothing: a real console still opens and hears alerts', async () => {
    const spoofed = await Promise.all(Array.from({ length: 200 }, (_, i) =>
      raw(requestText('GET', i % 2 === 0 ? '/%61pi/v1/console/stream' : 'http://x/api/v1/console/stream', { close: false }), { untilHead: true })));
    expect(spoofed.map((r) => r.status)).toEqual(Array(200).fill(401));
    const real = await openStream('/api/v1/console/stream', ADMIN_TOKEN);
    expect(real.status).toBe(200);
    const id = await raiseAlert();
    await waitFor(() => heard(real, id));
    real.close();
    for (const r of spoofed) r.socket.destroy();
  });

  it('without a principal an API route refuses before its handler, and any handler refuses when it reads the caller (a route marked public by mistake, one outside /api/v1)', async () => {
    const deps = {
      log: createLogger('silent'), metrics: {}, registry: {}, presence: {}, deadLetters: {}, writer: {},
      audit: { record: () => {} }, auth: { principalForToken: () => undefined }, ready: () => [],
      extraRoutes: [async (api: import('fastify').FastifyInstance) => {
        // marked public, yet reads the principal: it must not get past that read
        api.get('/probe-public', { config: { public: true } } as never, async (req) => ({ principal: req.principal ?? 'none' }));
        api.get('/probe-silent', async () => ({ ran: true }));
      }],
    } as unknown as HttpDeps;
    const app = await buildHttp(deps);
    app.get('/outside', async (req) => ({ principal: req.principal ?? 'none' }));
    try {
      for (const url of ['/api/v1/probe-public', '/outside']) {
        const res = await app.inject({ method: 'GET', url });
        expect(res.statusCode, url).toBe(401);
        expect(res.json().error.code, url).toBe('GW_UNAUTHORIZED');
      }
      for (const url of ['/api/v1/probe-silent', '/%61pi/v1/probe-silent', 'http://x/api/v1/probe-silent']) {
        const res = await app.inject({ method: 'GET', url });
        expect(res.statusCode, url).toBe(401);
      }
      // what is public by design stays public
      expect((await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

// ---- timeouts ----

describe('server timeouts', () => {
  it('a client that sends its headers and then dribbles the body is cut off after requestTimeoutMs; open streams and MQTT over WebSocket live on', async () => {
    const token = await account('slow-reader', 'property', 'co-a');
    const queue = await openStream('/api/v1/queues/property/co-a/stream', token);
    const console_ = await openStream('/api/v1/console/stream', token);
    expect([queue.status, console_.status]).toEqual([200, 200]);
    // no MQTT keep-alive pings: the connection is as quiet as it can be
    const ws = await connect(`ws://127.0.0.1:${port}/mqtt`, { clientId: 'slow-reader', username: 'slow-reader', password: token, keepalive: 0 });

    const started = Date.now();
    const socket = netConnect(port, '127.0.0.1');
    sockets.push(socket);
    let closedAt = 0;
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => { answer += c; });
    socket.on('close', () => { closedAt = Date.now(); });
    socket.on('error', () => {});
    socket.write(`POST /api/v1/sites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"id":"`);
    const dribble = setInterval(() => { if (!socket.destroyed) socket.write('a'); }, 100);
    try {
      await waitFor(() => closedAt > 0, 10_000);
    } finally {
      clearInterval(dribble);
    }
    expect(closedAt - started).toBeGreaterThanOrEqual(900);
    expect(closedAt - started).toBeLessThan(5_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);

    // these opened before the slow client, so the timeouts that cut it would have cut them by now
    expect([queue.ended(), console_.ended(), ws.connected]).toEqual([false, false, true]);
    expect((await ws.subscribeAsync('alerts/property/co-a', { qos: 1 }))[0]!.qos).toBe(1);
    const id = await raiseAlert();
    await waitFor(() => heard(queue, id) && heard(console_, id));
    queue.close();
    console_.close();
    await ws.endAsync();
  });

  it('a client that dribbles its headers is cut off after headersTimeoutMs', async () => {
    const started = Date.now();
    const socket = netConnect(port, '127.0.0.1');
    sockets.push(socket);
    let closedAt = 0;
    socket.on('close', () => { closedAt = Date.now(); });
    socket.on('error', () => {});
    socket.write('GET /api/v1/me HTTP/1.1\r\nHost: x\r\n');
    let n = 0;
    const dribble = setInterval(() => { if (!socket.destroyed) socket.write(`X-Slow-${n++}: y\r\n`); }, 100);
    try {
      await waitFor(() => closedAt > 0, 10_000);
    } finally {
      clearInterval(dribble);
    }
    expect(closedAt - started).toBeLessThan(5_000);
  });
});

// ---- open streams per account ----

describe('open streams per account', () => {
  it('an account may hold streamsPerAccount streams (console and queues together); past it 429, and other accounts are not affected', async () => {
    const a = await account('greedy', 'property', 'co-a');
    const b = await account('modest', 'property', 'co-a');
    const held = [
      await openStream('/api/v1/console/stream', a),
      await openStream('/api/v1/console/stream', a),
      await openStream('/api/v1/queues/property/co-a/stream', a),
    ];
    expect(held.map((s) => s.status)).toEqual([200, 200, 200]);
    for (const path of ['/api/v1/console/stream', '/api/v1/queues/property/co-a/stream']) {
      const refused = await openStream(path, a);
      expect(refused.status, path).toBe(429);
      expect(refused.code, path).toBe('GW_TOO_MANY_STREAMS');
    }
    const other = [await openStream('/api/v1/console/stream', b), await openStream('/api/v1/queues/property/co-a/stream', b)];
    expect(other.map((s) => s.status)).toEqual([200, 200]);

    // a stream closed gives its slot back
    held[0]!.close();
    const again = await waitFor(async () => {
      const s = await openStream('/api/v1/console/stream', a);
      return s.status === 200 ? s : undefined;
    });
    for (const s of [...held, ...other, again]) s.close();
  });
});

// ---- revocation ----

describe('revoking an account ends its open streams', () => {
  it('disabling an account ends its queue and console streams at once; its token is refused; others keep theirs', async () => {
    const token = await account('revoked-prop', 'property', 'co-a');
    const bystander = await openStream('/api/v1/console/stream', ADMIN_TOKEN);
    const queue = await openStream('/api/v1/queues/property/co-a/stream', token);
    const console_ = await openStream('/api/v1/console/stream', token);
    expect([queue.status, console_.status]).toEqual([200, 200]);

    expect((await t.api('PATCH', '/api/v1/accounts/revoked-prop', { disabled: true })).status).toBe(200);
    await waitFor(() => queue.ended() && console_.ended(), 5_000);
    expect(console_.text()).toContain('"reason":"revoked"');
    const me = await t.api('GET', '/api/v1/me', undefined, token);
    expect(me.status).toBe(401);
    expect(me.body.error.code).toBe('GW_UNAUTHORIZED');
    expect((await openStream('/api/v1/console/stream', token)).status).toBe(401);

    // the bootstrap admin's stream was not touched
    const id = await raiseAlert();
    await waitFor(() => heard(bystander, id));
    bystander.close();
  });

  it('rotating a token ends the streams opened with the old one; the old token is refused, the new one works', async () => {
    const token = await account('rotated-maint', 'maintenance', 'unit-a');
    const queue = await openStream('/api/v1/queues/maintenance/unit-a/stream', token);
    const console_ = await openStream('/api/v1/console/stream', token);
    expect([queue.status, console_.status]).toEqual([200, 200]);

    const rotated = await t.api('POST', '/api/v1/accounts/rotated-maint/token');
    expect(rotated.status).toBe(201);
    await waitFor(() => queue.ended() && console_.ended(), 5_000);
    expect((await t.api('GET', '/api/v1/me', undefined, token)).status).toBe(401);
    expect((await t.api('GET', '/api/v1/me', undefined, rotated.body.token)).body).toMatchObject({ id: 'rotated-maint' });
  });
});

// ---- the API docs ----

describe('the API docs', () => {
  it('are served with a strict Content-Security-Policy and the usual hardening headers', async () => {
    for (const path of ['/docs', '/docs/', '/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/json']) {
      const res = await fetch(t.httpUrl + path, { redirect: 'manual' });
      expect(res.status, path).toBeLessThan(400);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toContain("object-src 'none'");
      expect(csp, path).not.toContain('unsafe-inline');
      expect(csp, path).not.toContain('unsafe-eval');
      expect(csp, path).not.toContain('https:');
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
    }
  });

  it('still work in a browser under that policy', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
      await page.goto(`${t.httpUrl}/docs/`);
      // the operations are rendered from the OpenAPI document
      await page.waitForSelector('.swagger-ui .opblock-summary-path[data-path="/api/v1/me"]', { timeout: 20_000 });
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

// ---- failed API logins in the audit log ----

describe('failed API logins are audited without flooding the audit log', () => {
  it('a flood of wrong tokens from one address leaves one row, with a count and without the token', async () => {
    const badToken = 'guessed-token-ZZZZ-0123456789abcdef';
    // from an address of its own (any 127.x reaches the loopback), so that no other test's failures count
    const from = '127.0.0.2';
    for (let i = 0; i < 30; i++) expect((await raw(requestText('GET', '/api/v1/me', { token: `${badToken}${i}` }), { from })).status).toBe(401);
    // no token at all is not a login attempt
    expect((await raw(requestText('GET', '/api/v1/me'), { from })).status).toBe(401);
    const rows = (await t.api('GET', `/api/v1/audit?target=address:${from}&limit=1000`)).body as Array<{ action: string; actor: string; detail: { failures: number } }>;
    expect(rows.map((r) => r.action)).toEqual(['auth.failed']);
    expect(rows[0]!.detail.failures).toBe(1);
    const all = JSON.stringify((await t.api('GET', '/api/v1/audit?limit=1000')).body);
    expect(all).not.toContain(badToken);
  });

  it('writes at most one row per address and window, carrying the failures since the previous row', async () => {
    const { AuthFailureAudit } = await import('../gateway/http/auth-failures.js');
    const rows: Array<{ target: string; detail: { failures: number; since: number } }> = [];
    let now = 1_000_000;
    const audit = new AuthFailureAudit({ record: (_actor: string, _action: string, target: string, detail: unknown) => { rows.push({ target, detail: detail as { failures: number; since: number } }); } },
      { windowMs: 60_000, maxAddresses: 2, now: () => now, timer: false });
    audit.failed('10.0.0.1');
    for (let i = 0; i < 9; i++) { now += 1000; audit.failed('10.0.0.1'); }
    expect(rows).toEqual([{ target: 'address:10.0.0.1', detail: expect.objectContaining({ failures: 1 }) }]);
    // the window has passed: the next failure writes the nine held back and itself
    now = 1_000_000 + 60_000;
    audit.failed('10.0.0.1');
    expect(rows.at(-1)).toEqual({ target: 'address:10.0.0.1', detail: expect.objectContaining({ failures: 10 }) });
    // held-back failures are written by the periodic flush once the window has passed, not before
    now += 1000;
    audit.failed('10.0.0.1');
    audit.flush();
    expect(rows).toHaveLength(2);
    now += 60_000;
    audit.flush();
    expect(rows.at(-1)).toEqual({ target: 'address:10.0.0.1', detail: expect.objectContaining({ failures: 1 }) });
    // the addresses tracked are bounded: past the cap they share one row
    audit.failed('10.0.0.2');
    audit.failed('10.0.0.3');
    audit.failed('10.0.0.4');
    expect(rows.slice(-2).map((r) => r.target)).toEqual(['address:10.0.0.2', 'address:other']);
    audit.close();
  });
});

// ---- settings ----

describe('HTTP settings', () => {
  it('have defaults, and the TLS certificate and key go together', () => {
    const c = loadConfig({});
    expect(c.http).toMatchObject({ requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 72_000, idleTimeoutMs: 120_000, streamsPerAccount: 10 });
    expect(c.http.tls.certFile).toBeUndefined();
    expect(() => loadConfig({ HTTP_TLS_CERT: '/tmp/cert.pem' })).toThrow(ConfigError);
    expect(() => loadConfig({ HTTP_TLS_KEY: '/tmp/key.pem' })).toThrow(/http\.tls/);
    expect(loadConfig({ HTTP_TLS_CERT: '/tmp/cert.pem', HTTP_TLS_KEY: '/tmp/key.pem' }).http.tls).toEqual({ certFile: '/tmp/cert.pem', keyFile: '/tmp/key.pem' });
  });
});

// ---- HTTPS ----

describe('HTTPS', () => {
  let tls: TestGateway;
  let certDir: string;
  let ca: Buffer;
  beforeAll(async () => {
    const cert = selfSignedLocalhost('https-');
    certDir = cert.dir;
    ca = readFileSync(cert.certFile);
    tls = await startTestGateway({
      http: { port: 0, host: '127.0.0.1', tls: { certFile: cert.certFile, keyFile: cert.keyFile } },
      seed: { accounts: [{ id: 'tls-agency', role: 'fire-service', token: 'tls-agency-token-0123456789abcdef0123456789' }] },
    });
  });
  afterAll(async () => {
    await tls?.dispose();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('serves the API over https with the configured certificate, and nothing in clear', async () => {
    const httpPort = tls.gw.ports().http;
    const me = await httpsGet(`https://localhost:${httpPort}/api/v1/me`, ca, ADMIN_TOKEN);
    expect(me.status).toBe(200);
    expect(JSON.parse(me.body)).toMatchObject({ id: 'admin', role: 'admin' });
    expect((await httpsGet(`https://localhost:${httpPort}/api/v1/me`, ca, 'wrong-token-0123456789abcdef')).status).toBe(401);
    await expect(fetch(`http://127.0.0.1:${httpPort}/api/v1/me`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).rejects.toThrow();
  });

  it('accepts MQTT over wss at /mqtt on the same port', async () => {
    const httpPort = tls.gw.ports().http;
    const c = await connect(`wss://localhost:${httpPort}/mqtt`, { clientId: 'tls-agency', username: 'tls-agency', password: 'tls-agency-token-0123456789abcdef0123456789', ca });
    expect(c.connected).toBe(true);
    await c.endAsync();
    // a client that does not trust the certificate does not get in
    const untrusted = await connect(`wss://localhost:${httpPort}/mqtt`, { clientId: 'tls-agency', username: 'tls-agency', password: 'tls-agency-token-0123456789abcdef0123456789' }).catch((e) => e);
    expect(String(untrusted)).toMatch(/self.signed|certificate/i);
  });
});
