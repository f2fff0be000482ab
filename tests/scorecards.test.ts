/**
 * Scorecards, ranking, reports and the public ranking through the real gateway (SPEC §10): a small
 * history seeded through the real paths on the alert clock (elevators on an urban and a rural
 * site of two units, trapped passengers over MQTT, acknowledge / arrive / resolve over the API at
 * chosen clock times, a valid and a suspect maintenance visit judged on the lift's telemetry,
 * rectification orders), and the rows compared with values worked out by hand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from './harness/gateway.js';
import { ManualClock, NORMAL, account, addDevice, event, startAlertGateway, telemetry, type TestDevice } from './harness/alerts.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const PERIOD = '2025-06';
// June 2025 in Shanghai (the default time zone): 1 June 00:00 +08:00 to 1 July 00:00 +08:00
const FROM = Date.UTC(2025, 4, 31, 16);
const TO = Date.UTC(2025, 5, 30, 16);
/** The period's bounds in the list links. */
const SPAN = `from=${encodeURIComponent('2025-05-31T16:00:00.000Z')}&to=${encodeURIComponent('2025-06-30T16:00:00.000Z')}`;

let t: TestGateway;
let clock: ManualClock;
const tokens = {} as Record<'mua' | 'mub' | 'coa' | 'cob' | 'msa' | 'fire' | 'street', string>;
let liftU: TestDevice;
let liftR: TestDevice;
/** When each trapped alert opened (the clock when its event was published). */
const opened: Record<string, number> = {};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const get = async (path: string, token?: string): Promise<{ status: number; body: Json }> => t.api('GET', path, undefined, token);
const act = async (id: number, action: string, token: string) => {
  const res = await t.api('POST', `/api/v1/alerts/${id}/${action}`, {}, token);
  expect(res.status, `${action}: ${JSON.stringify(res.body)}`).toBe(200);
};
const alertOf = async (deviceId: string, type: string): Promise<number> =>
  ((await get(`/api/v1/alerts?deviceId=${deviceId}&type=${type}`)).body.items as Json[])[0].id as number;
/** Moves the alert clock to `at` (it only moves forward). */
const at = (ms: number) => clock.advance(ms - clock.now());

