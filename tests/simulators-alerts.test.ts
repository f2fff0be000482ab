/**
 * Every scenario that declares an alert raises it on a real gateway: the scenarios are played in
 * stepped time on the gateway's ManualClock (the runner moves the clock from one point of the script
 * to the next and the devices publish what their models produce at that simulated time), so the
 * rules' own durations (45 s outside the door zone, 60 s of low pressure, 10 min offline, the 3 min
 * fire verify window) hold as written, without waiting for them. Each alert is checked on the queues
 * the responsibility list in force gives for it, as received over a real MQTT subscription; the
 * maintenance visit's faults (and a fire device's test) must be recorded as suppressed and withheld
 * from the authorities (market supervision, the fire service),
 * a fault still there when maintenance ends must reach the withheld queues then (`released`), and a
 * fire alarm that nothing in its building backs must stay unconfirmed and reach the fire service only
 * when its verify window passed (`unconfirmed`). An intent's `notBefore` is checked on the same clock:
 * a 26 h silence takes a few steps, not 26 h.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, waitFor, type TestGateway } from './harness/gateway.js';
import { AlertWatcher, startAlertGateway, type ManualClock, type Received } from './harness/alerts.js';
import { logged } from './harness/queue-log.js';
import { GatewayApi } from '../simulators/api.js';
import { SCENARIOS } from '../simulators/scenarios/catalogue.js';
import { runScenarioStandalone, SCENARIO_STREET, type StandaloneResult } from '../simulators/scenarios/standalone.js';
import type { StepClock } from '../simulators/scenarios/runner.js';

interface Entry { queues: string[]; kinds?: Record<string, { queues: string[] }> }

let t: TestGateway;
let clock: ManualClock;
let watcher: AlertWatcher;
let responsibilities: Record<string, Entry>;
/** Per scenario: its ids' prefix, the run, and the gateway clock when it started (its offset 0). */
const outcomes = new Map<string, { prefix: string; result: StandaloneResult; simStart: number }>();
const WITH_ALERTS = SCENARIOS.filter((s) => s.alerts.length > 0);
const WITHOUT_ALERTS = SCENARIOS.filter((s) => s.alerts.length === 0);

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway());
  watcher = await AlertWatcher.start(t);
  const api = new GatewayApi(t.httpUrl, ADMIN_TOKEN);
  responsibilities = (await t.api('GET', '/api/v1/alerts/responsibilities')).body as Record<string, Entry>;
  // the devices' models and the gateway's alert rules share the one manual clock
  const stepped: StepClock = { timeScale: 1, simNow: () => clock.now(), advance: async (ms) => { clock.advance(ms); } };
  // one after the other: they share the clock (each on its own site, company and maintenance unit);
  // the scenarios without an alert too, so stepped mode is checked against what they store
  for (const [i, s] of SCENARIOS.entries()) {
    const prefix = `al${i}`;
    const simStart = clock.now();
    const result = await runScenarioStandalone(s, { mqttUrl: t.mqttUrl, api, prefix, clock: stepped, verify: true });
    outcomes.set(s.name, { prefix, result, simStart });
    if (process.env.SIM_TEST_VERBOSE) {
      const ids = Object.values(result.run.devices);
      console.log(`${s.name}: ${result.run.timeline?.length} points in ${result.run.endedAt - result.run.startedAt} ms`);
      // from the queue log, which is final once the scenario's last publish was acknowledged
      const queues = t.gw.alerts.queues;
      const sent = (await Promise.all((await queues.heads()).map(({ queue, cursor }) => queues.read(queue, 0, cursor)))).flat().filter((m) => ids.includes(m.alert.deviceId)).sort((x, y) => x.at - y.at);
      for (const m of sent) console.log(`   ${m.event} ${m.alert.type} @${m.queue}${m.alert.suppressed ? ' suppressed' : ''} at +${(m.at - simStart) / 1000} s`);
    }
  }
}, 120_000);
afterAll(async () => { await watcher?.close(); await t?.dispose(); });

/** The queue names a role of the responsibility list maps to for the scenario's site. */
function queueOf(role: string, prefix: string): string {
  if (role === 'property') return `property/${prefix}-co`;
  if (role === 'maintenance') return `maintenance/${prefix}-mu`;
  if (role === 'street') return `street/${SCENARIO_STREET}`;
  return role;
}

