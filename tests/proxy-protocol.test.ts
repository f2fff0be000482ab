/**
 * The PROXY protocol on the MQTT and MQTT-over-TLS ports (gateway/broker/proxy-protocol.ts,
 * `mqtt.proxyProtocol: v1v2`).
 *
 * 1. The header parser against the spec (/usr/share/doc/haproxy/proxy-protocol.txt), and the settings.
 * 2. A real gateway behind a tiny proxy written here (a TCP server that writes a v1 or v2 header
 *    naming a chosen client address, then pipes), with real mqtt.js clients: the named address is the
 *    one the per-address guards count (connections per address, the login slow-down, the audit);
 *    a connection without a header, with a bad one, or from an untrusted address is closed, counted,
 *    and never reaches the broker; the bytes after the header in the same write are kept; TLS starts
 *    after the header.
 * 3. The real HAProxy running the shipped deploy/haproxy.cfg (send-proxy-v2) in front of that gateway.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../gateway/config.js';
import { ProxyProtocol, parseProxyHeader, readProxyHeaders, V1_MAX_BYTES, type ParsedHeader } from '../gateway/proxy-protocol.js';
import { connect, registerDevice, requestFrom, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { selfSignedLocalhost } from './harness/certs.js';
import { startHaproxy, type HaproxyHandle } from './harness/haproxy.js';

// --- headers -------------------------------------------------------------------------------------

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function ipv6Bytes(text: string): Buffer {
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

function v1(src: string, dst = src.includes(':') ? '2001:db8::1' : '10.0.0.1'): Buffer {
  return Buffer.from(`PROXY ${src.includes(':') ? 'TCP6' : 'TCP4'} ${src} ${dst} 40000 1883\r\n`, 'latin1');
}

/** A v2 header; `src` undefined: LOCAL with no address. The other fields can be forced to test refusals. */
function v2(src: string | undefined, o: { version?: number; command?: number; famProto?: number; length?: number; tlv?: Buffer } = {}): Buffer {
  const six = src?.includes(':');
  let addr = Buffer.alloc(0);
  if (src !== undefined) {
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(40000, 0);
    ports.writeUInt16BE(1883, 2);
    addr = six ? Buffer.concat([ipv6Bytes(src), ipv6Bytes('2001:db8::1'), ports]) : Buffer.concat([Buffer.from(src.split('.').map(Number)), Buffer.from([10, 0, 0, 1]), ports]);
  }
  const body = Buffer.concat([addr, o.tlv ?? Buffer.alloc(0)]);
  const head = Buffer.alloc(4);
  head[0] = ((o.version ?? 2) << 4) | (o.command ?? (src === undefined ? 0 : 1));
  head[1] = o.famProto ?? (src === undefined ? 0x00 : six ? 0x21 : 0x11);
  head.writeUInt16BE(o.length ?? body.length, 2);
  return Buffer.concat([SIG, head, body]);
}

const done = (length: number, address: string | undefined): ParsedHeader => ({ state: 'done', length, address });

