/**
 * Notifications end to end: alerts raised by real devices through the real gateway reach the people
 * of each party by the providers' documented APIs (local servers that check every signature,
 * tests/harness/providers.ts), on the alert clock. Negative checks are made at the instant the
 * message would have gone, once the outbox has settled (`outbox.idle()`), never after a sleep.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../alerts/index.js';
import { startProviders, type FakeProviders, type ReceivedRequest } from './harness/providers.js';
import { startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { account, addDevice, event, telemetry, NORMAL, type TestDevice } from './harness/alerts.js';

const MIN = 60_000;
let p: FakeProviders;
let t: TestGateway;
let clock: ManualClock;

type Row = { channel: string; recipient: string; recipientName: string; reason: string; attempt: number; result: string; detail?: string; at: number };

const deliveries = async (alertId: number, token?: string): Promise<Row[]> => {
  const res = await t.api('GET', `/api/v1/alerts/${alertId}/deliveries`, undefined, token);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items as Row[];
};
const settle = () => t.gw.notifications.outbox.idle();
/** Moves the alert clock (due checks run at once) and waits for the outbox. */
const advance = async (ms: number) => { clock.advance(ms); await settle(); };
const got = (provider: ReceivedRequest['provider'], since: number) => p.received.slice(since).filter((r) => r.provider === provider);
const smsParams = (r: ReceivedRequest) => JSON.parse(r.query.TemplateParam ?? '{}') as Record<string, string>;

let n = 0;
/** A company with a site, an elevator with its maintenance unit (24 h phone), and contacts for both parties. */
async function estate(opts: { unitPhone?: string } = {}): Promise<{ lift: TestDevice; company: string; unit: string }> {
  const k = ++n;
  const company = `nco-${k}`, unit = `nmu-${k}`, siteId = `nsite-${k}`;
  expect((await t.api('POST', '/api/v1/companies', { id: company, name: `阳光物业${k}` })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/maintenance-units', { id: unit, name: `迅达维保${k}`, phone: opts.unitPhone ?? '075512345678' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/sites', { id: siteId, name: `阳光小区${k}`, companyId: company })).status).toBe(201);
  const lift = await addDevice(t, 'elevator', { siteId, companyId: company, unitId: unit, extra: { location: `${k}号楼东梯` } });
  await telemetry(lift, NORMAL.elevator!);
  return { lift, company, unit };
}

