/**
 * The gateway's start and stop account for their time step by step (at city scale both take seconds
 * while devices wait to reconnect), and the stop ends every device session. Aedes' session close runs
 * with stack traces off (broker.ts `withoutStackTraces`): they are on again once it returns.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectDevice, registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';

let t: TestGateway;
beforeAll(async () => { t = await startTestGateway(); });
afterAll(async () => { await t?.dispose(); });

it('reports the steps of its start and stop, and the stop ends every session with stack traces on again after it', async () => {
  expect(Object.keys(t.gw.startup.steps)).toEqual(['store', 'registry', 'presence', 'timeseries', 'alerts', 'rules', 'supervision', 'notifications', 'protocols_and_cluster', 'http', 'ports']);
  expect(t.gw.startup.totalMs).toBeGreaterThanOrEqual(Object.values(t.gw.startup.steps).reduce((a, b) => a + b, 0) - 11);
  const ids = ['stop-1', 'stop-2', 'stop-3'];
  const devices = [];
  for (const id of ids) devices.push(await connectDevice(t, id, await registerDevice(t, { id, kind: 'smoke_detector' })));
  const closed = devices.map((d) => new Promise<void>((resolve) => d.stream.once('close', () => resolve())));
  const limit = Error.stackTraceLimit;
  const took = await t.gw.close();
  expect(Error.stackTraceLimit).toBe(limit);
  expect(Object.keys(took!.steps)).toEqual(['protocols', 'presence_early', 'broker', 'alerts', 'http', 'presence', 'timeseries', 'store']);
  await Promise.all(closed);
  for (const d of devices) d.end(true);
  // a second close has nothing left to do
  expect(await t.gw.close()).toBeUndefined();
});