beforeAll(async () => {
  // no offline alerts while the clock runs ahead of the devices' silence; readings stamped on the
  // alert clock (June 2025) are older than the wall clock: keep them, for the visits to be judged on
  ({ t, clock } = await startAlertGateway({
    alerts: { rules: { elevator: { offlineAfter: '30d' } } }, ingest: { maxPastMs: 5 * 365 * 24 * HOUR }, timeseries: { retentionDays: 5 * 365 },
  }));
  for (const [id, name] of [['co-a', '安居物业'], ['co-b', '百汇物业']]) expect((await t.api('POST', '/api/v1/companies', { id, name })).status).toBe(201);
  for (const [id, name] of [['mu-a', '安达电梯'], ['mu-b', '博远维保'], ['mu-c', '成功电梯'], ['mu-d', '大华电梯'], ['mu-e', '恒通电梯']]) {
    expect((await t.api('POST', '/api/v1/maintenance-units', { id, name, phone: '400-800-0000' })).status).toBe(201);
  }
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-u', name: '南山花园', companyId: 'co-a', street: '南山街道', area: 'urban' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-r', name: '北岭新村', companyId: 'co-b', street: '北岭镇', area: 'rural' })).status).toBe(201);
  liftU = await addDevice(t, 'elevator', { id: 'lift-u', companyId: 'co-a', siteId: 'site-u', unitId: 'mu-a', extra: { nextInspectionDue: '2025-12-01' } });
  // its inspection fell due on 1 June: missed
  liftR = await addDevice(t, 'elevator', { id: 'lift-r', companyId: 'co-b', siteId: 'site-r', unitId: 'mu-b', extra: { nextInspectionDue: '2025-06-01' } });
  // two units with one quiet elevator each: the same score, told apart by name
  await addDevice(t, 'elevator', { id: 'lift-c', companyId: 'co-a', siteId: 'site-u', unitId: 'mu-c' });
  await addDevice(t, 'elevator', { id: 'lift-d', companyId: 'co-a', siteId: 'site-u', unitId: 'mu-d' });
  // mu-e maintains nothing: no data, not ranked
  tokens.mua = await account(t, 'acc-mu-a', 'maintenance', 'mu-a');
  tokens.mub = await account(t, 'acc-mu-b', 'maintenance', 'mu-b');
  tokens.coa = await account(t, 'acc-co-a', 'property', 'co-a');
  tokens.cob = await account(t, 'acc-co-b', 'property', 'co-b');
  tokens.msa = await account(t, 'acc-msa', 'market-supervision');
  tokens.fire = await account(t, 'acc-fire', 'fire-service');
  tokens.street = await account(t, 'acc-street', 'street', '南山街道');

  const t0 = clock.now();
  // rectification orders: to co-b, due in 2 hours and never answered (overdue); to co-a, due at the end of the year
  at(t0 + 30 * MIN);
  for (const [targetId, siteId, dueAt] of [['co-b', 'site-r', new Date(t0 + 2 * HOUR).toISOString()], ['co-a', 'site-u', '2025-12-31']]) {
    const res = await t.api('POST', '/api/v1/orders', { targetType: 'company', targetId, siteId, title: '电梯困人应急演练', description: '请于期限内完成并回复', dueAt }, tokens.msa);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }

  // urban: mu-a acknowledges at 2 min, arrives at 20 (of 30), resolves at 25
  at(t0 + HOUR);
  opened.u = clock.now();
  await event(liftU, { type: 'fault', fault: 'trapped' });
  const a = await alertOf('lift-u', 'elevator.trapped');
  at(opened.u + 2 * MIN); await act(a, 'acknowledge', tokens.mua);
  at(opened.u + 20 * MIN); await act(a, 'arrive', tokens.mua);
  at(opened.u + 25 * MIN); await act(a, 'resolve', tokens.mua);

  // rural: the property company acknowledges at 1 min (not the unit's response), mu-b at 5 (late),
  // arrives at 50 (of 60), resolves at 70 (the 30-minute resolve deadline missed)
  at(t0 + 3 * HOUR);
  opened.r = clock.now();
  await event(liftR, { type: 'fault', fault: 'trapped' });
  const b = await alertOf('lift-r', 'elevator.trapped');
  at(opened.r + MIN); await act(b, 'acknowledge', tokens.cob);
  at(opened.r + 5 * MIN); await act(b, 'acknowledge', tokens.mub);
  at(opened.r + 50 * MIN); await act(b, 'arrive', tokens.mub);
  at(opened.r + 70 * MIN); await act(b, 'resolve', tokens.mub);

  // a door fault on the urban lift, resolved by the property company within its 48 hours
  at(t0 + 5 * HOUR);
  await event(liftU, { type: 'fault', fault: 'door_open_fault' });
  at(t0 + 6 * HOUR); await act(await alertOf('lift-u', 'elevator.door_open_fault'), 'resolve', tokens.coa);

  // a valid visit of mu-a: 25 minutes of maintenance mode in the lift's own telemetry (20 needed)
  at(t0 + 7 * HOUR);
  const v = clock.now();
  const visitA = await t.api('POST', '/api/v1/maintenance-visits', { deviceId: 'lift-u' }, tokens.mua);
  expect(visitA.status, JSON.stringify(visitA.body)).toBe(201);
  // a reading counts until the next one, at most 5 minutes (visits.maxReadingGap): one every 4
  for (let m = 1; m <= 25; m += 4) {
    at(v + m * MIN);
    await telemetry(liftU, { ...NORMAL.elevator, mode: 'maintenance', ts: clock.now() });
  }
  at(v + 26 * MIN);
  await telemetry(liftU, { ...NORMAL.elevator, ts: clock.now() });
  at(v + 30 * MIN);
  const finishedA = await t.api('POST', `/api/v1/maintenance-visits/${visitA.body.id}/finish`, {}, tokens.mua);
  expect(finishedA.body, JSON.stringify(finishedA.body)).toMatchObject({ valid: true, suspect: false });
  // a suspect one of mu-b: signed in and out, the lift never left normal mode
  const visitB = await t.api('POST', '/api/v1/maintenance-visits', { deviceId: 'lift-r' }, tokens.mub);
  at(v + 60 * MIN);
  const finishedB = await t.api('POST', `/api/v1/maintenance-visits/${visitB.body.id}/finish`, {}, tokens.mub);
  expect(finishedB.body).toMatchObject({ valid: false, suspect: true });
  at(t0 + 9 * HOUR);
});

