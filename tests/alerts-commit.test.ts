/**
 * An alert change is seen only once it is stored. A trigger makes one write of a change fail, so
 * its transaction rolls back; right after (the device's PUBACK, or the API's answer), the API, the
 * ledger's memory and the rules must still see the alert as the store holds it, and no queue
 * message and no change event may have gone out. A committed change is announced exactly once,
 * with the queue messages it appended.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addDevice, event, startAlertGateway, type TestDevice } from './harness/alerts.js';
import type { TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';
import type { AlertChange } from '../alerts/index.js';

let t: TestGateway;
const changes: AlertChange[] = [];
const devices: TestDevice[] = [];

beforeAll(async () => {
  ({ t } = await startAlertGateway());
  t.gw.alerts.onChange((c) => changes.push(c));
});
afterEach(() => {
  for (const name of ['fail_write']) t.gw.db.exec(`DROP TRIGGER IF EXISTS ${name}`);
});
afterAll(async () => {
  for (const d of devices) await d.client.endAsync();
  await t.dispose();
});

/** Makes the statements that match fail (RAISE in a trigger), until the test ends. */
function failWrites(on: string, when: string): void {
  t.gw.db.exec(`CREATE TRIGGER fail_write BEFORE ${on} WHEN ${when} BEGIN SELECT RAISE(ABORT, 'injected write failure'); END`);
}
const stopFailing = () => t.gw.db.exec('DROP TRIGGER fail_write');

async function device(kind: string, opts: Parameters<typeof addDevice>[2] = {}): Promise<TestDevice> {
  const d = await addDevice(t, kind, opts);
  devices.push(d);
  return d;
}

const alertsOf = async (deviceId: string) => (await t.api('GET', `/api/v1/alerts?deviceId=${deviceId}`)).body.items as Array<{ id: number; state: string; count: number; confirmation: string | null }>;
const of = (deviceId: string) => changes.filter((c) => c.alert.deviceId === deviceId);

describe('a change whose commit fails', () => {
  it('an action: the API, the ledger and the rules still see the stored state; nothing is sent or announced', async () => {
    const d = await device('elevator');
    await event(d, { type: 'alarm_button' });
    const [raised] = of(d.id);
    const id = raised!.alert.id;
    expect((await t.api('POST', `/api/v1/alerts/${id}/acknowledge`, { note: 'on our way' })).status).toBe(200);
    const sent = (await logged(t, d.id));
    const announced = of(d.id).length;

    failWrites('UPDATE ON alerts', `NEW.id = ${id} AND NEW.state = 'resolved'`);
    const refused = await t.api('POST', `/api/v1/alerts/${id}/resolve`, { note: 'fixed' });
    expect(refused.status).toBe(500);
    expect(refused.body.error.code).toBe('GW_INTERNAL');

    const shown = (await t.api('GET', `/api/v1/alerts/${id}`)).body;
    expect(shown).toMatchObject({ state: 'acknowledged', resolvedAt: null, count: 1 });
    expect(shown.history.map((h: { action: string }) => h.action)).toEqual(['raised', 'acknowledged']);
    const { ledger } = t.gw.alerts;
    expect(ledger.get(id)).toMatchObject({ state: 'acknowledged', resolvedAt: null });
    expect(ledger.findActive(d.id, 'elevator.alarm_button', '')).toMatchObject({ id, state: 'acknowledged' });
    expect((await logged(t, d.id))).toEqual(sent);
    expect(of(d.id)).toHaveLength(announced);

    // the rules: the button again repeats the alert as stored, not as the failed change left it
    await event(d, { type: 'alarm_button' });
    expect((await t.api('GET', `/api/v1/alerts/${id}`)).body).toMatchObject({ state: 'acknowledged', count: 2, resolvedAt: null });
    const repeat = of(d.id).at(-1)!;
    expect(repeat).toMatchObject({ kind: 'updated', reason: 'repeated', alert: { count: 2, state: 'acknowledged' }, previous: { count: 1, state: 'acknowledged' } });

    stopFailing();
    expect((await t.api('POST', `/api/v1/alerts/${id}/resolve`, { note: 'fixed' })).status).toBe(200);
    expect(of(d.id).at(-1)).toMatchObject({ kind: 'resolved', actor: 'admin', note: 'fixed', alert: { state: 'resolved' }, previous: { state: 'acknowledged' } });
  });

  it('closing an alert: it stays active for the rules, so the condition repeats it instead of opening a second one', async () => {
    const d = await device('smoke_detector');
    await event(d, { type: 'alarm' });
    const [alarm] = await alertsOf(d.id);
    expect(alarm).toMatchObject({ state: 'open', confirmation: 'unconfirmed' });
    const sent = (await logged(t, d.id));

    failWrites('UPDATE ON alerts', `NEW.id = ${alarm!.id} AND NEW.state = 'closed'`);
    expect((await t.api('POST', `/api/v1/alerts/${alarm!.id}/dismiss`, { note: 'cooking' })).status).toBe(500);
    expect(t.gw.alerts.ledger.findActive(d.id, 'fire.alarm', '')).toMatchObject({ id: alarm!.id, state: 'open' });

    await event(d, { type: 'alarm' });
    const after = await alertsOf(d.id);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: alarm!.id, state: 'open', count: 2, confirmation: 'unconfirmed' });
    expect((await logged(t, d.id)).map((m) => m.event)).toEqual([...sent.map((m) => m.event), 'updated']);
  });

  it('opening an alert: no alert is left behind, and the next occurrence opens it afresh', async () => {
    const d = await device('elevator');
    failWrites('INSERT ON alert_queue', `json_extract(NEW.payload, '$.alert.deviceId') = '${d.id}'`);
    await event(d, { type: 'alarm_button' });
    expect(await alertsOf(d.id)).toEqual([]);
    expect(t.gw.alerts.ledger.findActive(d.id, 'elevator.alarm_button', '')).toBeUndefined();
    expect((await logged(t, d.id))).toEqual([]);
    expect(of(d.id)).toEqual([]);

    stopFailing();
    await event(d, { type: 'alarm_button' });
    const [opened] = await alertsOf(d.id);
    expect(opened).toMatchObject({ state: 'open', count: 1 });
    expect((await logged(t, d.id)).map((m) => m.event)).toEqual(['raised', 'raised']);
    expect(of(d.id).map((c) => [c.kind, c.previous])).toEqual([['raised', null]]);
  });

  it('a fire alarm whose opening failed corroborates nothing: the next alarm on the site stays unconfirmed', async () => {
    const first = await device('smoke_detector');
    const second = await device('smoke_detector', { companyId: first.companyId, siteId: first.siteId });
    failWrites('INSERT ON alert_queue', `json_extract(NEW.payload, '$.alert.deviceId') = '${first.id}'`);
    await event(first, { type: 'alarm' });
    expect(await alertsOf(first.id)).toEqual([]);
    stopFailing();

    await event(second, { type: 'alarm' });
    const [alarm] = await alertsOf(second.id);
    expect(alarm).toMatchObject({ state: 'open', confirmation: 'unconfirmed' });
    expect((await logged(t, second.id)).map((m) => m.queue)).toEqual([`property/${first.companyId}`]);
  });
});

