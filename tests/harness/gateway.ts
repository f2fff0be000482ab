/**
 * Starts a real gateway (the same composition root as `npm start`) on ephemeral ports with a temp
 * data directory, and gives tests small helpers for the HTTP API and real mqtt.js clients.
 *
 * In the vitest project `postgres` (TEST_STORE=postgres) every gateway runs in cluster mode: on
 * PostgreSQL instead of SQLite, on a database of its own on the run's private server
 * (postgres-global.ts), and with a private Redis for its MQTT sessions and fan-out: the same suites
 * prove both modes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import pg from 'pg';
import { inject } from 'vitest';
import { startRedis, type RedisHandle } from './redis.js';
import { loadConfig } from '../../gateway/config.js';
import { startGateway, type Gateway, type GatewayOptions } from '../../gateway/app.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

export interface TestGateway {
  gw: Gateway;
  dataDir: string;
  mqttUrl: string;
  httpUrl: string;
  api<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Stops the gateway; the data directory stays for a restart. */
  stop(): Promise<void>;
  /** Starts a new gateway process-equivalent on the same data directory and the same ports. */
  restart(): Promise<void>;
  /** Stops and removes the data directory. */
  dispose(): Promise<void>;
}

/**
 * `opts` (e.g. a ManualClock for the alert rules) is passed to every start, restarts included.
 * `harness.apiFrom`: the loopback address `api` calls come from (a gateway that expects a PROXY
 * header from 127.0.0.1 serves calls from another address directly).
 */
export async function startTestGateway(overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}, opts: GatewayOptions = {}, harness: { apiFrom?: string } = {}): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gw-test-'));
  const database = onPostgres() ? await createTestDatabase() : undefined;
  // cluster mode whole: a Redis of its own for each gateway (Redis pub/sub is one namespace for all its databases)
  const redis: RedisHandle | undefined = database ? await startRedis() : undefined;
  const base = {
    dataDir, adminToken: ADMIN_TOKEN, logLevel: process.env.TEST_LOG_LEVEL ?? 'silent', mqtt: { port: 0, host: '127.0.0.1' }, http: { port: 0, host: '127.0.0.1' },
    ...(database && redis ? { cluster: { databaseUrl: database.url, redisUrl: redis.url } } : {}),
  };
  let config = loadConfig(env, { ...base, ...overrides });
  let gw = await startGateway(config, opts);
  // kept so a restart after stop() comes back on the same ports (clients reconnect to the same URL)
  const ports = gw.ports();
  const t: TestGateway = {
    gw, dataDir,
    mqttUrl: `mqtt://127.0.0.1:${gw.ports().mqtt}`,
    httpUrl: `http://127.0.0.1:${gw.ports().http}`,
    async api(method, path, body, token = ADMIN_TOKEN) {
      const headers = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) };
      const payload = body === undefined ? undefined : JSON.stringify(body);
      if (harness.apiFrom) {
        const res = await requestFrom(harness.apiFrom, t.httpUrl + path, method, headers, payload);
        return { status: res.status, body: res.text ? JSON.parse(res.text) : undefined };
      }
      const res = await fetch(t.httpUrl + path, { method, headers, ...(payload === undefined ? {} : { body: payload }) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    async stop() { await gw.close(); },
    async restart() {
      config = loadConfig(env, { ...base, ...overrides, mqtt: { ...(overrides.mqtt as object), port: ports.mqtt, host: '127.0.0.1' }, http: { port: ports.http, host: '127.0.0.1' } });
      gw = await startGateway(config, opts);
      t.gw = gw;
    },
    async dispose() {
      await gw.close();
      rmSync(dataDir, { recursive: true, force: true });
      await database?.drop();
      await redis?.stop();
    },
  };
  return t;
}

/** An HTTP request from a chosen local address (fetch cannot choose one). */
export function requestFrom(localAddress: string, url: string, method = 'GET', headers: Record<string, string> = {}, body?: string): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Whether this run's gateways store on PostgreSQL (the `postgres` vitest project). */
export function onPostgres(): boolean {
  return process.env.TEST_STORE === 'postgres';
}

let databases = 0;

/** A fresh database on the run's PostgreSQL server, dropped by `drop`. */
async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const serverUrl = inject('postgresUrl');
  const name = `gw_${process.pid}_${++databases}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try { await admin.query(`CREATE DATABASE ${name}`); } finally { await admin.end(); }
  const url = serverUrl.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try { await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } finally { await c.end(); }
    },
  };
}

/** Registers a site (if needed) and a device over the API; returns its secret. */
export async function registerDevice(t: TestGateway, device: { id: string; kind: string; siteId?: string; companyId?: string; [k: string]: unknown }): Promise<string> {
  const siteId = device.siteId ?? 'site-1';
  const site = await t.api('GET', `/api/v1/sites/${siteId}`);
  if (site.status === 404) {
    const created = await t.api('POST', '/api/v1/sites', { id: siteId, name: `小区 ${siteId}`, companyId: device.companyId ?? 'company-1' });
    if (created.status !== 201) throw new Error(`site create failed: ${JSON.stringify(created.body)}`);
  }
  const { companyId: _c, ...body } = device;
  const res = await t.api('POST', '/api/v1/devices', { ...body, siteId });
  if (res.status !== 201) throw new Error(`device create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.secret as string;
}

/** Connects a real mqtt.js client; rejects with the CONNACK error when the broker refuses. */
export function connect(url: string, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => { client.end(true); reject(err); });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

export async function connectDevice(t: TestGateway, id: string, secret: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return connect(t.mqttUrl, { clientId: id, username: id, password: secret, ...opts });
}

/** Publishes at QoS 1 and resolves on PUBACK. */
export function publish(client: MqttClient, topic: string, payload: string | Buffer | object, qos: 0 | 1 = 1): Promise<void> {
  const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
  return new Promise((resolve, reject) => client.publish(topic, body, { qos }, (err) => (err ? reject(err) : resolve())));
}

export async function waitFor<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) { last = err; }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}