afterAll(async () => {
  await t?.dispose();
});

const rowOf = (items: Json[], id: string) => items.find((r) => r.id === id);

describe('maintenance unit scorecards', () => {
  it('one row per unit with the hand-computed figures', async () => {
    const res = await get(`/api/v1/scorecards/maintenance-units?period=${PERIOD}`, tokens.msa);
    expect(res.status).toBe(200);
    expect(res.body.period).toEqual({ id: PERIOD, kind: 'month', from: FROM, to: TO, complete: false });
    // by name: 安达, 博远, 成功, 大华, 恒通 (pinyin order)
    expect(res.body.items.map((r: Json) => r.id)).toEqual(['mu-a', 'mu-b', 'mu-c', 'mu-d', 'mu-e']);
    const a = rowOf(res.body.items, 'mu-a');
    expect(a).toMatchObject({
      name: '安达电梯', elevators: 1,
      // acknowledged at 2 of 3 minutes; arrived at 20 of 30
      response: { count: 1, of: 1, rate: 1 }, arrival: { count: 1, of: 1, rate: 1 },
      averageArrival: { ms: 20 * MIN, of: 1 }, averageRescue: { ms: 25 * MIN, of: 1 },
      // the door fault; the trapped alert
      faultsPerElevator: { count: 1, of: 1, rate: 1 }, trappedPerElevator: { count: 1, of: 1, rate: 1 },
      // registered today, visited 7.5 hours later: within 15 days
      maintenanceOnTime: { count: 1, of: 1, rate: 1 }, visits: { valid: 1, suspect: 0 },
      // due on 1 December
      inspectionsOnTime: { count: 1, of: 1, rate: 1 },
    });
    expect(a.links.trapped).toBe(`/api/v1/alerts?type=elevator.trapped&maintenanceUnitId=mu-a&${SPAN}`);
    expect(a.links.visits).toBe(`/api/v1/maintenance-visits?unitId=mu-a&${SPAN}`);
    expect(rowOf(res.body.items, 'mu-b')).toMatchObject({
      name: '博远维保', elevators: 1,
      // the unit acknowledged at 5 minutes (the property company's 1 minute is not its response)
      response: { count: 0, of: 1, rate: 0 },
      // arrived at 50 of the rural site's 60 minutes
      arrival: { count: 1, of: 1, rate: 1 }, averageArrival: { ms: 50 * MIN, of: 1 }, averageRescue: { ms: 70 * MIN, of: 1 },
      faultsPerElevator: { count: 0, of: 1, rate: 0 }, trappedPerElevator: { count: 1, of: 1, rate: 1 },
      // due on 1 June, already passed
      inspectionsOnTime: { count: 0, of: 1, rate: 0 },
      visits: { valid: 0, suspect: 1 },
    });
    // the links list what the figures count
    const trapped = await get(a.links.trapped, tokens.msa);
    expect(trapped.body.items.map((x: Json) => [x.deviceId, x.type])).toEqual([['lift-u', 'elevator.trapped']]);
    const visits = await get(a.links.visits, tokens.msa);
    expect(visits.status).toBe(200);
    expect(visits.body.items.map((x: Json) => [x.deviceId, x.valid])).toEqual([['lift-u', true]]);
    expect(rowOf(res.body.items, 'mu-e')).toMatchObject({ elevators: 0, response: { of: 0, rate: null }, faultsPerElevator: { count: 0, of: 0, rate: null } });
  });

  it('a bad period is a 400 naming the period', async () => {
    for (const bad of ['2025-13', '2025-Q5', 'june', '']) {
      const res = await get(`/api/v1/scorecards/maintenance-units?period=${bad}`, tokens.msa);
      expect(res.status, bad).toBe(400);
      expect(res.body.error.code).toBe('GW_BAD_REQUEST');
      expect(res.body.error.details[0].path).toBe('period');
    }
    expect((await get('/api/v1/scorecards/companies', tokens.msa)).body.error.details[0].path).toBe('period');
  });

  it('a quarter holds the month', async () => {
    const res = await get('/api/v1/scorecards/maintenance-units?period=2025-Q2', tokens.msa);
    expect(res.body.period).toMatchObject({ kind: 'quarter', from: Date.UTC(2025, 2, 31, 16), to: TO });
    expect(rowOf(res.body.items, 'mu-a').response).toEqual({ count: 1, of: 1, rate: 1 });
    // nothing in May
    const may = await get('/api/v1/scorecards/maintenance-units?period=2025-05', tokens.msa);
    expect(rowOf(may.body.items, 'mu-a').trappedPerElevator.count).toBe(0);
  });

  it('a unit sees its own row; a property company and the fire service none', async () => {
    const own = await get(`/api/v1/scorecards/maintenance-units?period=${PERIOD}`, tokens.mua);
    expect(own.body.items.map((r: Json) => r.id)).toEqual(['mu-a']);
    for (const token of [tokens.coa, tokens.fire]) {
      const res = await get(`/api/v1/scorecards/maintenance-units?period=${PERIOD}`, token);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('GW_FORBIDDEN');
    }
  });

  it('a street sees the units active in its area, with figures over its sites', async () => {
    const res = await get(`/api/v1/scorecards/maintenance-units?period=${PERIOD}`, tokens.street);
    expect(res.body.items.map((r: Json) => r.id)).toEqual(['mu-a', 'mu-c', 'mu-d']);
    expect(rowOf(res.body.items, 'mu-a').response).toEqual({ count: 1, of: 1, rate: 1 });
  });
});

