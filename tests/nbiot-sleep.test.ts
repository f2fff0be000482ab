/**
 * A sleeping NB-IoT smoke alarm is not offline before its heartbeat is due: the platform's "online"
 * counts as heard from, and the smoke detectors' offline timeout (25 h) runs from the last thing the
 * device sent, reading or heartbeat. Checked on the manual clock at the instant the alert would come.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../alerts/index.js';
import { OneNetPush, encodeGwSmokeFrame } from '../simulators/nbiot/platforms.js';
import { registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';

const TOKEN = 'sleep-test-token-0123';
const IMEI = '861234567890123';
const HOUR = 3_600_000;

let t: TestGateway;
let clock: ManualClock;
let push: OneNetPush;

const offline = async () => (await t.api('GET', '/api/v1/alerts?deviceId=nb-sleepy&type=device.offline')).body.items as unknown[];

beforeAll(async () => {
  // readings are checked against the wall clock (ingest.maxPastMs), the rules run on this one: start them together
  clock = new ManualClock(Date.now());
  t = await startTestGateway({ protocols: { nbiot: { onenet: { main: { token: TOKEN } } } }, alerts: { schedules: { runAtStart: false } } }, {}, { clock });
  await registerDevice(t, { id: 'nb-sleepy', kind: 'smoke_detector', imei: IMEI, model: 'gw-smoke-v1' });
  push = new OneNetPush({ url: `${t.httpUrl}/api/v1/ingest/onenet/main`, token: TOKEN, dialect: 'legacy', retryDelaysMs: [] });
});
afterAll(async () => { await t.dispose(); });

describe('a sleeping NB-IoT smoke alarm', () => {
  it('is not offline while its heartbeats come, and is once one is missed', async () => {
    const reading = encodeGwSmokeFrame({ status: 'reading', smoke: 0.2, temperature: 21, battery: 90 }).toString('hex');
    expect((await push.pushReading(IMEI, reading)).status).toBe(200);
    expect(t.gw.presence.get('nb-sleepy')?.lastSeenAt).toBe(clock.now());

    // 20 h later the platform says it is online (its periodic attach): a heartbeat, nothing stored
    clock.advance(20 * HOUR);
    expect((await push.pushLifecycle(IMEI, true)).status).toBe(200);
    const heardAt = clock.now();
    expect(t.gw.presence.get('nb-sleepy')?.lastSeenAt).toBe(heardAt);

    // 25 h after the reading, when it would be offline had the heartbeat not counted: it is not
    clock.advance(5 * HOUR);
    expect(await offline()).toEqual([]);
    // 1 ms before 25 h after the heartbeat: still not
    clock.set(heardAt + 25 * HOUR - 1);
    expect(await offline()).toEqual([]);
    // at 25 h after the heartbeat: offline
    clock.set(heardAt + 25 * HOUR);
    const raised = await offline();
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ type: 'device.offline', deviceId: 'nb-sleepy' });
  });
});
