/**
 * The operator console in a real browser: Debian's headless Chromium driven by
 * playwright-core, against the real gateway with real MQTT devices. Alerts are raised by the
 * devices after the page is open, so they must arrive over the console's live feed. Screenshots go
 * to tests/artifacts/ for a person to look at.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, signInToConsole } from './harness/browser.js';
import type { MqttClient } from 'mqtt';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConsoleLive } from '../dashboards/console/live.js';
import { connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

let t: TestGateway;
let browser: Browser;
const devices: Record<string, MqttClient> = {};
const tokens: Record<string, string> = {};
/** Errors the pages reported (script errors, CSP violations, failed loads): there must be none. */
const pageErrors: string[] = [];

async function account(id: string, role: string, scope?: string): Promise<string> {
  const res = await t.api('POST', '/api/v1/accounts', { id, role, ...(scope ? { scope } : {}) });
  expect(res.status).toBe(201);
  return res.body.token as string;
}

async function device(id: string, kind: string, siteId: string, companyId: string, extra: Record<string, unknown> = {}, connect = true) {
  const secret = await registerDevice(t, { id, kind, siteId, companyId, ...extra });
  if (connect) devices[id] = await connectDevice(t, id, secret);
}

/** A fresh browser context, signed in with `token`, once the list has been read after the live feed opened. */
async function signIn(token: string, viewport = { width: 1280, height: 820 }): Promise<Page> {
  const page = await signInToConsole(browser, t.httpUrl, token, pageErrors, viewport);
  await page.waitForSelector('#alert-list-panel .panel-head');
  return page;
}

/** The actions offered on the open alert, in order. */
const buttons = (page: Page) => page.locator('#alert-detail button[data-action]').evaluateAll((els) => els.map((b) => (b as HTMLElement).dataset.action));
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `console-${name}.png`), fullPage: true });
const text = async (page: Page, selector: string) => (await page.locator(selector).first().textContent())?.trim() ?? '';

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  t = await startTestGateway({ alerts: { schedules: { runAtStart: false } } });
  browser = await launchChromium();
  await device('lift-a1', 'elevator', 'site-a', 'co-a', { maintenanceUnitId: 'unit-a', location: '3号楼 1单元 客梯', building: '3' });
  await device('lift-a2', 'elevator', 'site-a', 'co-a', { maintenanceUnitId: 'unit-a', location: '5号楼 货梯' }, false);
  await device('panel-a1', 'fire_panel', 'site-a', 'co-a', { location: '消防控制室' });
  await device('pump-a1', 'water_pump', 'site-a', 'co-a', { location: '地下二层泵房' });
  await device('lift-b1', 'elevator', 'site-b', 'co-b', { maintenanceUnitId: 'unit-b' });
  tokens.prop = await account('prop-a', 'property', 'co-a');
  tokens.fire = await account('fire-1', 'fire-service');
  // another company's alert, already in the ledger when the property account signs in
  await publish(devices['lift-b1']!, 'devices/lift-b1/events', { type: 'fault', fault: 'overspeed' });
  await waitFor(async () => (await t.api('GET', '/api/v1/alerts?deviceId=lift-b1')).body.items.length === 1);
});

afterAll(async () => {
  for (const c of Object.values(devices)) await c.endAsync();
  await t?.dispose();
  await browser?.close();
});