describe('property company scorecards', () => {
  it('one row per company with the hand-computed figures', async () => {
    const res = await get(`/api/v1/scorecards/companies?period=${PERIOD}`, tokens.msa);
    expect(res.status).toBe(200);
    expect(res.body.items.map((r: Json) => r.id)).toEqual(['co-a', 'co-b']);
    expect(rowOf(res.body.items, 'co-a')).toMatchObject({
      name: '安居物业', sites: 1,
      // the trapped alert (resolved at 25 of 30 minutes) and the door fault (resolved at 1 h of 48)
      alerts: 2, closedInTime: { count: 2, of: 2, rate: 1 }, overdue: { count: 0, of: 2, rate: 0 },
      incidents: { trapped: 1, fires: 0, total: 1 },
      // lift-u, lift-c and lift-d are connected
      online: { count: 3, of: 3, rate: 1 }, coverage: { count: 1, of: 1, rate: 1 },
      // its order is due at the end of the year
      ordersOverdue: { count: 0, of: 1, rate: 0 },
    });
    expect(rowOf(res.body.items, 'co-b')).toMatchObject({
      // resolved at 70 of 30 minutes
      alerts: 1, closedInTime: { count: 0, of: 1, rate: 0 }, overdue: { count: 1, of: 1, rate: 1 },
      incidents: { trapped: 1, fires: 0, total: 1 }, online: { count: 1, of: 1, rate: 1 },
      // due 2 hours after it was issued, never answered
      ordersOverdue: { count: 1, of: 1, rate: 1 },
    });
    expect(rowOf(res.body.items, 'co-a').links.orders).toBe('/api/v1/orders?targetType=company&targetId=co-a');
    // the alerts counted are those its link lists
    const listed = await get(rowOf(res.body.items, 'co-a').links.alerts, tokens.msa);
    expect(listed.body.items.map((x: Json) => x.type).sort()).toEqual(['elevator.door_open_fault', 'elevator.trapped']);
    const orders = await get(rowOf(res.body.items, 'co-b').links.orders, tokens.msa);
    expect(orders.body.items.map((o: Json) => [o.targetId, o.state])).toEqual([['co-b', 'overdue']]);
  });

  it('a property company sees only its own row; a unit none', async () => {
    const own = await get(`/api/v1/scorecards/companies?period=${PERIOD}`, tokens.cob);
    expect(own.body.items.map((r: Json) => r.id)).toEqual(['co-b']);
    expect((await get(`/api/v1/scorecards/companies?period=${PERIOD}`, tokens.mua)).status).toBe(403);
    // the fire service reads the companies
    expect((await get(`/api/v1/scorecards/companies?period=${PERIOD}`, tokens.fire)).body.items).toHaveLength(2);
  });

  it('a street sees the companies of its area only', async () => {
    const res = await get(`/api/v1/scorecards/companies?period=${PERIOD}`, tokens.street);
    expect(res.body.items.map((r: Json) => r.id)).toEqual(['co-a']);
  });
});