describe('the PROXY header parser', () => {
  it('reads v1 TCP4, TCP6 (canonical, IPv4-mapped as IPv4) and UNKNOWN lines, and says where the header ends', () => {
    const tail = Buffer.from([0x10, 0x20]);
    const line = v1('203.0.113.7');
    expect(parseProxyHeader(Buffer.concat([line, tail]))).toEqual(done(line.length, '203.0.113.7'));
    const six = Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:7 2001:db8::1 40000 1883\r\n');
    expect(parseProxyHeader(six)).toEqual(done(six.length, '2001:db8::7'));
    const mapped = Buffer.from('PROXY TCP6 ::ffff:198.51.100.4 ::ffff:10.0.0.1 1 2\r\n');
    expect(parseProxyHeader(mapped)).toEqual(done(mapped.length, '198.51.100.4'));
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual(done(15, undefined));
    const longest = Buffer.from(`PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`);
    expect(longest.length).toBe(V1_MAX_BYTES);
    expect(parseProxyHeader(longest)).toEqual(done(V1_MAX_BYTES, undefined));
  });

  it('reads v2 PROXY over IPv4 and IPv6 (skipping TLVs), LOCAL, and the families that name no IP address', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x03, 1, 2, 3]);
    const four = v2('192.0.2.55', { tlv });
    expect(parseProxyHeader(Buffer.concat([four, Buffer.from('rest')]))).toEqual(done(16 + 12 + tlv.length, '192.0.2.55'));
    expect(parseProxyHeader(v2('2001:db8:0:0:1::9'))).toEqual(done(16 + 36, '2001:db8::1:0:0:9'));
    expect(parseProxyHeader(v2('::ffff:c000:201'))).toEqual(done(16 + 36, '192.0.2.1'));
    // LOCAL (a health check): any address block is skipped, the proxy's own address counts
    expect(parseProxyHeader(v2(undefined))).toEqual(done(16, undefined));
    expect(parseProxyHeader(v2('192.0.2.55', { command: 0 }))).toEqual(done(28, undefined));
    // PROXY with AF_UNSPEC or AF_UNIX: nothing that is an IP address
    expect(parseProxyHeader(v2(undefined, { command: 1 }))).toEqual(done(16, undefined));
    const unix = Buffer.concat([SIG, Buffer.from([0x21, 0x31, 0x00, 216]), Buffer.alloc(216)]);
    expect(parseProxyHeader(unix)).toEqual(done(232, undefined));
  });

  it('every prefix of a valid header is incomplete, never valid or invalid', () => {
    for (const header of [v1('203.0.113.7'), v1('2001:db8::7'), Buffer.from('PROXY UNKNOWN\r\n'), v2('192.0.2.55'), v2('2001:db8::9'), v2(undefined)]) {
      for (let n = 0; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n)), `${n} bytes of ${JSON.stringify(header.toString('latin1'))}`).toEqual({ state: 'incomplete' });
    }
  });

  it('refuses what is not exactly a header, as soon as the bytes show it', () => {
    const bad: Array<[string, Buffer]> = [
      ['an MQTT CONNECT', Buffer.from([0x10, 0x20, 0x00, 0x04])],
      ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01])],
      ['v1 misspelt', Buffer.from('PROXI TCP4')],
      ['v1 lower case', Buffer.from('proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n')],
      ['v1 TCP5', Buffer.from('PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n')],
      ['v1 TCP4 with IPv6', Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n')],
      ['v1 leading zero in an address', Buffer.from('PROXY TCP4 010.0.0.1 10.0.0.2 1 2\r\n')],
      ['v1 leading zero in a port', Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 01 2\r\n')],
      ['v1 port above 65535', Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 65536 2\r\n')],
      ['v1 two spaces', Buffer.from('PROXY TCP4  10.0.0.1 10.0.0.2 1 2\r\n')],
      ['v1 missing a field', Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 1\r\n')],
      ['v1 bare LF', Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 1 2\n')],
      ['v1 bare CR', Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 1 2\rX')],
      ['v1 binary', Buffer.from('PROXY TCP4 \u0000')],
      ['v1 without CRLF in 107 bytes', Buffer.from(`PROXY UNKNOWN ${'f'.repeat(100)}`)],
      ['v2 signature broken', Buffer.concat([SIG.subarray(0, 6), Buffer.from([0x00])])],
      ['v2 version 1', v2('192.0.2.1', { version: 1 }).subarray(0, 13)],
      ['v2 command 2', v2('192.0.2.1', { command: 2 })],
      ['v2 family 4', v2('192.0.2.1', { famProto: 0x41 })],
      ['v2 UDP', v2('192.0.2.1', { famProto: 0x12 })],
      ['v2 IPv4 block too short', v2(undefined, { command: 1, famProto: 0x11, length: 4, tlv: Buffer.alloc(4) })],
      ['v2 length 65535', v2('192.0.2.1', { length: 0xffff }).subarray(0, 16)],
      ['v2 length 521', v2('192.0.2.1', { length: 521 }).subarray(0, 16)],
    ];
    for (const [what, bytes] of bad) expect(parseProxyHeader(bytes).state, what).toBe('invalid');
    expect(parseProxyHeader(v2('192.0.2.1', { length: 520, tlv: Buffer.alloc(508) })).state).toBe('done');
  });

  it('hands the socket on with the bytes that came in the same read as the header', async () => {
    const refusals: string[] = [];
    const proxy = new ProxyProtocol({ trustedProxies: ['127.0.0.0/8'], timeoutMs: 2000, refused: (reason) => refusals.push(reason) });
    const header = v2('192.0.2.77');
    const payload = Buffer.from('the first bytes of MQTT');
    const got = new Promise<{ address: string; bytesRead: number; rest: Buffer }>((resolve) => {
      const server = net.createServer((socket) => proxy.accept(socket, (s, address) => {
        const bytesRead = s.bytesRead;
        s.once('readable', () => { resolve({ address, bytesRead, rest: s.read() as Buffer }); s.destroy(); server.close(); });
      })).listen(0, '127.0.0.1', () => {
        const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => c.end(Buffer.concat([header, payload])));
        c.on('error', () => undefined);
      });
    });
    const { address, bytesRead, rest } = await got;
    expect(address).toBe('192.0.2.77');
    // both came in one read: what the header parser read past the header is what the next reader gets
    expect(bytesRead).toBe(header.length + payload.length);
    expect(rest).toEqual(payload);
    expect(refusals).toEqual([]);
  });
});

