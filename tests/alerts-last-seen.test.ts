/**
 * One last-seen time per device: presence keeps it (on the alert clock), the API shows it, and the
 * offline rule reads it, also after a restart (the rules keep no copy of their own).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { NORMAL, addDevice, startAlertGateway, telemetry, type ManualClock } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';

const MIN = 60_000;
let t: TestGateway;
let clock: ManualClock;

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway());
});
afterAll(async () => {
  await t.dispose();
});

it('the API and the offline rule show the same last-seen time, on the alert clock, across a restart', async () => {
  const d = await addDevice(t, 'elevator');
  await telemetry(d, NORMAL.elevator!);
  const firstSeen = clock.now();
  clock.advance(3 * MIN);
  await telemetry(d, NORMAL.elevator!);
  const seenAt = clock.now();
  expect((await t.api('GET', `/api/v1/devices/${d.id}`)).body.lastSeenAt).toBe(seenAt);
  // counted from the second reading, not the first
  clock.advance(5 * MIN - 1000);
  expect((await logged(t, d.id, 'device.offline'))).toEqual([]);
  expect(seenAt - firstSeen).toBe(3 * MIN);

  await d.client.endAsync();
  await t.stop();
  await t.restart();
  const restartedAt = clock.now();
  expect((await t.api('GET', `/api/v1/devices/${d.id}`)).body.lastSeenAt).toBe(seenAt);
  // silence while the gateway was down is not the device's: counted from the restart
  clock.advance(5 * MIN - 1000);
  expect((await logged(t, d.id, 'device.offline'))).toEqual([]);
  clock.advance(1000);
  const raised = (await logged(t, d.id, 'device.offline'));
  expect(raised.map((m) => m.event)).toEqual(['raised', 'raised']);
  expect(raised[0]!.alert).toMatchObject({ openedAt: restartedAt + 5 * MIN, details: { lastSeenAt: seenAt, offlineAfterMs: 5 * MIN } });
});