describe('ranking (红黑榜)', () => {
  it('red and black lists from the scores, ties by name, the unranked left out', async () => {
    // scores (weights 25 response, 25 arrival, 20 maintenance, 10 inspections, 5 genuine visits, 10 faults, 5 trapped):
    // mu-a: 25 + 25 + 20 + 10 + 5 + 10·1/2 + 5·1/2 = 92.5 of 100
    // mu-b: 0 + 25 + 20 + 0 + 0 + 10 + 5·1/2 = 57.5 of 100
    // mu-c, mu-d: maintenance 20, faults 10, trapped 5 = 35 of 35 = 100; mu-e: no data
    const res = await get(`/api/v1/rankings/maintenance-units?period=${PERIOD}&red=2&black=1`, tokens.msa);
    expect(res.status).toBe(200);
    expect(res.body.ranked).toBe(4);
    expect(res.body.unranked).toBe(1);
    expect(res.body.red.map((p: Json) => [p.place, p.name, p.score])).toEqual([[1, '成功电梯', 100], [2, '大华电梯', 100]]);
    expect(res.body.black.map((p: Json) => [p.place, p.name, p.score])).toEqual([[4, '博远维保', 57.5]]);
    expect(res.body.black[0].figures.response).toEqual({ count: 0, of: 1, rate: 0 });
    // the configured sizes (5 and 5) of 4 ranked: all four red, none black
    const dflt = await get(`/api/v1/rankings/maintenance-units?period=${PERIOD}`, tokens.msa);
    expect(dflt.body.red.map((p: Json) => p.id)).toEqual(['mu-c', 'mu-d', 'mu-a', 'mu-b']);
    expect(dflt.body.black).toEqual([]);
    const worst = await get(`/api/v1/rankings/maintenance-units?period=${PERIOD}&red=0&black=100`, tokens.msa);
    expect(worst.body.black.map((p: Json) => p.id)).toEqual(['mu-b', 'mu-a', 'mu-c', 'mu-d']);
  });

  it('companies: the same rules', async () => {
    // co-a: closed in time 1·35, orders in time 1·20, incidents 1 per site 1/2·20, online 1·15, coverage 1·10 = 90 of 100
    // co-b: 0·35 + 0·20 + 10 + 15 + 10 = 35 of 100
    const res = await get(`/api/v1/rankings/companies?period=${PERIOD}&red=1&black=1`, tokens.msa);
    expect(res.body.red.map((p: Json) => [p.id, p.score])).toEqual([['co-a', 90]]);
    expect(res.body.black.map((p: Json) => [p.id, p.score])).toEqual([['co-b', 35]]);
  });

  it('bad sizes are 400; a property company or a unit may not rank', async () => {
    for (const q of ['red=-1', 'black=101', 'red=x', 'red=1.5']) {
      const res = await get(`/api/v1/rankings/companies?period=${PERIOD}&${q}`, tokens.msa);
      expect(res.status, q).toBe(400);
      expect(res.body.error.code).toBe('GW_BAD_REQUEST');
    }
    expect((await get(`/api/v1/rankings/companies?period=${PERIOD}`, tokens.coa)).status).toBe(403);
    expect((await get(`/api/v1/rankings/maintenance-units?period=${PERIOD}`, tokens.mua)).status).toBe(403);
  });
});