describe('a connection reset before it was accepted', () => {
  it('is closed without being counted as a refusal (it has no address left to judge)', async () => {
    const refusals: string[] = [];
    const proxy = new ProxyProtocol({ trustedProxies: ['127.0.0.0/8'], timeoutMs: 2000, refused: (reason) => refusals.push(reason) });
    const addresses: Array<string | undefined> = [];
    const server = net.createServer((socket) => { addresses.push(socket.remoteAddress); proxy.accept(socket, () => undefined); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    let dir: string | undefined;
    try {
      const port = (server.address() as net.AddressInfo).port;
      // Another process connects and resets while this one does not accept: when this one does, the
      // connection is already gone (as a balancer's check on a loaded machine can be). This process
      // waits without turning its event loop until the other has reset (it writes a file then).
      dir = mkdtempSync(join(tmpdir(), 'gw-reset-'));
      const done = join(dir, 'reset');
      const child = spawn(process.execPath, ['-e', `const s = require('net').connect(${port}, '127.0.0.1', () => { s.resetAndDestroy(); setTimeout(() => require('fs').writeFileSync(${JSON.stringify(done)}, ''), 100); })`]);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const deadline = Date.now() + 20_000;
      while (!existsSync(done) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      expect(existsSync(done)).toBe(true);
      await exited;
      await waitFor(() => addresses.length === 1, 5000, 10);
      expect(addresses).toEqual([undefined]);
      expect(refusals).toEqual([]);
    } finally {
      server.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('settings', () => {
  const problems = (env: NodeJS.ProcessEnv, overrides: Record<string, unknown> = {}) => {
    try { loadConfig(env, overrides); return []; } catch (err) { return (err as ConfigError).problems; }
  };

  it('off by default; v1v2 needs trustedProxies, with no default, said in Chinese and English', () => {
    const config = loadConfig({});
    expect(config.mqtt.proxyProtocol).toBe('off');
    expect(config.mqtt.trustedProxies).toBeUndefined();
    for (const missing of [problems({ MQTT_PROXY_PROTOCOL: 'v1v2' }), problems({}, { mqtt: { proxyProtocol: 'v1v2', trustedProxies: [] } })]) {
      expect(missing).toHaveLength(1);
      expect(missing[0]).toMatch(/^mqtt\.trustedProxies: .*必须列出可信代理.* \/ required when mqtt\.proxyProtocol is v1v2.*MQTT_TRUSTED_PROXIES/);
    }
    expect(problems({ MQTT_PROXY_PROTOCOL: 'v2' })[0]).toMatch(/^mqtt\.proxyProtocol: /);
    // the HTTP port has its own switch and list, with the same rule
    expect(config.http.proxyProtocol).toBe('off');
    expect(problems({ HTTP_PROXY_PROTOCOL: 'v1v2' })).toEqual([expect.stringMatching(/^http\.trustedProxies: .*必须列出可信代理.*HTTP_TRUSTED_PROXIES/)]);
    expect(loadConfig({ HTTP_PROXY_PROTOCOL: 'v1v2', HTTP_TRUSTED_PROXIES: '172.28.0.10' }).http).toMatchObject({ proxyProtocol: 'v1v2', trustedProxies: ['172.28.0.10'] });
  });

  it('takes MQTT_TRUSTED_PROXIES as a comma-separated list of IPs and CIDR blocks, and names a bad entry', () => {
    const config = loadConfig({ MQTT_PROXY_PROTOCOL: 'v1v2', MQTT_TRUSTED_PROXIES: '10.0.0.5, 10.1.0.0/16,fd00::/8', MQTT_PROXY_HEADER_TIMEOUT_MS: '3000' });
    expect(config.mqtt.proxyProtocol).toBe('v1v2');
    expect(config.mqtt.trustedProxies).toEqual(['10.0.0.5', '10.1.0.0/16', 'fd00::/8']);
    expect(config.mqtt.proxyHeaderTimeoutMs).toBe(3000);
    const bad = problems({ MQTT_PROXY_PROTOCOL: 'v1v2', MQTT_TRUSTED_PROXIES: '10.0.0.5/33,haproxy' });
    expect(bad).toEqual([
      expect.stringMatching(/^mqtt\.trustedProxies\.0: "10\.0\.0\.5\/33" 不是 IP 地址或 CIDR 网段 \/ is not an IP address or CIDR block/),
      expect.stringMatching(/^mqtt\.trustedProxies\.1: "haproxy" 不是/),
    ]);
  });
});

// --- a real gateway behind a tiny proxy ------------------------------------------------------------

interface TinyProxy { port: number; close(): Promise<void> }
const proxies: TinyProxy[] = [];

/**
 * A TCP proxy to `target` that writes `header` first. `with-first-bytes`: it waits for the client's
 * first bytes and writes header and bytes in one write (the harder case: they reach the gateway in
 * one read); `header-first`: it writes the header as soon as it is connected.
 */
async function tinyProxy(target: number, header: Buffer, mode: 'with-first-bytes' | 'header-first' = 'with-first-bytes'): Promise<TinyProxy> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => { sockets.add(s); s.on('error', () => undefined); s.once('close', () => sockets.delete(s)); };
  const server = net.createServer((client) => {
    track(client);
    const up = net.connect(target, '127.0.0.1');
    track(up);
    client.once('close', () => up.destroy());
    up.once('close', () => client.destroy());
    if (mode === 'header-first') {
      up.write(header);
      client.pipe(up);
      up.pipe(client);
      return;
    }
    client.once('data', (first: Buffer) => {
      up.write(Buffer.concat([header, first]));
      client.pipe(up);
      up.pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy = {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  proxies.push(proxy);
  return proxy;
}

const code = (err: unknown) => (err as { code?: number }).code;
/** The CONNACK code of a login (0: accepted), or the error if the connection closed without one. */
const refusal = (p: Promise<MqttClient>) => p.then(async (c) => { await c.endAsync(); return 0; }, (err) => code(err) ?? (err as Error).message);

async function counter(t: TestGateway, series: string): Promise<number> {
  const { text } = await requestFrom(API_FROM, t.httpUrl + '/metrics');
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
const refused = (t: TestGateway, reason: string) => counter(t, `gateway_mqtt_connects_refused_total{reason="${reason}"}`);

interface AuditRow { action: string; target: string; detail: { reason: string; usernames: string[] } }
async function loginAudit(t: TestGateway): Promise<AuditRow[]> {
  return ((await t.api('GET', '/api/v1/audit?limit=1000')).body as AuditRow[]).filter((r) => r.action === 'mqtt.login_refused');
}

function connectPacket(id: string, secret: string): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, keepalive: 30, username: id, password: Buffer.from(secret) });
}

interface Raw { socket: net.Socket; received(): Buffer; closed: Promise<void> }
/** A raw TCP connection to the gateway; everything it receives is kept. */
function raw(port: number, localAddress?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) }, () => resolve({ socket, received: () => Buffer.concat(chunks), closed }));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('error', reject);
  });
}

/** Resolves when the socket closes; fails the test if that takes longer than `ms`. */
function closesWithin(closed: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([closed, new Promise<void>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} was not closed within ${ms} ms`)), ms); })]).finally(() => clearTimeout(timer));
}

/** The first packet the gateway sends back, once it has arrived. */
async function firstPacket(r: Raw): Promise<Buffer> {
  return waitFor(() => (r.received().length >= 4 ? r.received() : undefined), 5000, 10);
}

const LOGIN_DELAY = 10_000;
/** Where the harness's API calls come from: not a trusted proxy. */
const API_FROM = '127.0.0.2';
const NOTICE_PER_MINUTE = 3;
let t: TestGateway;
let certs: { dir: string; certFile: string; keyFile: string };
let mqttPort: number;
let tlsPort: number;

beforeAll(async () => {
  certs = selfSignedLocalhost('proxy-protocol-');
  t = await startTestGateway({
    mqtt: {
      port: 0, host: '127.0.0.1', proxyProtocol: 'v1v2', trustedProxies: ['127.0.0.1'], proxyHeaderTimeoutMs: 500,
      tls: { port: 0, certFile: certs.certFile, keyFile: certs.keyFile },
      limits: { maxConnectionsPerAddress: 2, addressLoginFailuresBeforeDelay: 2, loginFailuresBeforeDelay: 100, loginDelayMs: LOGIN_DELAY, loginMaxDelayMs: LOGIN_DELAY, loginMaxWaiting: 1 },
    },
    // the HTTP port too; the harness's own API calls come from 127.0.0.2, which is not a proxy: served directly
    http: { port: 0, host: '127.0.0.1', proxyProtocol: 'v1v2', trustedProxies: ['127.0.0.1'], proxyHeaderTimeoutMs: 500, publicNoticePerMinute: NOTICE_PER_MINUTE },
  }, {}, {}, { apiFrom: API_FROM });
  mqttPort = t.gw.ports().mqtt;
  tlsPort = t.gw.ports().mqtts!;
});

afterAll(async () => {
  for (const p of proxies.splice(0)) await p.close();
  await t?.dispose();
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

const via = (p: TinyProxy, id: string, password: string, opts: IClientOptions = {}) => connect(`mqtt://127.0.0.1:${p.port}`, { clientId: id, username: id, password, ...opts });

describe('a gateway with mqtt.proxyProtocol v1v2 behind a proxy', () => {
  it('counts connections per address by the address the header names, v1 and v2 alike', async () => {
    const secrets: Record<string, string> = {};
    for (const id of ['conn-1', 'conn-2', 'conn-3', 'conn-4', 'conn-5']) secrets[id] = await registerDevice(t, { id, kind: 'elevator' });
    const x1 = await tinyProxy(mqttPort, v1('203.0.113.10'));
    const x2 = await tinyProxy(mqttPort, v2('203.0.113.10'));
    const y = await tinyProxy(mqttPort, v2('2001:db8::10'));
    const open = [await via(x1, 'conn-1', secrets['conn-1']!), await via(x2, 'conn-2', secrets['conn-2']!)];
    // a third from 203.0.113.10 is over the limit of 2, whichever header version named it
    const before = await refused(t, 'too_many_connections');
    expect(await refusal(via(x1, 'conn-3', secrets['conn-3']!))).toBe('closed before CONNACK');
    expect(await refusal(via(x2, 'conn-3', secrets['conn-3']!))).toBe('closed before CONNACK');
    expect(await refused(t, 'too_many_connections')).toBe(before + 2);
    // another client behind the same proxy (all of them come from 127.0.0.1) has its own two
    open.push(await via(y, 'conn-3', secrets['conn-3']!), await via(y, 'conn-4', secrets['conn-4']!));
    expect(open.every((c) => c.connected)).toBe(true);
    for (const c of open) await c.endAsync();
    // the places are freed under the named address
    const again = await waitFor(() => via(x1, 'conn-5', secrets['conn-5']!).catch(() => undefined), 3000);
    await again.endAsync();
  });

  it('holds the logins of the address whose logins failed, not its neighbour\'s behind the same proxy, and audits that address', async () => {
    const secret = await registerDevice(t, { id: 'slow-lift', kind: 'elevator' });
    const x = await tinyProxy(mqttPort, v1('198.51.100.20'));
    const y = await tinyProxy(mqttPort, v2('198.51.100.21'));
    // three failures from 198.51.100.20: past its address allowance of 2
    for (let i = 0; i < 3; i++) expect(await refusal(via(x, 'slow-lift', `wrong-secret-${i}-wrong-secret`))).toBe(4);
    // its next attempt waits its turn (LOGIN_DELAY), the one after is refused unseen (loginMaxWaiting 1)
    const heldBefore = await counter(t, 'gateway_mqtt_logins_held_total');
    let heldSettled = false;
    let heldClient: MqttClient | undefined;
    const held = new Promise<void>((resolve) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${x.port}`, { clientId: 'slow-lift', username: 'slow-lift', password: secret, reconnectPeriod: 0, connectTimeout: 30_000 });
      heldClient = c;
      c.on('error', () => undefined);
      c.once('connect', () => { heldSettled = true; resolve(); });
      c.once('close', () => { heldSettled = true; resolve(); });
    });
    await waitFor(async () => (await counter(t, 'gateway_mqtt_logins_held_total')) === heldBefore + 1, 3000);
    const throttled = await refused(t, 'login_throttled');
    expect(await refusal(via(x, 'slow-lift', secret))).toBe(3);
    expect(await refused(t, 'login_throttled')).toBe(throttled + 1);
    // the neighbour's right secret is answered at once, while 198.51.100.20's attempt still waits
    expect(await refusal(via(y, 'slow-lift', secret))).toBe(0);
    expect(heldSettled).toBe(false);
    heldClient!.end(true);
    await held;
    // the audit names the client's address, never the proxy's
    const rows = (await loginAudit(t)).filter((r) => r.detail.usernames.includes('slow-lift'));
    expect(rows.map((r) => [r.target, r.detail.reason]).sort()).toEqual([['address:198.51.100.20', 'bad_secret'], ['address:198.51.100.20', 'login_throttled']]);
  });

  it('keeps the bytes after the header: a CONNECT in the same write, or after a header sent alone or in pieces', async () => {
    const secret = await registerDevice(t, { id: 'same-write', kind: 'elevator' });
    const connack = Buffer.from([0x20, 0x02, 0x00, 0x00]);
    // one write: header and CONNECT arrive together
    const one = await raw(mqttPort);
    one.socket.write(Buffer.concat([v2('192.0.2.30'), connectPacket('same-write', secret)]));
    expect(await firstPacket(one)).toEqual(connack);
    one.socket.destroy();
    await one.closed;
    // header in pieces, then the CONNECT
    const pieces = await raw(mqttPort);
    const header = v1('192.0.2.31');
    for (const part of [header.subarray(0, 3), header.subarray(3, 20), header.subarray(20)]) {
      await new Promise<void>((r) => pieces.socket.write(part, () => r()));
      await new Promise((r) => setTimeout(r, 20));
    }
    pieces.socket.write(connectPacket('same-write', secret));
    expect(await firstPacket(pieces)).toEqual(connack);
    pieces.socket.destroy();
    // mqtt.js behind the proxy in both modes
    for (const mode of ['with-first-bytes', 'header-first'] as const) {
      const p = await tinyProxy(mqttPort, v2('192.0.2.32'), mode);
      expect(await refusal(via(p, 'same-write', secret)), mode).toBe(0);
    }
  });

  it('takes the proxy\'s own address for a v2 LOCAL or a v1 UNKNOWN header', async () => {
    const secret = await registerDevice(t, { id: 'local-lift', kind: 'elevator' });
    const local = await tinyProxy(mqttPort, v2(undefined));
    const unknown = await tinyProxy(mqttPort, Buffer.from('PROXY UNKNOWN\r\n'));
    expect(await refusal(via(local, 'local-lift', secret))).toBe(0);
    expect(await refusal(via(unknown, 'local-lift', secret))).toBe(0);
    expect(await refusal(via(local, 'local-lift', 'not-the-secret-not-the-secret'))).toBe(4);
    const rows = (await loginAudit(t)).filter((r) => r.detail.usernames.includes('local-lift'));
    expect(rows.map((r) => r.target)).toEqual(['address:127.0.0.1']);
  });

  it('closes a connection from a trusted proxy that sends no header, counts it, and the broker never sees it', async () => {
    const secret = await registerDevice(t, { id: 'direct-lift', kind: 'elevator' });
    const before = await refused(t, 'proxy_header');
    // mqtt.js straight to the gateway: its CONNECT is not a PROXY header
    expect(await refusal(connect(t.mqttUrl, { clientId: 'direct-lift', username: 'direct-lift', password: secret }))).toBe('closed before CONNACK');
    expect(await refused(t, 'proxy_header')).toBe(before + 1);
    // nor over TLS (the ClientHello is not a header either)
    expect(await refusal(connect(`mqtts://127.0.0.1:${tlsPort}`, { clientId: 'direct-lift', username: 'direct-lift', password: secret, rejectUnauthorized: false }))).toMatch(/closed before CONNACK|socket disconnected|ECONNRESET/);
    expect(await refused(t, 'proxy_header')).toBe(before + 2);
  });

  it('closes a connection from an untrusted address unread, even with a valid header and CONNECT', async () => {
    const secret = await registerDevice(t, { id: 'spoofed-lift', kind: 'elevator' });
    const before = await refused(t, 'proxy_untrusted');
    for (const port of [mqttPort, tlsPort]) {
      // 127.0.0.2 is not in trustedProxies (['127.0.0.1'])
      const r = await raw(port, '127.0.0.2');
      r.socket.on('error', () => undefined);
      r.socket.write(Buffer.concat([v1('192.0.2.99'), connectPacket('spoofed-lift', secret)]));
      await closesWithin(r.closed, 3000, 'the untrusted connection');
      expect(r.received()).toEqual(Buffer.alloc(0));
    }
    expect(await refused(t, 'proxy_untrusted')).toBe(before + 2);
  });

  it('closes and counts a bad, oversized or truncated header; nothing after it reaches the broker', async () => {
    const secret = await registerDevice(t, { id: 'bad-header-lift', kind: 'elevator' });
    const login = connectPacket('bad-header-lift', secret);
    const cases: Array<{ what: string; bytes: Buffer; end?: boolean }> = [
      { what: 'v2 signature with one byte wrong', bytes: Buffer.concat([Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x55, 0x0a]), v2('192.0.2.40').subarray(12), login]) },
      { what: 'v1 signature misspelt', bytes: Buffer.concat([Buffer.from('PROXI TCP4 192.0.2.40 10.0.0.1 1 2\r\n'), login]) },
      { what: 'v2 version 1', bytes: Buffer.concat([v2('192.0.2.40', { version: 1 }), login]) },
      { what: 'v2 length 65535 (oversized)', bytes: Buffer.concat([v2('192.0.2.40', { length: 0xffff }), login]) },
      { what: 'v1 line without CRLF in 107 bytes', bytes: Buffer.concat([Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), login]) },
      { what: 'v1 address with a leading zero', bytes: Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.040 10.0.0.1 1 2\r\n'), login]) },
      { what: 'v2 truncated, then the proxy closes', bytes: v2('192.0.2.40').subarray(0, 20), end: true },
      { what: 'v1 truncated, then nothing (header timeout)', bytes: Buffer.from('PROXY TCP4 192.0.2.4') },
    ];
    const before = await refused(t, 'proxy_header');
    for (const c of cases) {
      const r = await raw(mqttPort);
      r.socket.on('error', () => undefined);
      if (c.end) r.socket.end(c.bytes);
      else r.socket.write(c.bytes);
      await closesWithin(r.closed, 3000, c.what);
      expect(r.received(), c.what).toEqual(Buffer.alloc(0));
    }
    expect(await refused(t, 'proxy_header')).toBe(before + cases.length);
    // and the device itself was never logged in by any of them
    expect((await t.api('GET', '/api/v1/devices/bad-header-lift')).body).toMatchObject({ online: false, lastSeenAt: null });
  });

  it('over TLS: the header comes before the handshake, which then works (also in the same write), and the named address counts', async () => {
    const secret = await registerDevice(t, { id: 'tls-lift', kind: 'elevator' });
    const tlsOpts: IClientOptions = { rejectUnauthorized: false, connectTimeout: 5000 };
    for (const mode of ['with-first-bytes', 'header-first'] as const) {
      const p = await tinyProxy(tlsPort, v2('192.0.2.60'), mode);
      expect(await refusal(connect(`mqtts://127.0.0.1:${p.port}`, { clientId: 'tls-lift', username: 'tls-lift', password: secret, ...tlsOpts })), mode).toBe(0);
    }
    const p = await tinyProxy(tlsPort, v1('192.0.2.61'));
    expect(await refusal(connect(`mqtts://127.0.0.1:${p.port}`, { clientId: 'tls-lift', username: 'tls-lift', password: 'not-the-secret-not-the-secret', ...tlsOpts }))).toBe(4);
    const rows = (await loginAudit(t)).filter((r) => r.detail.usernames.includes('tls-lift'));
    expect(rows.map((r) => r.target)).toEqual(['address:192.0.2.61']);
  });
});

/** A GET of a public notice through a proxy of ours (or directly from `localAddress`): the status only. */
function noticeStatus(port: number, localAddress?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/public/elevators/NO-SUCH-CODE', agent: false, headers: { accept: 'application/json' }, ...(localAddress ? { localAddress } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
  });
}

const httpRefused = (reason: string) => counter(t, `gateway_http_connections_refused_total{reason="${reason}"}`);

describe('the HTTP port with http.proxyProtocol v1v2', () => {
  it('limits the public notice per address the header names, not per proxy; a direct client keeps its own address', async () => {
    const httpPort = t.gw.ports().http;
    const a = await tinyProxy(httpPort, v2('198.51.100.21'));
    const b = await tinyProxy(httpPort, v1('198.51.100.22'));
    const statuses: number[] = [];
    for (let i = 0; i <= NOTICE_PER_MINUTE; i++) statuses.push(await noticeStatus(a.port));
    // unknown code: 404 while within the allowance, then 429 for that address only
    expect(statuses).toEqual([...Array<number>(NOTICE_PER_MINUTE).fill(404), 429]);
    expect(await noticeStatus(b.port)).toBe(404);
    expect(await noticeStatus(httpPort, '127.0.0.3')).toBe(404);
  });

  it('closes a trusted proxy\'s connection without a header, counted; the API still answers a direct client', async () => {
    const before = await httpRefused('proxy_header');
    const r = await raw(t.gw.ports().http);
    r.socket.write('GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await closesWithin(r.closed, 3000, 'a request without a header from the trusted proxy');
    expect(r.received().toString('latin1')).not.toMatch(/HTTP\/1\.1 200/);
    expect(await httpRefused('proxy_header')).toBe(before + 1);
    expect((await t.api('GET', '/api/v1/me')).status).toBe(200);
  });

  it('over HTTPS the header comes before the handshake, and the request carries the named address', async () => {
    const server = https.createServer({ cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile) }, (req, res) => res.end(req.socket.remoteAddress));
    readProxyHeaders(server, new ProxyProtocol({ trustedProxies: ['127.0.0.1'], timeoutMs: 2000, untrusted: 'direct', refused: () => undefined }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const p = await tinyProxy(port, v2('203.0.113.99'), 'header-first');
      const q = await tinyProxy(port, v1('203.0.113.98'));
      const get = (via: number, localAddress?: string) => new Promise<string>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port: via, path: '/', rejectUnauthorized: false, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => { body += d; });
          res.on('end', () => resolve(body));
        }).on('error', reject);
      });
      expect(await get(p.port)).toBe('203.0.113.99');
      // the ClientHello in the same write as the header
      expect(await get(q.port)).toBe('203.0.113.98');
      expect(await get(port, '127.0.0.4')).toBe('127.0.0.4');
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('through the real HAProxy with the shipped deploy/haproxy.cfg (send-proxy-v2)', () => {
  let hap: HaproxyHandle;
  beforeAll(async () => {
    hap = await startHaproxy({ backends: { mqtt: [mqttPort], http: [t.gw.ports().http], mqttTls: [tlsPort] } });
  });
  afterAll(async () => { await hap?.stop(); });

  it('the gateway sees the device\'s address, over MQTT and MQTT over TLS, and HAProxy\'s health checks still pass', async () => {
    expect(hap.config).toMatch(/server gateway-1 127\.0\.0\.1:\d+ check port \d+ send-proxy-v2/);
    // UP: the /readyz checks on the HTTP port carry a header too (`check-send-proxy`), which the gateway expects from HAProxy
    await waitFor(async () => {
      const servers = await hap.servers();
      return ['mqtt', 'mqtt-tls', 'http'].every((p) => servers.find((s) => s.proxy === p)?.status === 'UP');
    }, 15_000, 200);
    const secret = await registerDevice(t, { id: 'haproxy-lift', kind: 'elevator' });
    // the devices connect from 127.0.0.2; HAProxy reaches the gateway from 127.0.0.1 (the trusted proxy)
    const plain = (password: string) => new Promise<MqttClient>((resolve, reject) => {
      const c = new mqtt.MqttClient(() => net.connect({ port: hap.mqttPort, host: '127.0.0.1', localAddress: '127.0.0.2' }), { clientId: 'haproxy-lift', username: 'haproxy-lift', password, reconnectPeriod: 0, connectTimeout: 5000 });
      c.once('connect', () => resolve(c));
      c.once('error', (err) => { c.end(true); reject(err); });
      c.once('close', () => reject(new Error('closed before CONNACK')));
    });
    const secure = (password: string, clientId = 'haproxy-lift') => new Promise<MqttClient>((resolve, reject) => {
      const c = new mqtt.MqttClient(() => tls.connect({ socket: net.connect({ port: hap.mqttTlsPort!, host: '127.0.0.1', localAddress: '127.0.0.2' }), rejectUnauthorized: false }), { clientId, username: 'haproxy-lift', password, reconnectPeriod: 0, connectTimeout: 5000 });
      c.once('connect', () => resolve(c));
      c.once('error', (err) => { c.end(true); reject(err); });
      c.once('close', () => reject(new Error('closed before CONNACK')));
    });
    const headerRefusals = await refused(t, 'proxy_header');
    expect(await refusal(plain(secret))).toBe(0);
    expect(await refusal(secure(secret))).toBe(0);
    expect(await refusal(plain('not-the-secret-not-the-secret'))).toBe(4);
    // another refusal reason over TLS, so that its audit row is written at once (one per address and reason a minute)
    expect(await refusal(secure(secret, 'not-haproxy-lift'))).toBe(2);
    const rows = (await loginAudit(t)).filter((r) => r.detail.usernames.includes('haproxy-lift'));
    expect(rows.map((r) => [r.target, r.detail.reason]).sort()).toEqual([['address:127.0.0.2', 'bad_secret'], ['address:127.0.0.2', 'client_id_mismatch']]);
    expect(await refused(t, 'proxy_header')).toBe(headerRefusals);

    // the HTTP port: a resident's address, not HAProxy's, uses up the notice's allowance
    const httpRefusals = await httpRefused('proxy_header');
    const statuses: number[] = [];
    for (let i = 0; i <= NOTICE_PER_MINUTE; i++) statuses.push(await noticeStatus(hap.httpPort, '127.0.0.5'));
    expect(statuses).toEqual([...Array<number>(NOTICE_PER_MINUTE).fill(404), 429]);
    expect(await noticeStatus(hap.httpPort, '127.0.0.6')).toBe(404);
    expect(await httpRefused('proxy_header')).toBe(httpRefusals);
  });
});
