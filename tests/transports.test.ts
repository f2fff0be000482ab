/** MQTT over WebSocket on the HTTP port, MQTT over TLS with a certificate the test generates, and the API docs. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { selfSignedLocalhost } from './harness/certs.js';
import { connect, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { sampleTelemetry } from '../simulators/samples.js';

let t: TestGateway;
let certDir: string;
let secret: string;
beforeAll(async () => {
  const cert = selfSignedLocalhost('tls-');
  certDir = cert.dir;
  t = await startTestGateway({ mqtt: { port: 0, host: '127.0.0.1', tls: { port: 0, certFile: cert.certFile, keyFile: cert.keyFile } } });
  secret = await registerDevice(t, { id: 'sd-1', kind: 'smoke_detector' });
});
afterAll(async () => {
  await t?.dispose();
  rmSync(certDir, { recursive: true, force: true });
});

it('accepts MQTT over WebSocket at /mqtt on the HTTP port', async () => {
  const c = await connect(`ws://127.0.0.1:${t.gw.ports().http}/mqtt`, { clientId: 'sd-1', username: 'sd-1', password: secret });
  await publish(c, 'devices/sd-1/telemetry', { ...sampleTelemetry('smoke_detector', 1) });
  await c.endAsync();
  await waitFor(async () => (await t.api('GET', '/api/v1/devices/sd-1/telemetry?from=0')).body.count === 1);
});

it('accepts MQTT over TLS with the configured certificate, and still checks credentials', async () => {
  const port = t.gw.ports().mqtts!;
  expect(port).toBeGreaterThan(0);
  const ca = readFileSync(join(certDir, 'cert.pem'));
  const c = await connect(`mqtts://127.0.0.1:${port}`, { clientId: 'sd-1', username: 'sd-1', password: secret, ca, servername: 'localhost' });
  await publish(c, 'devices/sd-1/telemetry', { ...sampleTelemetry('smoke_detector', 2) });
  await c.endAsync();
  await waitFor(async () => (await t.api('GET', '/api/v1/devices/sd-1/telemetry?from=0')).body.count === 2);
  const refused = await connect(`mqtts://127.0.0.1:${port}`, { clientId: 'sd-1', username: 'sd-1', password: 'not-the-secret-at-all', ca, servername: 'localhost' }).catch((e) => e);
  expect(refused.code).toBe(4);
  // a client that does not trust the certificate does not get in
  const untrusted = await connect(`mqtts://127.0.0.1:${port}`, { clientId: 'sd-1', username: 'sd-1', password: secret }).catch((e) => e);
  expect(String(untrusted)).toMatch(/self.signed|certificate/i);
});

it('serves the OpenAPI document with the documented routes', async () => {
  const doc = await fetch(`${t.httpUrl}/api/v1/openapi.json`).then((r) => r.json());
  for (const path of ['/api/v1/sites', '/api/v1/devices', '/api/v1/devices/{id}', '/api/v1/devices/{id}/telemetry', '/api/v1/dead-letters', '/api/v1/accounts']) {
    expect(Object.keys(doc.paths), path).toContain(path);
  }
  const ui = await fetch(`${t.httpUrl}/docs/`);
  expect(ui.status).toBe(200);
});
