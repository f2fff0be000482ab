/**
 * A fire panel reporting a second detector (point) in an alarming zone confirms the fire at once;
 * the same point alarming again does not.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AlertWatcher, addDevice, event, startAlertGateway } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';

let t: TestGateway;
let watcher: AlertWatcher;
beforeAll(async () => {
  ({ t } = await startAlertGateway());
  watcher = await AlertWatcher.start(t);
});
afterAll(async () => {
  await watcher.close();
  await t.dispose();
});

it('confirms a zone fire alarm on a second point, not on a repeat of the first', async () => {
  const panel = await addDevice(t, 'fire_panel');
  const property = `property/${panel.companyId}`;
  await event(panel, { type: 'fire_alarm', zone: 'Z3', point: '3-12' });
  await watcher.waitFor(panel.id, 'fire.alarm', 'raised', [property]);
  await event(panel, { type: 'fire_alarm', zone: 'Z3', point: '3-12' });
  // the PUBACK comes after the rules ran: the repeat's effect is already in the queue log.
  // Unconfirmed: the property company verifies first, the fire service does not hear of it yet.
  const afterRepeat = (await logged(t, panel.id, 'fire.alarm'));
  expect(afterRepeat.filter((m) => m.queue === 'fire-service')).toEqual([]);
  expect(afterRepeat.at(-1)!.alert.confirmation).toBe('unconfirmed');
  expect(afterRepeat.at(-1)!.alert.count).toBe(2);

  await event(panel, { type: 'fire_alarm', zone: 'Z3', point: '3-14' });
  const raised = await watcher.waitFor(panel.id, 'fire.alarm', 'raised', ['fire-service']);
  const toFire = raised.find((m) => m.queue === 'fire-service');
  expect(toFire!.alert.confirmation).toBe('confirmed');
  expect(toFire!.alert.severity).toBe('critical');
  const alert = (await t.api('GET', `/api/v1/alerts/${toFire!.alert.id}`)).body;
  expect(alert.details.confirmedBy).toMatchObject({ by: 'second_point', points: ['3-12', '3-14'] });
  await panel.client.endAsync();
});
