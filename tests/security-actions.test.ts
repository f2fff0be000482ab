/**
 * Who may do what to an alert (the role × action table of alerts/permissions.ts) over the API, what
 * an alert outside the caller's scope looks like, the audit of refused actions and of the
 * authorities' queue reads, and that the tables in the READMEs say what the code does.
 *
 * Every case acts on a fresh alert in a state that allows the action, so a refusal can only come
 * from the role (403) or from what the alert is (409), never from a state left by an earlier case.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { account, raiseAlert, startAlertGateway, type ManualClock } from './harness/alerts.js';
import { connect, type TestGateway } from './harness/gateway.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

let t: TestGateway;
let clock: ManualClock;
const tokens: Record<string, string> = {};

const ROLES = ['admin', 'property', 'maintenance', 'market-supervision', 'fire-service'] as const;
type Role = (typeof ROLES)[number];
/** The account of each role: property company co-a, maintenance unit unit-a. */
const WHO: Record<Role, string> = { admin: 'root', property: 'propA', maintenance: 'maintA', 'market-supervision': 'market', 'fire-service': 'fire' };
const ACTIONS = ['acknowledge', 'arrive', 'dispatch', 'resolve', 'close', 'confirm', 'dismiss'] as const;
type Action = (typeof ACTIONS)[number];
const CODE = { 403: 'ALERT_ACTION_FORBIDDEN', 404: 'ALERT_NOT_FOUND', 409: 'ALERT_INVALID_TRANSITION' } as const;
/** The state an alert must be in for the action (the lifecycle), so that only the role can refuse it. */
const BEFORE: Record<Action, 'open' | 'resolved'> = { acknowledge: 'open', arrive: 'open', dispatch: 'open', resolve: 'open', close: 'resolved', confirm: 'open', dismiss: 'open' };
const AFTER: Record<Action, string> = { acknowledge: 'acknowledged', arrive: 'acknowledged', dispatch: 'dispatched', resolve: 'resolved', close: 'closed', confirm: 'open', dismiss: 'closed' };

type Scenario = 'lift' | 'trapped' | 'fireUnconfirmed' | 'fireConfirmed' | 'water';
/**
 * lift: elevator overspeed of unit-a at co-a, routed to maintenance/unit-a, property/co-a and
 * market-supervision; trapped: passengers trapped in the same elevator, routed the same way (the only
 * type on which an arrival on site is recorded). fireUnconfirmed: a fire alarm nobody verified yet, only with property/co-a
 * (the fire service gets it once confirmed). fireConfirmed: the same confirmed, so also with the
 * fire service. water: a flooded pump room, routed only to property/co-a.
 *
 * Outcomes per action in the order acknowledge arrive dispatch resolve close confirm dismiss.
 */
const EXPECTED: Record<Scenario, Record<Role, string>> = {
  lift: {
    admin: 'ok 409 ok ok ok 409 409',
    property: 'ok 409 ok ok 403 409 409',
    maintenance: 'ok 409 ok ok 403 403 403',
    'market-supervision': 'ok 403 403 403 ok 403 403',
    'fire-service': '404 404 404 404 404 404 404',
  },
  trapped: {
    admin: 'ok ok ok ok ok 409 409',
    property: 'ok ok ok ok 403 409 409',
    maintenance: 'ok ok ok ok 403 403 403',
    'market-supervision': 'ok 403 403 403 ok 403 403',
    'fire-service': '404 404 404 404 404 404 404',
  },
  fireUnconfirmed: {
    admin: 'ok 409 ok ok ok ok ok',
    property: 'ok 409 ok ok ok ok ok',
    maintenance: '404 404 404 404 404 404 404',
    'market-supervision': '404 404 404 404 404 404 404',
    'fire-service': 'ok 403 403 403 403 ok ok',
  },
  fireConfirmed: {
    admin: 'ok 409 ok ok ok 409 409',
    property: 'ok 409 ok ok 403 409 409',
    maintenance: '404 404 404 404 404 404 404',
    'market-supervision': '404 404 404 404 404 404 404',
    'fire-service': 'ok 403 403 403 ok 409 409',
  },
  water: {
    admin: 'ok 409 ok ok ok 409 409',
    property: 'ok 409 ok ok ok 409 409',
    maintenance: '404 404 404 404 404 404 404',
    'market-supervision': '404 404 404 404 404 404 404',
    'fire-service': '404 404 404 404 404 404 404',
  },
};