async function contact(body: Record<string, unknown>): Promise<string> {
  const res = await t.api('POST', '/api/v1/contacts', body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

async function trapped(d: TestDevice): Promise<number> {
  await event(d, { type: 'fault', fault: 'trapped', levelled: true });
  const res = await t.api('GET', `/api/v1/alerts?deviceId=${d.id}&type=elevator.trapped`);
  return res.body.items[0].id as number;
}

beforeAll(async () => {
  p = await startProviders();
  const c = p.credentials;
  clock = new ManualClock(Date.now());
  t = await startTestGateway({
    alerts: { schedules: { runAtStart: false } },
    notifications: {
      mergeWindowMs: MIN,
      retry: { initialMs: 1000, maxMs: 1000, maxAttempts: 3 },
      channels: {
        robots: { 值班群: { kind: 'wecom', url: `${p.url}/cgi-bin/webhook/send?key=${c.wecomKey}` } },
        sms: { provider: 'aliyun', endpoint: p.url, aliyun: { ...c.aliyun, signName: '阳光物业', templateCode: 'SMS_123456789' } },
        voice: { provider: 'tencent', endpoint: p.url, tencent: { ...c.tencent, templateId: '99001', voiceSdkAppId: '1400000002' } },
        email: { host: '127.0.0.1', port: p.smtpPort, secure: false, requireTls: false, user: c.smtp.user, pass: c.smtp.pass, from: '社区物联网 <alerts@example.com>' },
        timeoutMs: '2s',
      },
    },
  }, {}, { clock });
});
afterAll(async () => {
  await t?.dispose();
  await p?.close();
});

describe('who hears of an alert', () => {
  it('the property company\'s duty officer gets the trapped-passenger alert by robot and SMS, signed, with names and the link; the log says so', async () => {
    const { lift, company } = await estate();
    await contact({ party: `property/${company}`, name: '王值班', phone: '13812345678', robots: ['值班群'], rules: [{ channels: ['wecom', 'sms'] }] });
    const since = p.received.length;
    const id = await trapped(lift);
    await settle();
    const [robot] = got('wecom', since);
    expect(robot, JSON.stringify(p.rejected)).toBeDefined();
    const markdown = (robot!.body as { markdown: { content: string } }).markdown.content;
    expect(markdown).toContain('困人');
    expect(markdown).toContain(`${n}号楼东梯`);
    expect(markdown).toContain(`/#/alerts/${id}`);
    const [sms] = got('aliyun', since);
    expect(sms!.query.PhoneNumbers).toBe('13812345678');
    expect(smsParams(sms!)).toMatchObject({ site: `阳光小区${n}`, location: `${n}号楼东梯` });
    expect(smsParams(sms!).alert).toContain('困人');
    const log = await deliveries(id);
    expect(log.map((r) => [r.channel, r.result, r.reason])).toEqual(expect.arrayContaining([['wecom', 'sent', 'raised'], ['sms', 'sent', 'raised']]));
    expect(log.find((r) => r.channel === 'sms')!.recipient).toBe('138****5678');
    expect(p.rejected).toEqual([]);
  });

  it('each party sees the log of its own people only; another company does not see the alert', async () => {
    const { lift, company, unit } = await estate();
    await contact({ party: `property/${company}`, name: '李值班', phone: '13900000001', rules: [{ channels: ['sms'] }] });
    await contact({ party: `maintenance/${unit}`, name: '赵工', email: 'zhao@example.com', rules: [{ channels: ['email'] }] });
    const id = await trapped(lift);
    await settle();
    const prop = await account(t, `nprop-${n}`, 'property', company);
    const maint = await account(t, `nmaint-${n}`, 'maintenance', unit);
    const other = await account(t, `nother-${n}`, 'property', 'nco-1');
    expect((await deliveries(id, prop)).map((r) => r.recipientName)).toEqual(['李值班']);
    const mail = await deliveries(id, maint);
    expect(mail.map((r) => [r.recipientName, r.channel, r.recipient])).toEqual([['赵工', 'email', 'z***@example.com']]);
    expect((await t.api('GET', `/api/v1/alerts/${id}/deliveries`, undefined, other)).status).toBe(404);
    // the e-mail itself: Chinese first, then English
    const sent = await waitFor(() => got('smtp', 0).find((r) => JSON.stringify(r.body).includes('zhao@example.com')));
    expect(JSON.stringify(sent.body)).toContain('困人');
  });
});

describe('when nobody acts', () => {
  it('trapped passengers not acknowledged by the maintenance unit: a voice call to its 24 h phone at 3 min, not before', async () => {
    const { lift } = await estate({ unitPhone: '075588886666' });
    const since = p.received.length;
    const id = await trapped(lift);
    const opened = clock.now();
    await advance(3 * MIN - 1);
    expect((await deliveries(id)).filter((r) => r.reason === 'trapped_unit_call')).toEqual([]);
    await advance(1);
    // this unit's phone: the other tests' units were not called back either, and are called now too
    const calls = got('tencent', since).filter((r) => r.headers['x-tc-action'] === 'SendTtsVoice' && (r.body as { CalledNumber: string }).CalledNumber === '+8675588886666');
    expect(calls).toHaveLength(1);
    const log = (await deliveries(id)).filter((r) => r.reason === 'trapped_unit_call');
    expect(log).toMatchObject([{ channel: 'voice', result: 'sent', attempt: 1 }]);
    expect(log[0]!.at).toBe(opened + 3 * MIN);
    // once only
    await advance(10 * MIN);
    expect((await deliveries(id)).filter((r) => r.reason === 'trapped_unit_call')).toHaveLength(1);
  });

  it('acknowledged by the unit within 3 min: nobody is called', async () => {
    const { lift, unit } = await estate({ unitPhone: '075511112222' });
    const maint = await account(t, `nmaint-ack-${n}`, 'maintenance', unit);
    const id = await trapped(lift);
    await advance(2 * MIN);
    expect((await t.api('POST', `/api/v1/alerts/${id}/acknowledge`, { note: '已出发' }, maint)).status).toBe(200);
    await advance(MIN);
    expect((await deliveries(id)).filter((r) => r.reason === 'trapped_unit_call')).toEqual([]);
  });

  it('a critical alert the property company does not acknowledge moves down its on-call list: SMS in turn, then voice calls, then stops', async () => {
    const { lift, company } = await estate();
    await contact({ party: `property/${company}`, name: '一号值班', phone: '13811110001', onCall: 1 });
    await contact({ party: `property/${company}`, name: '二号值班', phone: '13811110002', onCall: 2 });
    const id = await trapped(lift);
    const steps = async () => (await deliveries(id)).filter((r) => r.reason === 'on_call').map((r) => `${r.channel}:${r.recipientName}`);
    await advance(5 * MIN - 1);
    expect(await steps()).toEqual([]);
    await advance(1);
    expect(await steps()).toEqual(['sms:一号值班']);
    await advance(5 * MIN);
    expect(await steps()).toEqual(['sms:一号值班', 'sms:二号值班']);
    await advance(10 * MIN);
    expect(await steps()).toEqual(['sms:一号值班', 'sms:二号值班', 'voice:一号值班', 'voice:二号值班']);
    await advance(30 * MIN);
    expect(await steps()).toHaveLength(4);
  });

  it('the chain stops when the party acknowledges', async () => {
    const { lift, company } = await estate();
    await contact({ party: `property/${company}`, name: '甲', phone: '13822220001', onCall: 1 });
    await contact({ party: `property/${company}`, name: '乙', phone: '13822220002', onCall: 2 });
    const prop = await account(t, `nprop-chain-${n}`, 'property', company);
    const id = await trapped(lift);
    await advance(5 * MIN);
    expect((await t.api('POST', `/api/v1/alerts/${id}/acknowledge`, { note: '收到' }, prop)).status).toBe(200);
    await advance(30 * MIN);
    expect((await deliveries(id)).filter((r) => r.reason === 'on_call').map((r) => r.recipientName)).toEqual(['甲']);
  });
});

describe('pacing', () => {
  it('a burst of lesser alerts for one person is merged into one message after the window, not dropped', async () => {
    const { company } = await estate();
    const siteId = `nsite-${n}`;
    await contact({ party: `property/${company}`, name: '排水值班', phone: '13833330001', rules: [{ channels: ['sms'], types: ['drainage.pump_fault'] }] });
    const pumps = await Promise.all([1, 2, 3].map((i) => addDevice(t, 'drainage', { id: `nsump-${n}-${i}`, siteId, companyId: company })));
    const since = p.received.length;
    const ids: number[] = [];
    for (const pump of pumps) {
      await event(pump, { type: 'pump_fault', pump: 'P1' });
      await settle();
      ids.push((await t.api('GET', `/api/v1/alerts?deviceId=${pump.id}&type=drainage.pump_fault`)).body.items[0].id as number);
    }
    const mine = () => got('aliyun', since).filter((r) => r.query.PhoneNumbers === '13833330001');
    // the first goes at once; the next two wait for the window and join one message
    expect(mine()).toHaveLength(1);
    // the second waits for the window (nothing to log yet); the third joins it
    expect((await deliveries(ids[1]!)).map((r) => r.result)).toEqual([]);
    expect((await deliveries(ids[2]!)).map((r) => r.result)).toEqual(['merged']);
    await advance(MIN - 1);
    expect(mine()).toHaveLength(1);
    await advance(1);
    const sent = got('aliyun', since).filter((r) => r.query.PhoneNumbers === '13833330001');
    expect(sent).toHaveLength(2);
    expect(smsParams(sent[1]!).alert).toContain('等2条');
    expect((await deliveries(ids[1]!)).map((r) => r.result)).toEqual(['sent']);
    expect((await deliveries(ids[2]!)).map((r) => r.result)).toEqual(['merged', 'sent']);
  });

  it('quiet hours hold a lesser alert until they end; a critical one goes at once', async () => {
    const { lift, company } = await estate();
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    const hhmm = (ms: number) => local.format(ms);
    // quiet from now (local) for the next 2 hours
    const from = hhmm(clock.now() - MIN), to = hhmm(clock.now() + 2 * 60 * MIN);
    await contact({ party: `property/${company}`, name: '夜班', phone: '13844440001', rules: [{ channels: ['sms'] }], quietHours: { from, to } });
    const since = p.received.length;
    await event(lift, { type: 'ebike_detected' });
    await settle();
    const ebike = (await t.api('GET', `/api/v1/alerts?deviceId=${lift.id}&type=elevator.ebike`)).body.items[0];
    expect(ebike.severity).not.toBe('critical');
    expect((await deliveries(ebike.id)).map((r) => r.result)).toEqual(['quiet']);
    expect(got('aliyun', since)).toHaveLength(0);
    const id = await trapped(lift);
    await settle();
    expect((await deliveries(id)).map((r) => r.result)).toContain('sent');
    expect(got('aliyun', since)).toHaveLength(1);
    await advance(2 * 60 * MIN + MIN);
    expect((await deliveries(ebike.id)).map((r) => r.result)).toEqual(['quiet', 'sent']);
  });

  it('a provider that fails is retried with backoff and never holds up the alert; the log shows each attempt', async () => {
    const { lift, company } = await estate();
    await contact({ party: `property/${company}`, name: '重试', phone: '13855550001', rules: [{ channels: ['sms'] }] });
    p.failNext('aliyun', 2, { status: 503 });
    const id = await trapped(lift);
    // the alert is there whatever the provider does
    expect((await t.api('GET', `/api/v1/alerts/${id}`)).status).toBe(200);
    await settle();
    await advance(1000);
    await advance(1000);
    const log = (await deliveries(id)).filter((r) => r.channel === 'sms');
    expect(log.map((r) => `${r.attempt}:${r.result}`)).toEqual(['1:failed', '2:failed', '3:sent']);
    const metrics = await (await fetch(`${t.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/gateway_notifications_total\{channel="sms",result="failed"\} [2-9]/);
  });
});