describe('reports (季度通报)', () => {
  const download = async (path: string, token: string) => {
    const res = await fetch(t.httpUrl + path, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
  };

  it('XLSX with a sheet per section, readable by exceljs', async () => {
    const res = await download(`/api/v1/reports?period=${PERIOD}&format=xlsx`, tokens.msa);
    expect(res.status).toBe(200);
    expect(res.type).toContain('spreadsheetml');
    const { default: ExcelJS } = await import('exceljs');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(res.body as unknown as ArrayBuffer);
    expect(wb.worksheets.map((w) => w.name)).toEqual(['说明', '维保单位考核', '物业企业考核', '整改通知', '安全事件']);
    const units = wb.getWorksheet('维保单位考核')!;
    expect(units.getRow(1).getCell(1).value).toBe('维保单位 / Maintenance unit');
    expect(units.getRow(2).values).toEqual(expect.arrayContaining(['安达电梯', 'mu-a']));
    // the rate as a fraction, formatted as a percent: mu-b's response 0 of 1
    const header = (units.getRow(1).values as unknown[]).indexOf('3分钟响应率 / 3-min response rate');
    expect(units.getRow(3).getCell(header).value).toBe(0);
    expect(units.getRow(2).getCell(header).value).toBe(1);
    const orders = wb.getWorksheet('整改通知')!;
    // both orders, by the names of their targets
    expect([orders.getRow(2).getCell(2).value, orders.getRow(3).getCell(2).value].sort()).toEqual(['安居物业', '百汇物业']);
    const incidents = wb.getWorksheet('安全事件')!;
    // two trapped incidents
    expect(incidents.rowCount).toBe(3);
    expect(incidents.getRow(2).getCell(3).value).toBe('南山花园');
  });

  it('CSV of one section, bilingual headers, in scope', async () => {
    const res = await download(`/api/v1/reports?period=${PERIOD}&format=csv&section=companies`, tokens.cob);
    expect(res.status).toBe(200);
    const text = res.body.toString('utf8').replace(/^\uFEFF/, '');
    const lines = text.trim().split('\r\n');
    expect(lines[0]).toMatch(/^物业企业 \/ Property company,编号 \/ Id,/);
    // only its own row: 百汇物业, 1 site, 1 alert, 0 closed in time
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^百汇物业,co-b,1,1,0,0\.0,1,1,1,1,0,100\.0,100\.0\r?$/);
    // a property company has no unit section; CSV needs a section
    expect((await download(`/api/v1/reports?period=${PERIOD}&format=csv&section=units`, tokens.cob)).status).toBe(403);
    expect((await download(`/api/v1/reports?period=${PERIOD}&format=csv`, tokens.cob)).status).toBe(400);
  });
});

describe('documentation', () => {
  it('every scorecard route is in the OpenAPI description', async () => {
    const res = await get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    for (const path of ['/api/v1/scorecards/maintenance-units', '/api/v1/scorecards/companies', '/api/v1/rankings/maintenance-units', '/api/v1/rankings/companies', '/api/v1/reports']) {
      expect(res.body.paths[path]?.get?.tags, path).toEqual(['supervision']);
    }
  });
});

describe('public ranking', () => {
  it('is not there unless the installation publishes it', async () => {
    const res = await fetch(`${t.httpUrl}/public/rankings?period=${PERIOD}`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(404);
  });

  it('is a page without login when enabled, with names and figures only', async () => {
    const pub = await startTestGateway({ supervision: { ranking: { public: true, red: 1, black: 1 } }, alerts: { schedules: { runAtStart: false } } });
    try {
      await pub.api('POST', '/api/v1/maintenance-units', { id: 'mu-x', name: '信达电梯', phone: '400-800-0001' });
      await pub.api('POST', '/api/v1/sites', { id: 'site-x', name: '西湖苑', companyId: 'co-x' });
      await pub.api('POST', '/api/v1/devices', { id: 'lift-x', kind: 'elevator', siteId: 'site-x', maintenanceUnitId: 'mu-x' });
      const month = new Date().toISOString().slice(0, 7);
      const json = await fetch(`${pub.httpUrl}/public/rankings?period=${month}&kind=maintenance-units`, { headers: { accept: 'application/json' } });
      expect(json.status).toBe(200);
      const body = await json.json() as Json;
      expect(body).toMatchObject({ kind: 'maintenance-units', period: month, ranked: 1 });
      expect(body.red).toEqual([{ place: 1, name: '信达电梯', score: expect.any(Number), figures: expect.objectContaining({ elevators: '1' }) }]);
      // no ids, no links into the API
      expect(JSON.stringify(body)).not.toMatch(/mu-x|\/api\/v1/);
      const html = await fetch(`${pub.httpUrl}/public/rankings?period=${month}&kind=companies`);
      expect(html.status).toBe(200);
      expect(html.headers.get('content-type')).toContain('text/html');
      expect(html.headers.get('content-security-policy')).toContain("script-src 'none'");
      expect(await html.text()).toContain('红黑榜');
      const bad = await fetch(`${pub.httpUrl}/public/rankings?period=2025-13`, { headers: { accept: 'application/json' } });
      expect(bad.status).toBe(400);
      // 20 requests a minute per address: 25 more in a burst meet the limit (a token comes back every 3 s)
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++) statuses.push((await fetch(`${pub.httpUrl}/public/rankings?period=${month}`, { headers: { accept: 'application/json' } })).status);
      expect(statuses.slice(0, 15).every((s) => s === 200)).toBe(true);
      expect(statuses.at(-1)).toBe(429);
    } finally {
      await pub.dispose();
    }
  });
});