let sites = 0;
/** A fresh alert of the scenario, brought to `state` by the admin. */
async function fresh(s: Scenario, state: 'open' | 'resolved' = 'open'): Promise<number> {
  let id: number;
  if (s === 'lift') id = raiseAlert(t, 'elevator.overspeed', { kind: 'elevator', companyId: 'co-a', siteId: 'site-a', maintenanceUnitId: 'unit-a' });
  else if (s === 'trapped') id = raiseAlert(t, 'elevator.trapped', { kind: 'elevator', companyId: 'co-a', siteId: 'site-a', maintenanceUnitId: 'unit-a' });
  else if (s === 'water') id = raiseAlert(t, 'water.flooded', { kind: 'water_pump', companyId: 'co-a', siteId: 'site-a' });
  // its own site each: two alarms on one site would confirm each other
  else id = raiseAlert(t, 'fire.alarm', { kind: 'smoke_detector', companyId: 'co-a', siteId: `fire-site-${++sites}` });
  if (s === 'fireConfirmed') expect((await t.api('POST', `/api/v1/alerts/${id}/confirm`, { note: 'seen on site' })).status).toBe(200);
  if (state === 'resolved') expect((await t.api('POST', `/api/v1/alerts/${id}/resolve`, { note: 'fixed' })).status).toBe(200);
  return id;
}

const as = (role: Role) => tokens[WHO[role]]!;
const act = (id: number, action: string, role: Role, note = 'test') => t.api('POST', `/api/v1/alerts/${id}/${action}`, { note }, as(role));
const read = (id: number, role: Role) => t.api('GET', `/api/v1/alerts/${id}`, undefined, as(role));

beforeAll(async () => {
  ({ t, clock } = await startAlertGateway());
  tokens.root = await account(t, 'root', 'admin');
  tokens.propA = await account(t, 'propA', 'property', 'co-a');
  tokens.propB = await account(t, 'propB', 'property', 'co-b');
  tokens.maintA = await account(t, 'maintA', 'maintenance', 'unit-a');
  tokens.market = await account(t, 'market', 'market-supervision');
  tokens.fire = await account(t, 'fire', 'fire-service');
});
afterAll(async () => { await t.dispose(); });

describe('who may do what: every role × every action', () => {
  for (const scenario of Object.keys(EXPECTED) as Scenario[]) {
    for (const role of ROLES) {
      it(`ACT-7 ${scenario}: ${role}`, async () => {
        const outcomes = EXPECTED[scenario][role].split(' ');
        for (const [i, action] of ACTIONS.entries()) {
          const expected = outcomes[i]!;
          const id = await fresh(scenario, BEFORE[action]);
          const seen = await read(id, role);
          if (expected === '404') {
            expect(seen.status, `${role} reads ${scenario}`).toBe(404);
          } else {
            expect(seen.status, `${role} reads ${scenario}`).toBe(200);
            // the console shows exactly the buttons the gateway would accept
            expect(seen.body.allowedActions.includes(action), `${role} offered ${action} on ${scenario}`).toBe(expected === 'ok');
          }
          const res = await act(id, action, role);
          if (expected === 'ok') {
            expect(res.status, `${role} ${action}s ${scenario}: ${JSON.stringify(res.body)}`).toBe(200);
            expect(res.body.state).toBe(AFTER[action]);
            expect(Array.isArray(res.body.allowedActions)).toBe(true);
          } else {
            expect(res.status, `${role} ${action}s ${scenario}`).toBe(Number(expected));
            expect(res.body.error.code, `${role} ${action}s ${scenario}`).toBe(CODE[Number(expected) as 403 | 404 | 409]);
            // a refused action changes nothing
            expect((await t.api('GET', `/api/v1/alerts/${id}`)).body.state).toBe(BEFORE[action]);
          }
        }
      });
    }
  }
});

