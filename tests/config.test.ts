/** Settings: defaults, environment and file sources, and every problem reported at once. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../gateway/config.js';

describe('loadConfig', () => {
  it('has a default for everything', () => {
    const c = loadConfig({});
    expect(c.mqtt.port).toBe(1883);
    expect(c.http.port).toBe(8080);
    expect(c.dataDir).toBe('./data');
    expect(c.influx.url).toBeUndefined();
    expect(c.timeseries.batchSize).toBe(5000);
    expect(Object.isFrozen(c.mqtt)).toBe(true);
  });

  it('reads the environment over the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'gateway.json');
    writeFileSync(file, JSON.stringify({ mqtt: { port: 2883 }, http: { port: 9090 }, timeseries: { retentionDays: 7 } }));
    const c = loadConfig({ CONFIG_FILE: file, HTTP_PORT: '9191', INFLUX_URL: 'http://localhost:8086', INFLUX_DATABASE: 'lifts' });
    expect(c.mqtt.port).toBe(2883);
    expect(c.http.port).toBe(9191);
    expect(c.timeseries.retentionDays).toBe(7);
    expect(c.influx).toMatchObject({ url: 'http://localhost:8086', database: 'lifts', version: '1' });
  });

  it('reports every problem at once, each with its path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'gateway.json');
    writeFileSync(file, JSON.stringify({ ingest: { maxPayloadBytes: 1 }, seed: { devices: [{ id: 'a/b', kind: 'toaster', siteId: 's1' }] } }));
    let error: unknown;
    try {
      loadConfig({ CONFIG_FILE: file, MQTT_PORT: 'abc', HTTP_PORT: '70000', INFLUX_URL: 'not a url', ADMIN_TOKEN: 'short' });
    } catch (err) { error = err; }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/MQTT_PORT: expected a number/);
    expect(problems).toMatch(/http\.port/);
    expect(problems).toMatch(/influx\.url/);
    expect(problems).toMatch(/adminToken/);
    expect(problems).toMatch(/ingest\.maxPayloadBytes/);
    expect(problems).toMatch(/seed\.devices\.0\.id/);
    expect(problems).toMatch(/seed\.devices\.0\.kind/);
  });

  it('reports an unreadable config file clearly', () => {
    expect(() => loadConfig({ CONFIG_FILE: '/nonexistent/gateway.json' })).toThrow(/CONFIG_FILE \/nonexistent\/gateway.json/);
  });

  it('wants TLS certificate and key together', () => {
    expect(() => loadConfig({ MQTT_TLS_CERT: '/tmp/cert.pem' })).toThrow(/certFile and keyFile/);
  });

  it('has safe MQTT defaults: no client certificates, small packets and few pending sockets before login', () => {
    const c = loadConfig({});
    expect(c.mqtt.tls.clientCerts).toBe('off');
    expect(c.mqtt.maxConnectPacketBytes).toBe(16 * 1024);
    expect(c.mqtt.limits).toMatchObject({ maxPendingPerAddress: 128, loginQueueTimeoutMs: 25_000, loginFailuresBeforeDelay: 5, addressLoginFailuresBeforeDelay: 100, loginMaxWaiting: 4 });
  });

  it('wants a CA to check device certificates against', () => {
    let error: unknown;
    try {
      loadConfig({}, { mqtt: { tls: { certFile: '/tmp/c.pem', keyFile: '/tmp/k.pem', clientCerts: 'required' } } });
    } catch (err) { error = err; }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join('\n')).toMatch(/^mqtt\.tls\.caFile: /m);
    expect(() => loadConfig({}, { mqtt: { tls: { clientCerts: 'sometimes' } } })).toThrow(/mqtt\.tls\.clientCerts/);
  });

  it('wants seeded account tokens of at least 32 characters (they are bearer tokens behind a fast hash)', () => {
    const seed = (token: string) => ({ seed: { accounts: [{ id: 'ops', role: 'admin', token }] } });
    let error: unknown;
    try { loadConfig({}, seed('sixteen-chars-ok-but-not-32')); } catch (err) { error = err; }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join('\n')).toMatch(/^seed\.accounts\.0\.token: .*32/m);
    expect(loadConfig({}, seed('a-seeded-account-token-of-32-chars!')).seed.accounts[0]!.token).toHaveLength(35);
  });

  it('accepts a precomputed scrypt hash for a seeded device secret', () => {
    const seed = (secretHash: string) => ({ seed: { sites: [{ id: 's', name: 'S', companyId: 'c' }], devices: [{ id: 'd', kind: 'elevator', siteId: 's', secretHash }] } });
    const hash = 'scrypt:32768:8:1:c2FsdHNhbHRzYWx0c2FsdA==:' + Buffer.alloc(32, 1).toString('base64');
    expect(loadConfig({}, seed(hash)).seed.devices[0]!.secretHash).toBe(hash);
    expect(() => loadConfig({}, seed('md5:0123'))).toThrow(/seed\.devices\.0\.secretHash/);
  });
});