describe('a committed change', () => {
  it('is announced once, after the commit, with the queue messages it appended', async () => {
    const d = await device('elevator');
    let seenByListener: unknown;
    const off = t.gw.alerts.onChange((c) => {
      // the memory index has the change already when it is announced
      if (c.alert.deviceId === d.id) seenByListener = t.gw.alerts.ledger.get(c.alert.id);
    });
    await event(d, { type: 'fault', fault: 'trapped', levelled: true });
    off();
    const [raised, ...rest] = of(d.id);
    expect(rest).toEqual([]);
    expect(raised).toMatchObject({ kind: 'raised', previous: null, alert: { type: 'elevator.trapped', state: 'open' } });
    expect(seenByListener).toBe(raised!.alert);
    // one event for the change; the messages it appended are the ones in the queue log
    const messages = (await logged(t, d.id));
    expect(raised!.queues.map((q) => [q.queue, q.cursor, q.event]).sort()).toEqual(messages.map((m) => [m.queue, m.cursor, m.event]).sort());
    expect(messages.map((m) => m.queue).sort()).toEqual(['maintenance/' + d.unitId, 'market-supervision', `property/${d.companyId}`].sort());

    // copy-on-write: the next change is a new snapshot; the one announced before is left as it was
    expect((await t.api('POST', `/api/v1/alerts/${raised!.alert.id}/acknowledge`)).status).toBe(200);
    const acknowledged = of(d.id).at(-1)!;
    expect(acknowledged).toMatchObject({ kind: 'acknowledged', alert: { state: 'acknowledged' } });
    expect(acknowledged.previous).toBe(raised!.alert);
    expect(raised!.alert).toMatchObject({ state: 'open', acknowledgedAt: null });
    expect(t.gw.alerts.ledger.get(raised!.alert.id)).toBe(acknowledged.alert);
  });

  it('a staff confirmation of a fire alarm is one change: `updated` where it was, `raised` to the fire service', async () => {
    const d = await device('smoke_detector');
    await event(d, { type: 'alarm' });
    const [alarm] = await alertsOf(d.id);
    const before = of(d.id).length;
    expect((await t.api('POST', `/api/v1/alerts/${alarm!.id}/confirm`)).status).toBe(200);
    const [confirmed, ...rest] = of(d.id).slice(before);
    expect(rest).toEqual([]);
    expect(confirmed).toMatchObject({ kind: 'updated', reason: 'confirmed', actor: 'admin', alert: { confirmation: 'confirmed' }, previous: { confirmation: 'unconfirmed' } });
    expect(confirmed!.queues.map((q) => [q.queue, q.event])).toEqual([[`property/${d.companyId}`, 'updated'], ['fire-service', 'raised']]);
  });
});