describe('the refusals that mattered', () => {
  it('ACT-1, ACT-2 a maintenance unit cannot dismiss (close) a critical overspeed alert, nor close it after repairing it', async () => {
    const id = await fresh('lift');
    const dismissed = await act(id, 'dismiss', 'maintenance', 'false alarm');
    expect(dismissed.status).toBe(403);
    expect(dismissed.body.error.code).toBe('ALERT_ACTION_FORBIDDEN');
    // the repair itself is theirs to report
    expect((await act(id, 'resolve', 'maintenance', 'governor reset')).status).toBe(200);
    const closed = await act(id, 'close', 'maintenance', 'done');
    expect(closed.status).toBe(403);
    expect(closed.body.error.code).toBe('ALERT_ACTION_FORBIDDEN');
    expect((await read(id, 'maintenance')).body.allowedActions).toEqual([]);
  });

  it('ACT-3 the property company cannot close (销号) an alert market supervision received; market supervision can', async () => {
    const id = await fresh('lift', 'resolved');
    expect((await t.api('GET', `/api/v1/alerts/${id}`)).body.queues).toContain('market-supervision');
    const byProperty = await act(id, 'close', 'property');
    expect(byProperty.status).toBe(403);
    expect(byProperty.body.error.code).toBe('ALERT_ACTION_FORBIDDEN');
    expect((await read(id, 'market-supervision')).body.allowedActions).toEqual(['close']);
    const byMarket = await act(id, 'close', 'market-supervision', '现场核查 / checked on site');
    expect(byMarket.status).toBe(200);
    expect(byMarket.body.history.at(-1)).toMatchObject({ actor: 'market', action: 'closed' });
  });

  it('the property company closes an alert no authority received', async () => {
    const id = await fresh('water', 'resolved');
    expect((await t.api('GET', `/api/v1/alerts/${id}`)).body.queues).toEqual(['property/co-a']);
    expect((await act(id, 'close', 'property')).status).toBe(200);
  });

  it('ACT-4 the fire service may confirm or dismiss an unconfirmed fire alarm, but not dispatch', async () => {
    const a = await fresh('fireUnconfirmed');
    expect((await read(a, 'fire-service')).body.allowedActions).toEqual(['acknowledge', 'confirm', 'dismiss']);
    const dispatch = await act(a, 'dispatch', 'fire-service');
    expect(dispatch.status).toBe(403);
    expect(dispatch.body.error.code).toBe('ALERT_ACTION_FORBIDDEN');
    const confirmed = await act(a, 'confirm', 'fire-service', '119 指挥中心核实 / verified');
    expect(confirmed.status).toBe(200);
    expect(confirmed.body).toMatchObject({ confirmation: 'confirmed', state: 'open' });
    expect(confirmed.body.queues).toContain('fire-service');
    const b = await fresh('fireUnconfirmed');
    const dismissed = await act(b, 'dismiss', 'fire-service', 'cooking smoke');
    expect(dismissed.body).toMatchObject({ state: 'closed', details: { dismissed: true } });
  });

  it('ACT-5 dismiss and confirm apply only to an unconfirmed fire alarm: 409 on any other alert, for every role allowed to use them', async () => {
    for (const scenario of ['lift', 'water', 'fireConfirmed'] as const) {
      for (const action of ['dismiss', 'confirm'] as const) {
        for (const role of ['admin', 'property'] as const) {
          const id = await fresh(scenario);
          const res = await act(id, action, role);
          expect(res.status, `${role} ${action}s ${scenario}`).toBe(409);
          expect(res.body.error.code).toBe('ALERT_INVALID_TRANSITION');
          expect((await read(id, role)).body.allowedActions).not.toContain(action);
        }
      }
    }
  });

  it('ACT-8 the role is checked before the state: a forbidden action is 403 whatever the state', async () => {
    const id = await fresh('lift');
    // close needs `resolved`, and the alert is open: still 403, since maintenance may never close
    const res = await act(id, 'close', 'maintenance');
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('ALERT_ACTION_FORBIDDEN');
  });

  it('alert lists carry each item\'s allowed actions for the caller', async () => {
    const id = await fresh('lift');
    const list = await t.api('GET', '/api/v1/alerts?limit=1000', undefined, as('maintenance'));
    const item = list.body.items.find((a: { id: number }) => a.id === id);
    expect(item.allowedActions).toEqual(['acknowledge', 'dispatch', 'resolve']);
    const market = await t.api('GET', '/api/v1/alerts?limit=1000', undefined, as('market-supervision'));
    expect(market.body.items.find((a: { id: number }) => a.id === id).allowedActions).toEqual(['acknowledge']);
  });
});