describe('operator console', () => {
  it('a property account sees its trapped-passenger alert arrive live, opens it and acknowledges it', async () => {
    const page = await signIn(tokens.prop!);
    expect(await text(page, '#who')).toBe('prop-a · 物业 · co-a');
    await page.waitForSelector('#alert-list-panel .empty');
    // from now on the list must not be read again: the alert has to come over the live feed
    const listReads: string[] = [];
    page.on('request', (r) => { if (r.url().includes('/api/v1/alerts?')) listReads.push(r.url()); });

    await publish(devices['lift-a1']!, 'devices/lift-a1/events', { type: 'fault', fault: 'trapped', levelled: false });
    const row = page.locator('li.alert-row[data-type="elevator.trapped"]');
    await row.waitFor({ timeout: 10_000 });
    expect(listReads).toEqual([]);
    expect(await row.getAttribute('data-device')).toBe('lift-a1');
    expect(await row.locator('.sev-badge').textContent()).toBe('紧急');
    expect(await row.locator('.alert-title').textContent()).toContain('电梯困人');
    expect(await row.locator('.state-badge').textContent()).toBe('待处理');
    // the acknowledge countdown (3 min for a trapped passenger) is running
    expect(await row.locator('.deadline').textContent()).toMatch(/^确认 剩余 0[23]:\d\d$/);
    // the other company's alert is not in this account's list
    expect(await page.locator('li.alert-row[data-device="lift-b1"]').count()).toBe(0);
    await shot(page, 'alerts-live');

    await row.locator('a').click();
    await page.waitForSelector('#alert-detail[data-state="open"]');
    expect(await text(page, '#alert-detail ol.history li[data-action="raised"] .history-action')).toBe('告警产生');

    // only what the gateway would accept: no 销号 (close) while open, nor ever for an alert market supervision received;
    // 到场 (the maintenance unit on site) only on a trapped-passenger alert
    expect(await buttons(page)).toEqual(['acknowledge', 'arrive', 'dispatch', 'resolve']);
    expect(await page.getAttribute('#alert-detail button[data-action="acknowledge"]', 'class')).toContain('primary');

    await page.fill('#note', '已联系维保单位赶赴现场 / unit on its way');
    await page.click('#alert-detail button[data-action="acknowledge"]');
    await page.waitForSelector('#alert-detail[data-state="acknowledged"]');
    await page.waitForSelector('#action-result.ok');
    const ack = page.locator('#alert-detail ol.history li[data-action="acknowledged"]');
    expect(await ack.locator('.history-actor').textContent()).toBe('prop-a');
    expect(await ack.locator('.history-note').textContent()).toBe('已联系维保单位赶赴现场 / unit on its way');
    expect(await row.locator('.state-badge').textContent()).toBe('已确认');
    // the acknowledge deadline was met; the list now counts down to the resolve deadline
    expect(await text(page, '#alert-detail .facts .deadline')).toBe('已按时完成');
    expect(await row.locator('.deadline').textContent()).toMatch(/^处置 剩余 (29|30):\d\d$/);
    await shot(page, 'alert-detail');

    const id = Number(await row.getAttribute('data-id'));
    const stored = await t.api('GET', `/api/v1/alerts/${id}`);
    expect(stored.body.state).toBe('acknowledged');
    expect(stored.body.history.at(-1)).toMatchObject({ actor: 'prop-a', action: 'acknowledged', note: '已联系维保单位赶赴现场 / unit on its way' });

    // the same page on a phone: one column, the detail in place of the list
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.locator('#alert-list-panel').isVisible()).toBe(false);
    await shot(page, 'alert-detail-narrow');
    await page.context().close();
  });

  it('a fire-service account sees fire alarms, not elevator alerts', async () => {
    const page = await signIn(tokens.fire!);
    expect(await text(page, '#who')).toBe('fire-1 · 消防救援');
    // an elevator alert and then a fire alarm, both raised while the page is open
    await publish(devices['lift-a1']!, 'devices/lift-a1/events', { type: 'alarm_button' });
    await publish(devices['panel-a1']!, 'devices/panel-a1/events', { type: 'fire_alarm', zone: 'Z3', point: '3-12' });
    const fire = page.locator('li.alert-row[data-type="fire.alarm"]');
    await fire.waitFor({ timeout: 10_000 });
    expect(await fire.locator('.alert-title').textContent()).toContain('火灾报警');
    // the elevator alerts exist (the admin sees them) but are not this account's
    const all = (await t.api('GET', '/api/v1/alerts?limit=1000')).body.items as Array<{ deviceKind: string }>;
    expect(all.filter((a) => a.deviceKind === 'elevator').length).toBeGreaterThanOrEqual(3);
    expect(await page.locator('li.alert-row[data-type^="elevator."]').count()).toBe(0);
    expect(await page.locator('li.alert-row').count()).toBe(1);
    // an unconfirmed fire alarm: the fire service may acknowledge, confirm or dismiss it, not dispatch or resolve
    await fire.locator('a').click();
    await page.waitForSelector('#alert-detail button[data-action="confirm"]');
    expect(await buttons(page)).toEqual(['acknowledge', 'confirm', 'dismiss']);
    expect(await text(page, '#alert-detail .facts')).toContain('未核实');
    await shot(page, 'fire-service');
    // devices: fire equipment only
    await page.click('#app-nav a[data-view="devices"]');
    await page.waitForSelector('tr.device-row');
    expect(await page.locator('tr.device-row').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id))).toEqual(['panel-a1']);
    await page.context().close();
  });

  it('the language switch turns every label to English and back, and is remembered', async () => {
    const page = await signIn(tokens.prop!);
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    expect(await page.locator('#app-nav a:visible').allTextContents()).toEqual(['告警', '设备', '概览', '小区', '单位', '导入导出', '维保记录', '整改通知', '考核排名']);
    await page.locator('li.alert-row[data-type="elevator.trapped"] a').click();
    await page.waitForSelector('#alert-detail');

    await page.click('#lang-toggle');
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    expect(await page.locator('#app-nav a:visible').allTextContents()).toEqual(['Alerts', 'Devices', 'Overview', 'Sites', 'Organisations', 'Import / export', 'Maintenance visits', 'Rectification orders', 'Scorecards and ranking']);
    expect(await text(page, '#sign-out')).toBe('Sign out');
    expect(await text(page, '#lang-toggle')).toBe('中文');
    expect(await text(page, '#live')).toBe('Live');
    expect(await text(page, '#who')).toBe('prop-a · Property company · co-a');
    const row = page.locator('li.alert-row[data-type="elevator.trapped"]');
    expect(await row.locator('.alert-title').textContent()).toContain('Passengers trapped in elevator');
    expect(await row.locator('.sev-badge').textContent()).toBe('Critical');
    expect(await row.locator('.state-badge').textContent()).toBe('Acknowledged');
    expect(await page.locator('#alert-detail button[data-action]').allTextContents()).toEqual(['Arrived on site', 'Dispatch', 'Resolve']);
    expect(await text(page, '#alert-detail ol.history li[data-action="acknowledged"] .history-action')).toBe('Acknowledged');
    // no label is left in Chinese: only data (site names, locations, notes) may be
    const leftovers = await page.evaluate(() => {
      const labels = [...document.querySelectorAll('[data-i18n], .sev-badge, .state-badge, .history-action, .facts dt, h2, h3, button, th, label, .deadline, .age')];
      return labels.map((el) => el.textContent ?? '').filter((s) => /[\u4e00-\u9fff]/.test(s));
    });
    expect(leftovers).toEqual(['中文']);
    await shot(page, 'english');

    // remembered across a reload (and the session too: the token is in sessionStorage)
    await page.reload();
    await page.waitForSelector('#live[data-state="live"]');
    expect(await page.locator('#app-nav a:visible').allTextContents()).toEqual(['Alerts', 'Devices', 'Overview', 'Sites', 'Organisations', 'Import / export', 'Maintenance visits', 'Rectification orders', 'Scorecards and ranking']);
    await page.click('#lang-toggle');
    expect(await page.locator('#app-nav a:visible').allTextContents()).toEqual(['告警', '设备', '概览', '小区', '单位', '导入导出', '维保记录', '整改通知', '考核排名']);
    // signing out forgets the token
    await page.click('#sign-out');
    await page.waitForSelector('#sign-in-form');
    expect(await page.evaluate(() => sessionStorage.getItem('console.token'))).toBeNull();
    await page.context().close();
  });

  it('every label exists in both languages', async () => {
    const { DICTIONARIES } = await import('../dashboards/console/public/js/i18n.js') as { DICTIONARIES: Record<'zh' | 'en', Record<string, string>> };
    expect(Object.keys(DICTIONARIES.en).sort()).toEqual(Object.keys(DICTIONARIES.zh).sort());
    for (const [key, s] of Object.entries(DICTIONARIES.en)) if (key !== 'lang.switch' && key !== 'lang.switchLabel') expect(s, key).not.toMatch(/[\u4e00-\u9fff]/);
  });

  it('the devices view shows online state and latest readings', async () => {
    await publish(devices['pump-a1']!, 'devices/pump-a1/telemetry', {
      inletPressure: 0.18, outletPressure: 0.45, tankLevel: 2.6, pumpsRunning: 2, pumpFault: false, flooded: false, doorOpen: false, turbidity: 0.3, chlorine: 0.4, ph: 7.2,
    });
    await publish(devices['lift-a1']!, 'devices/lift-a1/telemetry', {
      mode: 'normal', running: true, direction: 'up', floor: 5, doorZone: false, door: 'closed', occupied: true, speed: 1.5,
    });
    const page = await signIn(tokens.prop!);
    await page.click('#app-nav a[data-view="devices"]');
    await page.waitForSelector('tr.device-row[data-id="pump-a1"]');
    const ids = await page.locator('tr.device-row').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id).sort());
    expect(ids).toEqual(['lift-a1', 'lift-a2', 'panel-a1', 'pump-a1']);

    const pump = page.locator('tr.device-row[data-id="pump-a1"]');
    expect(await pump.locator('.dev-state').textContent()).toBe('在线');
    expect(await pump.locator('.readings li[data-field="outletPressure"]').textContent()).toBe('出水压力0.45 MPa');
    expect(await pump.locator('.readings li[data-field="pumpsRunning"]').textContent()).toBe('运行泵数2');
    expect(await pump.locator('.readings li[data-field="flooded"]').textContent()).toBe('水淹否');
    expect(await pump.locator('.age').textContent()).toBe('刚刚');
    const lift = page.locator('tr.device-row[data-id="lift-a1"]');
    expect(await lift.locator('.readings li[data-field="floor"]').textContent()).toBe('楼层5');
    expect(await lift.locator('.readings li[data-field="direction"]').textContent()).toBe('方向上行');
    const idle = page.locator('tr.device-row[data-id="lift-a2"]');
    expect(await idle.locator('.dev-state').textContent()).toBe('离线');
    expect(await idle.locator('td').nth(4).textContent()).toBe('从未上报');
    expect(await text(page, '#view-devices .count')).toBe('在线 3 / 共 4');
    await shot(page, 'devices');

    // a device going away shows as offline at the next refresh
    await devices['pump-a1']!.endAsync();
    delete devices['pump-a1'];
    await waitFor(async () => (await t.api('GET', '/api/v1/devices/pump-a1')).body.online === false);
    await page.click('#app-nav a[data-view="overview"]');
    await page.click('#app-nav a[data-view="devices"]');
    await page.waitForFunction(() => document.querySelector('tr.device-row[data-id="pump-a1"] .dev-state')?.textContent === '离线');

    // the overview counts this account's alerts per state and type
    await page.click('#app-nav a[data-view="overview"]');
    await page.waitForSelector('.cards .card[data-state="acknowledged"]');
    expect(await text(page, '.card[data-state="acknowledged"] .card-count')).toBe('1');
    expect(await text(page, 'table.by-type tr[data-type="elevator.trapped"] td')).toBe('电梯困人');
    expect(await page.locator('table.by-type tr[data-type="elevator.overspeed"]').count()).toBe(0);
    await shot(page, 'overview');
    await page.context().close();
  });

  it('ACT-6 the buttons follow the role: a maintenance unit never sees 销号; a refused action shows the gateway\'s reason', async () => {
    tokens.maint = await account('maint-a', 'maintenance', 'unit-a');
    await publish(devices['lift-a1']!, 'devices/lift-a1/events', { type: 'fault', fault: 'door_close_fault' });
    const found = await waitFor(async () => (await t.api('GET', '/api/v1/alerts?deviceId=lift-a1&type=elevator.door_close_fault')).body.items[0]);
    const id = found.id as number;
    // routed to the maintenance unit and the property company only
    expect(found.queues.sort()).toEqual(['maintenance/unit-a', 'property/co-a']);

    const maint = await signIn(tokens.maint!);
    await maint.locator(`li.alert-row[data-id="${id}"] a`).click();
    await maint.waitForSelector('#alert-detail[data-state="open"]');
    expect(await buttons(maint)).toEqual(['acknowledge', 'dispatch', 'resolve']);
    expect((await t.api('POST', `/api/v1/alerts/${id}/resolve`, { note: 'door operator replaced' }, tokens.maint)).status).toBe(200);
    // the live feed brings the change: resolved, which only the property company may close here
    await maint.waitForSelector('#alert-detail[data-state="resolved"]');
    expect(await buttons(maint)).toEqual([]);
    expect(await maint.locator('#alert-detail button', { hasText: '销号' }).count()).toBe(0);
    expect(await text(maint, '#no-actions')).toBe('您对该告警当前没有可执行的操作。');
    await shot(maint, 'maintenance-resolved');
    await maint.context().close();

    const prop = await signIn(tokens.prop!);
    await prop.locator(`li.alert-row[data-id="${id}"] a`).click();
    await prop.waitForSelector('#alert-detail[data-state="resolved"]');
    expect(await buttons(prop)).toEqual(['close']);
    // someone else closes it between the page showing 销号 and the click: the gateway's refusal is shown
    await prop.route(`**/api/v1/alerts/${id}/close`, async (route) => {
      expect((await t.api('POST', `/api/v1/alerts/${id}/close`, { note: 'closed by the duty manager' })).status).toBe(200);
      await route.continue();
    });
    await prop.click('#alert-detail button[data-action="close"]');
    await prop.waitForSelector('#action-result.error');
    expect(await text(prop, '#action-result')).toContain('「销号」只能在「已处置」状态下进行');
    expect(await text(prop, '#action-result .server-reason')).toMatch(/cannot close alert \d+: it is closed/);
    await prop.waitForSelector('#alert-detail[data-state="closed"]');
    await prop.context().close();
  });

  it('a fire device in test mode (测试模式) shows it in the device list, and its alarm shows it in the alert detail', async () => {
    await device('smoke-a1', 'smoke_detector', 'site-a', 'co-a', { location: '3号楼 2单元 楼道' });
    const until = Date.now() + 3_600_000;
    expect((await t.api('PUT', '/api/v1/devices/smoke-a1/test-mode', { until: new Date(until).toISOString(), note: '月度测试' }, tokens.prop)).status).toBe(200);
    await publish(devices['smoke-a1']!, 'devices/smoke-a1/events', { type: 'alarm' });
    const page = await signIn(tokens.prop!);
    const row = page.locator('li.alert-row[data-device="smoke-a1"]');
    await row.locator('a').click();
    await page.waitForSelector('#alert-detail #test-mode');
    expect(await text(page, '#alert-detail #test-mode')).toBe('测试模式下发生（仅记录，未转发消防部门）');
    expect(await text(page, '#alert-detail ol.history li[data-action="raised"] .history-note')).toContain('测试模式');

    await page.click('#app-nav a[data-view="devices"]');
    await page.waitForSelector('tr.device-row[data-id="smoke-a1"][data-test-mode="true"]');
    expect(await text(page, 'tr.device-row[data-id="smoke-a1"] .test-mode .badge')).toBe('测试模式');
    // only the device in test mode says so
    expect(await page.locator('tr.device-row[data-test-mode="true"]').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id))).toEqual(['smoke-a1']);
    await shot(page, 'test-mode');
    await page.context().close();
    expect((await t.api('DELETE', '/api/v1/devices/smoke-a1/test-mode', undefined, tokens.prop)).status).toBe(200);
  });

  it('serves the page and its files with their content types, validators and cache headers; the feed needs a token', async () => {
    const index = await fetch(t.httpUrl + '/');
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    const etag = index.headers.get('etag')!;
    expect((await fetch(t.httpUrl + '/', { headers: { 'if-none-match': etag } })).status).toBe(304);
    for (const [path, type] of [['/js/app.js', 'text/javascript; charset=utf-8'], ['/console.css', 'text/css; charset=utf-8'], ['/index.html', 'text/html; charset=utf-8']]) {
      const res = await fetch(t.httpUrl + path!);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
    const missing = await fetch(t.httpUrl + '/js/nope.js');
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe('GW_NOT_FOUND');
    expect((await fetch(t.httpUrl + '/../package.json')).status).toBe(404);
    const noToken = await fetch(t.httpUrl + '/api/v1/console/stream');
    expect(noToken.status).toBe(401);
    // the summary is scoped like the list: the fire service counts no elevator alerts
    const summary = await t.api('GET', '/api/v1/console/summary', undefined, tokens.fire);
    expect(summary.status).toBe(200);
    expect(Object.keys(summary.body.types)).toEqual(['fire.alarm']);
    // the browser logs every non-2xx response; the one 409 is the close someone else got to first
    expect(pageErrors.filter((e) => !e.includes('status of 409'))).toEqual([]);
  });

  it('the gateway closes promptly while consoles are connected', async () => {
    const page = await signIn(tokens.prop!);
    const started = Date.now();
    await t.stop();
    expect(Date.now() - started).toBeLessThan(5_000);
    await page.waitForSelector('#live[data-state="reconnecting"]');
    await page.context().close();
  });
});

