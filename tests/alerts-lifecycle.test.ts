/**
 * The alert lifecycle and routing policies: repeats update the open alert, hysteresis and
 * auto-clear, the closed loop through the API (409 when the state does not allow an action, audit
 * entries), maintenance-mode suppression, and fire-alarm confirmation.
 *
 * "Nothing was sent" is read from the durable queue log (harness/queue-log.ts) at the moment it
 * would have been sent: a device's PUBACK comes after the rules ran, an API answer after the action
 * was committed, and the ManualClock runs due timers inside advance().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertWatcher, NORMAL, addDevice, event, startAlertGateway, telemetry, type ManualClock } from './harness/alerts.js';
import { waitFor, type TestGateway } from './harness/gateway.js';
import { logged } from './harness/queue-log.js';

let t: TestGateway;
let clock: ManualClock;
let watcher: AlertWatcher;

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway());
  watcher = await AlertWatcher.start(t);
});
afterAll(async () => {
  await watcher.close();
  await t.dispose();
});

async function alertsOf(deviceId: string, type?: string) {
  const res = await t.api('GET', `/api/v1/alerts?deviceId=${deviceId}${type ? `&type=${type}` : ''}`);
  expect(res.status).toBe(200);
  return res.body.items as Array<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('repeats and auto-clear', () => {
  it('a repeated condition updates the open alert (count) instead of opening a second', async () => {
    const d = await addDevice(t, 'elevator');
    for (let i = 0; i < 3; i++) await event(d, { type: 'alarm_button' });
    const queue = `property/${d.companyId}`;
    // the rules ran before each PUBACK: ledger and queue are final now
    const items = await alertsOf(d.id, 'elevator.alarm_button');
    expect(items).toHaveLength(1);
    expect(items[0]!.count).toBe(3);
    const inQueue = (await logged(t, d.id, 'elevator.alarm_button')).filter((m) => m.queue === queue);
    expect(inQueue.map((m) => m.event)).toEqual(['raised', 'updated', 'updated']);
    expect(inQueue.map((m) => m.alert.count)).toEqual([1, 2, 3]);
    // the same condition after someone acted still counts on the same alert
    expect((await t.api('POST', `/api/v1/alerts/${items[0]!.id}/acknowledge`, { note: 'on my way' })).status).toBe(200);
    await event(d, { type: 'alarm_button' });
    const again = await alertsOf(d.id, 'elevator.alarm_button');
    expect(again).toHaveLength(1);
    expect(again[0]!.count).toBe(4);
    // over MQTT: the last update (count 4) is the marker; everything before it on the queue came once, in order
    await waitFor(() => watcher.of(d.id, 'elevator.alarm_button').some((m) => m.queue === queue && m.alert.count === 4), 3000, 10);
    const msgs = watcher.of(d.id, 'elevator.alarm_button').filter((m) => m.queue === queue);
    expect(msgs.map((m) => [m.event, m.alert.count])).toEqual([['raised', 1], ['updated', 2], ['updated', 3], ['acknowledged', 3], ['updated', 4]]);
    await d.client.endAsync();
  });

  it('a threshold has hysteresis, and an untouched alert clears itself when its condition ends (kept in the ledger)', async () => {
    const d = await addDevice(t, 'smoke_detector');
    await telemetry(d, { ...NORMAL.smoke_detector, battery: 12 });
    const queue = `property/${d.companyId}`;
    await watcher.waitFor(d.id, 'smoke.low_battery', 'raised', [queue]);
    // between the threshold (20 %) and threshold + hysteresis (25 %): still low, nothing sent
    await telemetry(d, { ...NORMAL.smoke_detector, battery: 23 });
    expect((await logged(t, d.id, 'smoke.low_battery')).map((m) => m.event)).toEqual(['raised']);
    await telemetry(d, { ...NORMAL.smoke_detector, battery: 90 });
    const closed = await watcher.waitFor(d.id, 'smoke.low_battery', 'closed', [queue]);
    expect(closed[0]!.reason).toBe('condition_ended');
    expect(closed[0]!.alert.state).toBe('cleared');
    const items = await alertsOf(d.id, 'smoke.low_battery');
    expect(items).toHaveLength(1);
    expect(items[0]!.state).toBe('cleared');
    // the condition again: a new alert, since the old one is closed
    await telemetry(d, { ...NORMAL.smoke_detector, battery: 10 });
    expect((await alertsOf(d.id, 'smoke.low_battery')).map((a) => a.state)).toEqual(['open', 'cleared']);
    await d.client.endAsync();
  });
});

describe('lifecycle through the API', () => {
  it('open → acknowledged → dispatched → resolved → closed, with 409 for actions the state does not allow, history and audit', async () => {
    const d = await addDevice(t, 'water_pump');
    await telemetry(d, { ...NORMAL.water_pump, flooded: true });
    const queue = `property/${d.companyId}`;
    const [raised] = await watcher.waitFor(d.id, 'water.flooded', 'raised', [queue]);
    const id = raised!.alert.id;

    const early = await t.api('POST', `/api/v1/alerts/${id}/close`, { note: 'too soon' });
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('ALERT_INVALID_TRANSITION');
    expect(early.body.error.message).toMatch(/it is open/);

    const ack = await t.api('POST', `/api/v1/alerts/${id}/acknowledge`, { note: '值班人员已确认 / seen' });
    expect(ack.status).toBe(200);
    expect(ack.body.state).toBe('acknowledged');
    expect((await t.api('POST', `/api/v1/alerts/${id}/acknowledge`, {})).status).toBe(409);
    expect((await t.api('POST', `/api/v1/alerts/${id}/dispatch`, { note: 'plumber sent' })).body.state).toBe('dispatched');
    expect((await t.api('POST', `/api/v1/alerts/${id}/resolve`, { note: 'pump room drained' })).body.state).toBe('resolved');
    const closed = await t.api('POST', `/api/v1/alerts/${id}/close`, { note: 'checked on site (销号)' });
    expect(closed.status).toBe(200);
    expect(closed.body.state).toBe('closed');
    for (const action of ['acknowledge', 'dispatch', 'resolve', 'close']) {
      const res = await t.api('POST', `/api/v1/alerts/${id}/${action}`, { note: 'again' });
      expect(res.status, action).toBe(409);
      expect(res.body.error.message).toMatch(/closed/);
    }
    expect((await t.api('POST', `/api/v1/alerts/${id}/explode`, {})).status).toBe(400);
    expect((await t.api('POST', '/api/v1/alerts/999999/acknowledge', {})).status).toBe(404);

    const full = await t.api('GET', `/api/v1/alerts/${id}`);
    expect(full.body.history.map((h: { action: string }) => h.action)).toEqual(['raised', 'acknowledged', 'dispatched', 'resolved', 'closed']);
    expect(full.body.history[1]).toMatchObject({ actor: 'admin', note: '值班人员已确认 / seen' });
    expect(full.body.deadlines.acknowledgeBy).toBe(full.body.openedAt + 15 * 60_000);
    const audit = await t.api('GET', `/api/v1/audit?target=alert:${id}`);
    const done = audit.body.filter((a: { action: string }) => !a.action.endsWith('.refused')).reverse();
    expect(done.map((a: { action: string }) => a.action)).toEqual(['alert.acknowledge', 'alert.dispatch', 'alert.resolve', 'alert.close']);
    // the refused attempts are in the audit log too, with the code and the state that refused them
    const refused = audit.body.filter((a: { action: string }) => a.action.endsWith('.refused')).reverse();
    expect(refused.map((a: { action: string; detail: { code: string; state: string } }) => [a.action, a.detail.code, a.detail.state])).toEqual([
      ['alert.close.refused', 'ALERT_INVALID_TRANSITION', 'open'],
      ['alert.acknowledge.refused', 'ALERT_INVALID_TRANSITION', 'acknowledged'],
      ...['acknowledge', 'dispatch', 'resolve', 'close'].map((a) => [`alert.${a}.refused`, 'ALERT_INVALID_TRANSITION', 'closed']),
    ]);

    // the refused actions sent nothing: the queue holds exactly the five transitions, and MQTT
    // delivers them in that order ('closed' is the last, so once it is in, everything is)
    const transitions = ['raised', 'acknowledged', 'dispatched', 'resolved', 'closed'];
    expect((await logged(t, d.id, 'water.flooded')).filter((m) => m.queue === queue).map((m) => m.event)).toEqual(transitions);
    await watcher.waitFor(d.id, 'water.flooded', 'closed', [queue]);
    expect(watcher.of(d.id, 'water.flooded').filter((m) => m.queue === queue).map((m) => m.event)).toEqual(transitions);
    await d.client.endAsync();
  });

  it('an alert that cleared itself cannot be acted on', async () => {
    const d = await addDevice(t, 'water_pump');
    await telemetry(d, { ...NORMAL.water_pump, doorOpen: true });
    const [raised] = await watcher.waitFor(d.id, 'water.door_open', 'raised', [`property/${d.companyId}`]);
    await telemetry(d, NORMAL.water_pump!);
    await watcher.waitFor(d.id, 'water.door_open', 'closed', [`property/${d.companyId}`]);
    const res = await t.api('POST', `/api/v1/alerts/${raised!.alert.id}/acknowledge`, {});
    expect(res.status).toBe(409);
    expect(res.body.error.message).toMatch(/cleared itself/);
    await d.client.endAsync();
  });
});

describe('maintenance mode', () => {
  it('faults in inspection / maintenance mode are recorded but not routed to the authorities or the maintenance unit', async () => {
    const d = await addDevice(t, 'elevator');
    await telemetry(d, { ...NORMAL.elevator, mode: 'maintenance', safetyCircuit: 'open' });
    await event(d, { type: 'fault', fault: 'overspeed' });
    const property = `property/${d.companyId}`;
    // routed when the rules ran, before each PUBACK: only to the property company
    expect([...new Set((await logged(t, d.id)).map((m) => m.queue))]).toEqual([property]);
    await watcher.waitFor(d.id, 'elevator.safety_circuit_open', 'raised', [property]);
    await watcher.waitFor(d.id, 'elevator.overspeed', 'raised', [property]);
    const items = await alertsOf(d.id);
    expect(items.length).toBe(2);
    for (const a of items) expect(a.suppressed).toBe(true);
    // hidden from the authorities, to whom it was not routed
    const ms = await t.api('POST', '/api/v1/accounts', { id: `ms-${d.id}`, role: 'market-supervision' });
    const seen = await t.api('GET', `/api/v1/alerts?deviceId=${d.id}`, undefined, ms.body.token);
    expect(seen.body.items).toEqual([]);

    // back in normal service the same fault is real: it goes to everyone it should
    await telemetry(d, { ...NORMAL.elevator, mode: 'normal', safetyCircuit: 'open' });
    await event(d, { type: 'fault', fault: 'overspeed' });
    const raised = await watcher.waitFor(d.id, 'elevator.overspeed', 'raised', ['market-supervision', `maintenance/${d.unitId}`]);
    expect(raised.find((m) => m.queue === 'market-supervision')!.alert).toMatchObject({ suppressed: false, count: 2 });
    await d.client.endAsync();
  });

  it('a trapped-passenger condition in inspection mode stays with the property company', async () => {
    const d = await addDevice(t, 'elevator');
    await telemetry(d, { ...NORMAL.elevator, mode: 'inspection', occupied: true });
    await telemetry(d, { ...NORMAL.elevator, mode: 'inspection', occupied: true, door: 'closed' });
    clock.advance(120_000);
    // raised inside advance(), and only for the property company
    expect((await logged(t, d.id, 'elevator.trapped')).map((m) => [m.event, m.queue])).toEqual([['raised', `property/${d.companyId}`]]);
    await watcher.waitFor(d.id, 'elevator.trapped', 'raised', [`property/${d.companyId}`]);
    // a door opening with the car levelled ends it
    await telemetry(d, { ...NORMAL.elevator, mode: 'inspection', occupied: true, door: 'open' });
    await watcher.waitFor(d.id, 'elevator.trapped', 'closed', [`property/${d.companyId}`]);
    await d.client.endAsync();
  });
});

describe('elevator sensors', () => {
  it('a presence sensor flickering in a closed, empty car does not start a trapped-passenger condition', async () => {
    const d = await addDevice(t, 'elevator');
    await telemetry(d, NORMAL.elevator!);
    await telemetry(d, { ...NORMAL.elevator, door: 'closed' });
    // parked for a while: without the debounce one flicker would count as a passenger since the door closed
    clock.advance(5 * 60_000);
    await telemetry(d, { ...NORMAL.elevator, door: 'closed', occupied: true });
    clock.advance(1000);
    await telemetry(d, { ...NORMAL.elevator, door: 'closed', occupied: false });
    clock.advance(5 * 60_000);
    // a trapped condition started by the flicker would have been raised inside advance()
    expect((await logged(t, d.id, 'elevator.trapped'))).toEqual([]);
    await d.client.endAsync();
  });

  it('back-filled old readings are stored but do not drive the live state', async () => {
    const d = await addDevice(t, 'elevator');
    const now = Date.now();
    await telemetry(d, { ...NORMAL.elevator, ts: now });
    await telemetry(d, { ...NORMAL.elevator, ts: now - 10 * 60_000, safetyCircuit: 'open' });
    // stored (acknowledged), and the rules that ran before the PUBACK raised nothing
    expect((await logged(t, d.id, 'elevator.safety_circuit_open'))).toEqual([]);
    // a little out of order (within the tolerance) is still live data
    await telemetry(d, { ...NORMAL.elevator, ts: now - 30_000, safetyCircuit: 'open' });
    await watcher.waitFor(d.id, 'elevator.safety_circuit_open', 'raised', [`property/${d.companyId}`]);
    await d.client.endAsync();
  });
});

describe('fire alarm confirmation', () => {
  it('an unconfirmed alarm goes to the property company; after the verify window, to the fire service anyway', async () => {
    const d = await addDevice(t, 'smoke_detector');
    await event(d, { type: 'alarm' });
    const [raised] = await watcher.waitFor(d.id, 'fire.alarm', 'raised', [`property/${d.companyId}`]);
    expect(raised!.alert.confirmation).toBe('unconfirmed');
    // due timers run inside advance(): a second before the window ends the fire service has nothing
    clock.advance(3 * 60_000 - 1000);
    expect((await logged(t, d.id, 'fire.alarm')).filter((m) => m.queue === 'fire-service')).toEqual([]);
    // and at the end of the window it has it, sent inside advance()
    clock.advance(1000);
    expect((await logged(t, d.id, 'fire.alarm')).filter((m) => m.queue === 'fire-service').map((m) => m.event)).toEqual(['raised']);
    const forwarded = (await watcher.waitFor(d.id, 'fire.alarm', 'raised', ['fire-service'])).find((m) => m.queue === 'fire-service');
    expect(forwarded!.alert).toMatchObject({ confirmation: 'unconfirmed', severity: 'critical' });
    expect(forwarded!.reason).toBe('verify_window_passed');
    await d.client.endAsync();
  });

  it('a second detector on the same site confirms both alarms: the fire service gets them at once', async () => {
    const a = await addDevice(t, 'smoke_detector');
    const b = await addDevice(t, 'smoke_detector', { siteId: a.siteId, companyId: a.companyId });
    await event(a, { type: 'alarm' });
    await watcher.waitFor(a.id, 'fire.alarm', 'raised', [`property/${a.companyId}`]);
    await event(b, { type: 'alarm' });
    // at once: both went to the fire service when the second alarm's rules ran, before its PUBACK,
    // with no time passing on the clock
    for (const d of [a, b]) expect((await logged(t, d.id, 'fire.alarm')).filter((m) => m.queue === 'fire-service').map((m) => m.event), d.id).toEqual(['raised']);
    const fa = await watcher.waitFor(a.id, 'fire.alarm', 'raised', ['fire-service']);
    const fb = await watcher.waitFor(b.id, 'fire.alarm', 'raised', ['fire-service']);
    expect(fa.find((m) => m.queue === 'fire-service')!.alert.confirmation).toBe('confirmed');
    expect(fb.find((m) => m.queue === 'fire-service')!.alert.confirmation).toBe('confirmed');
    await a.client.endAsync();
    await b.client.endAsync();
  });

  it('a sprinkler flow switch on the same site confirms a panel alarm', async () => {
    const panel = await addDevice(t, 'fire_panel');
    const water = await addDevice(t, 'fire_water', { siteId: panel.siteId, companyId: panel.companyId });
    await event(panel, { type: 'fire_alarm', zone: 'B2' });
    await watcher.waitFor(panel.id, 'fire.alarm', 'raised', [`property/${panel.companyId}`]);
    await telemetry(water, { ...NORMAL.fire_water, flowSwitch: true });
    const [m] = (await watcher.waitFor(panel.id, 'fire.alarm', 'raised', ['fire-service'])).filter((x) => x.queue === 'fire-service');
    expect(m!.alert.confirmation).toBe('confirmed');
    expect(m!.alert.details.confirmedBy).toMatchObject({ by: 'flow_switch' });
    await panel.client.endAsync();
    await water.client.endAsync();
  });

  it('a detector on another site does not confirm; staff can confirm, or dismiss a false alarm', async () => {
    const a = await addDevice(t, 'smoke_detector');
    const other = await addDevice(t, 'smoke_detector');
    await event(a, { type: 'alarm' });
    await event(other, { type: 'alarm' });
    const [ra] = await watcher.waitFor(a.id, 'fire.alarm', 'raised', [`property/${a.companyId}`]);
    const [ro] = await watcher.waitFor(other.id, 'fire.alarm', 'raised', [`property/${other.companyId}`]);
    // both alarms' rules ran before their PUBACKs: neither confirmed the other
    for (const d of [a, other]) expect((await logged(t, d.id, 'fire.alarm')).filter((m) => m.queue === 'fire-service'), d.id).toEqual([]);

    const prop = await t.api('POST', '/api/v1/accounts', { id: `prop-${a.companyId}`, role: 'property', scope: a.companyId });
    const confirmed = await t.api('POST', `/api/v1/alerts/${ra!.alert.id}/confirm`, { note: '保安现场确认有烟 / smoke seen on site' }, prop.body.token);
    expect(confirmed.status).toBe(200);
    await watcher.waitFor(a.id, 'fire.alarm', 'raised', ['fire-service']);
    expect((await t.api('POST', `/api/v1/alerts/${ra!.alert.id}/confirm`, {}, prop.body.token)).status).toBe(409);

    const dismissed = await t.api('POST', `/api/v1/alerts/${ro!.alert.id}/dismiss`, { note: 'cooking smoke' });
    expect(dismissed.body).toMatchObject({ state: 'closed', details: { dismissed: true } });
    // the verify window passes (its timer would run inside advance()): a dismissed alarm is not forwarded
    clock.advance(3 * 60_000);
    expect((await logged(t, other.id, 'fire.alarm')).filter((m) => m.queue === 'fire-service')).toEqual([]);
    await a.client.endAsync();
    await other.client.endAsync();
  });
});