describe('an alert outside the scope', () => {
  /** The answer with the asked-for id blanked out: what is left must not depend on whether the alert exists. */
  const blank = (body: unknown, id: number) => JSON.stringify(body).split(String(id)).join('<id>');

  it('LEAK-1 reads and acts exactly like one that does not exist', async () => {
    const lift = await fresh('lift');
    const missing = 999_999;
    for (const [who, id] of [['fire', lift], ['propB', lift]] as const) {
      const theirs = await t.api('GET', `/api/v1/alerts/${id}`, undefined, tokens[who]);
      const none = await t.api('GET', `/api/v1/alerts/${missing}`, undefined, tokens[who]);
      expect(theirs.status, who).toBe(404);
      expect(theirs.body.error.code).toBe('ALERT_NOT_FOUND');
      expect(blank(theirs.body, id)).toBe(blank(none.body, missing));
      for (const action of ACTIONS) {
        const a = await t.api('POST', `/api/v1/alerts/${id}/${action}`, { note: 'probe' }, tokens[who]);
        const b = await t.api('POST', `/api/v1/alerts/${missing}/${action}`, { note: 'probe' }, tokens[who]);
        expect(a.status, `${who} ${action}`).toBe(404);
        expect(blank(a.body, id)).toBe(blank(b.body, missing));
      }
    }
    expect((await t.api('GET', `/api/v1/alerts/${lift}`)).body.history).toHaveLength(1);
  });
});

describe('audit', () => {
  const audit = async (target: string) => (await t.api('GET', `/api/v1/audit?target=${encodeURIComponent(target)}&limit=1000`)).body as Array<{ actor: string; action: string; detail: Record<string, unknown> }>;

  it('AUD-1 refused actions are recorded with their code and the alert\'s state', async () => {
    const id = await fresh('lift', 'resolved');
    expect((await act(id, 'close', 'maintenance')).status).toBe(403);
    expect((await act(id, 'acknowledge', 'property')).status).toBe(409);
    expect((await act(id, 'dismiss', 'admin')).status).toBe(409);
    const rows = await audit(`alert:${id}`);
    const refused = rows.filter((r) => r.action.endsWith('.refused')).reverse();
    expect(refused.map((r) => [r.actor, r.action, r.detail])).toEqual([
      ['maintA', 'alert.close.refused', { code: 'ALERT_ACTION_FORBIDDEN', state: 'resolved' }],
      ['propA', 'alert.acknowledge.refused', { code: 'ALERT_INVALID_TRANSITION', state: 'resolved' }],
      ['root', 'alert.dismiss.refused', { code: 'ALERT_INVALID_TRANSITION', state: 'resolved' }],
    ]);
    // what was done is still recorded as before, and nothing else
    expect(rows.filter((r) => !r.action.endsWith('.refused')).map((r) => r.action)).toEqual(['alert.resolve']);
  });

  // last: it moves the clock, which runs every deadline of the alerts above
  it('AUD-2 the authorities\' queue reads are recorded: one row per account and queue per 10 minutes, with the reads in between counted', async () => {
    await fresh('lift');
    for (let i = 0; i < 3; i++) expect((await t.api('GET', '/api/v1/queues/market-supervision/messages?after=0', undefined, tokens.market)).status).toBe(200);
    // a property company reading its own queue is not what this audit is for
    expect((await t.api('GET', '/api/v1/queues/property/co-a/messages', undefined, tokens.propA)).status).toBe(200);
    let rows = await audit('queue:market-supervision');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: 'market', action: 'queue.read', detail: { via: 'pull', after: 0 } });
    expect(rows[0]!.detail.upTo).toBeGreaterThan(0);
    expect(await audit('queue:property/co-a')).toEqual([]);

    const ctl = new AbortController();
    const stream = await fetch(`${t.httpUrl}/api/v1/queues/fire-service/stream`, { headers: { authorization: `Bearer ${tokens.fire}` }, signal: ctl.signal });
    expect(stream.status).toBe(200);
    ctl.abort();
    expect((await audit('queue:fire-service')).map((r) => [r.actor, r.action, r.detail.via])).toEqual([['fire', 'queue.read', 'stream']]);

    clock.advance(10 * 60_000);
    const next = await t.api('GET', '/api/v1/queues/market-supervision/messages?after=1', undefined, tokens.market);
    expect(next.status).toBe(200);
    rows = await audit('queue:market-supervision');
    expect(rows).toHaveLength(2);
    expect(rows[0]!.detail).toMatchObject({ via: 'pull', after: 1, readsSinceLastRow: 2 });

    // a subscription to the queue over MQTT is a read too (the SUBACK comes after it is recorded)
    const sub = await connect(t.mqttUrl, { clientId: 'fire:audit', username: 'fire', password: tokens.fire });
    await sub.subscribeAsync('alerts/fire-service', { qos: 1 });
    await sub.endAsync();
    expect((await audit('queue:fire-service')).map((r) => [r.actor, r.detail.via])).toEqual([['fire', 'mqtt'], ['fire', 'stream']]);
  });
});