describe('the live feed hub', () => {
  it('sends each change once, only to the accounts that may see it, and ends old streams with `bye`', async () => {
    const live = new ConsoleLive({ now: () => 1_000 }, { heartbeatMs: 50, maxStreams: 2, maxBufferedBytes: 1 << 20, maxAgeMs: 300 });
    const server = createServer((req, res) => {
      const role = new URL(req.url!, 'http://x').searchParams.get('role')!;
      live.open({ id: role, role: role as 'admin' | 'fire-service' }, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      const read = async (role: string) => (await fetch(`${url}?role=${role}`)).text();
      const admin = read('admin');
      const fire = read('fire-service');
      await waitFor(() => live.size === 2);
      expect(live.full).toBe(true);
      const alert = (id: number, deviceKind: string, domain: string) => ({ id, deviceKind, domain, companyId: 'co-a', maintenanceUnitId: 'unit-a', suppressed: false, state: 'open' });
      // one change of an elevator alert, which went to three queues; then a fire alarm confirmed (property: updated, fire service: raised)
      const lift = alert(1, 'elevator', 'elevator');
      live.onChange({ kind: 'raised', at: 500, alert: lift, previous: null, queues: [
        { queue: 'property/co-a', cursor: 7, event: 'raised' }, { queue: 'maintenance/unit-a', cursor: 3, event: 'raised' }, { queue: 'market-supervision', cursor: 9, event: 'raised' },
      ] } as never);
      const fireAlarm = alert(2, 'fire_panel', 'fire');
      live.onChange({ kind: 'updated', at: 600, alert: fireAlarm, previous: fireAlarm, reason: 'confirmed', queues: [
        { queue: 'property/co-a', cursor: 8, event: 'updated' }, { queue: 'fire-service', cursor: 1, event: 'raised' },
      ] } as never);
      const events = (text: string) => text.split('\n\n').filter((f) => f.includes('event: ')).map((f) => {
        const name = /event: (\w+)/.exec(f)![1]!;
        const data = /data: (.*)/.exec(f)?.[1];
        return { name, data: data ? JSON.parse(data) : undefined };
      });
      const a = events(await admin);
      const f = events(await fire);
      expect(a.filter((e) => e.name === 'alert').map((e) => [e.data.alert.id, e.data.event])).toEqual([[1, 'raised'], [2, 'updated']]);
      expect(f.filter((e) => e.name === 'alert').map((e) => [e.data.alert.id, e.data.event, e.data.reason])).toEqual([[2, 'updated', 'confirmed']]);
      for (const got of [a, f]) {
        expect(got[0]).toMatchObject({ name: 'hello', data: { now: 1_000 } });
        expect(got.some((e) => e.name === 'time')).toBe(true);
        expect(got.at(-1)).toMatchObject({ name: 'bye', data: { reason: 'max_age' } });
      }
      expect(live.size).toBe(0);
    } finally {
      live.close();
      await new Promise((r) => server.close(r));
    }
  });
});