describe('scenarios raise the alert they declare (stepped on the gateway clock)', () => {
  it('every scenario ran stepped', () => {
    expect([...outcomes.keys()].sort()).toEqual(SCENARIOS.map((s) => s.name).sort());
  });

  it.each(WITHOUT_ALERTS.map((s) => [s.name] as const))('%s (no alert declared) stores what it declares in stepped time', (name) => {
    const { result } = outcomes.get(name)!;
    expect(result.run.errors).toEqual([]);
    expect(result.results!.filter((x) => !x.ok).map((x) => x.detail)).toEqual([]);
  });

  const cases = WITH_ALERTS.flatMap((s) => s.alerts.map((a) => [s.name, a.type, a.expect] as const));
  it.each(cases)('%s → %s (%s)', async (name, type, outcome) => {
    const { prefix, result, simStart } = outcomes.get(name)!;
    const scenario = SCENARIOS.find((s) => s.name === name)!;
    expect(result.run.errors).toEqual([]);
    expect(result.results!.filter((x) => !x.ok).map((x) => x.detail), 'stored data in stepped time').toEqual([]);
    const ids = Object.values(result.run.devices);
    const kinds = Object.fromEntries(Object.entries(result.run.devices).map(([role, id]) => [id, scenario.devices[role]!]));
    const entry = responsibilities[type];
    expect(entry, `${type} is in the responsibility list`).toBeDefined();
    const of = (m: Received) => ids.includes(m.alert.deviceId) && m.alert.type === type;
    if (outcome === 'raised') {
      // the queues for the kind of the device that raised it (device.offline differs per kind)
      const got = await waitFor(() => {
        const raised = watcher.messages.filter((m) => of(m) && m.event === 'raised');
        if (raised.length === 0) return undefined;
        const queues = (entry!.kinds?.[kinds[raised[0]!.alert.deviceId]!] ?? entry!).queues.map((q) => queueOf(q, prefix));
        return queues.every((q) => raised.some((m) => m.queue === q && !m.alert.suppressed)) ? { raised, queues } : undefined;
      }, 3000, 20).catch(() => undefined);
      const seen = watcher.messages.filter(of).map((m) => `${m.event}@${m.queue}${m.alert.suppressed ? ' (suppressed)' : ''}`);
      expect(got, `raised on every queue of ${type}; got: ${seen.join(', ') || 'nothing'}`).toBeDefined();
      const notBefore = scenario.alerts.find((a) => a.type === type)!.notBefore;
      // `at` is the gateway clock when the rule raised it: the first point of the run at or after its timer (the
      // runner stops at every reading interval), so a timeout shorter than the intent's is raised early and shows
      if (notBefore !== undefined) expect(Math.min(...got!.raised.map((m) => m.at)) - simStart, `not raised before +${notBefore / 1000} s`).toBeGreaterThanOrEqual(notBefore);
    } else if (outcome === 'unconfirmed') {
      // the scenario ran to its end in beforeAll, every publish acknowledged and every timer run: the queue log is final
      const property = queueOf('property', prefix);
      for (const id of ids) {
        const log = await logged(t, id, type);
        expect(log.find((m) => m.queue === property)?.event, `${id}: the property company hears it`).toBe('raised');
        expect([...new Set(log.map((m) => m.alert.confirmation))], `${id}: never confirmed`).toEqual(['unconfirmed']);
        // not at once, as a confirmed alarm would be: only when the verify window passed without a verdict
        const toFire = log.filter((m) => m.queue === 'fire-service');
        expect(toFire[0] && [toFire[0].event, toFire[0].reason, toFire[0].alert.forwardedUnverified], `${id}: to the fire service`).toEqual(['raised', 'verify_window_passed', true]);
      }
    } else if (outcome === 'released') {
      // the scenario ran to its end in beforeAll, every publish acknowledged: the queue log is final
      const log = (await Promise.all(ids.map((id) => logged(t, id, type)))).flat();
      const property = queueOf('property', prefix);
      const queues = entry!.queues.map((q) => queueOf(q, prefix));
      expect(log.find((m) => m.queue === property)?.alert.suppressed, 'first recorded as suppressed').toBe(true);
      expect(log.some((m) => m.queue === property && m.reason === 'mode_ended' && !m.alert.suppressed), 'the property company hears it released').toBe(true);
      // the withheld queues hear nothing until the mode ended, then get it as raised, unsuppressed
      for (const q of queues.filter((x) => x !== property)) {
        const first = log.find((m) => m.queue === q);
        expect(first && [first.event, first.reason, first.alert.suppressed], q).toEqual(['raised', 'mode_ended', false]);
      }
      await watcher.waitFor(ids[0]!, type, 'raised', queues);
    } else {
      const got = await waitFor(() => {
        const raised = watcher.messages.filter((m) => of(m) && m.event === 'raised');
        return raised.some((m) => m.queue === queueOf('property', prefix)) ? raised : undefined;
      }, 3000, 20).catch(() => undefined);
      expect(got, `${type} recorded and sent to the property company`).toBeDefined();
      expect(got!.every((m) => m.alert.suppressed), 'recorded as suppressed').toBe(true);
      // the scenario ran to its end in beforeAll, every publish acknowledged: the queue log is final
      // neither authority: market supervision (an elevator in maintenance) nor the fire service (a fire device's test)
      const toAuthorities = (await Promise.all(ids.map((id) => logged(t, id, type)))).flat().filter((m) => m.queue === 'market-supervision' || m.queue === 'fire-service');
      expect(toAuthorities.map((m) => `${m.event}@${m.queue}`), 'nothing to the authorities').toEqual([]);
      const ledger = await t.api('GET', `/api/v1/alerts?deviceId=${encodeURIComponent(ids[0]!)}&type=${encodeURIComponent(type)}`);
      expect(ledger.status).toBe(200);
      const items = ledger.body.items as Array<{ suppressed: boolean }>;
      expect(items.length).toBeGreaterThan(0);
      expect(items.every((a) => a.suppressed)).toBe(true);
    }
  });
});
