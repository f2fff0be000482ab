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
});