describe('the documented table', () => {
  /** Cells of the README table: ✓ allowed, — not, ✓¹ if the alert was routed to this authority, ✓² if no authority received it. */
  const GRANT_OF: Record<string, string> = { '✓': 'yes', '—': 'no', '✓¹': 'if-routed-to-it', '✓²': 'if-no-authority' };
  /** Marks in the states column: ³ only an unconfirmed fire alarm, ⁴ only a trapped-passenger alert not yet reached, ⁵ once per party. */
  const MARKS = /[³⁴⁵]/g;

  for (const file of ['README.md', 'alerts/README.md']) {
    it(`DOC-1 ${file} shows the role × action table the code enforces`, async () => {
      const { ACTION_RULES } = await import('../alerts/permissions.js');
      const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
      const head = lines.findIndex((l) => l.startsWith('| action') && l.includes('| admin'));
      expect(head, 'the table header').toBeGreaterThanOrEqual(0);
      const cells = (l: string) => l.split('|').slice(1, -1).map((c) => c.trim());
      const columns = cells(lines[head]!).map((c) => c.split(' ')[0]!);
      const rows: string[][] = [];
      for (let i = head + 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(cells(lines[i]!));
      const documented = rows.map((r) => r[0]!.replace(/`/g, ''));
      expect(documented).toEqual(Object.keys(ACTION_RULES));
      for (const row of rows) {
        const action = row[0]!.replace(/`/g, '') as keyof typeof ACTION_RULES;
        const rule = ACTION_RULES[action];
        expect(row[1], `${action}: label`).toBe(`${rule.label.zh} ${rule.label.en}`);
        for (const role of ROLES) {
          const cell = row[columns.indexOf(role)]!;
          expect(GRANT_OF[cell], `${file}: ${action} × ${role} is "${cell}"`).toBe(rule.roles[role]);
        }
        const when = row[columns.indexOf('from')]!;
        expect(when.replace(MARKS, '').trim().split(', '), `${action}: states`).toEqual([...rule.from]);
        expect(when.includes('³'), `${action}: only an unconfirmed fire alarm`).toBe(rule.only === 'unconfirmed-fire-alarm');
        expect(when.includes('⁴'), `${action}: only a trapped-passenger alert without an arrival`).toBe(rule.only === 'trapped-not-arrived');
        expect(when.includes('⁵'), `${action}: once per party`).toBe(rule.oncePerParty === true);
      }
    });
  }
});
