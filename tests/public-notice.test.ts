/**
 * The elevator's public notice (gateway/http/routes/public-notice.ts), registered on a bare Fastify
 * app as the gateway registers it, with fake facts behind `elevator()` shaped like the registry's.
 * The pages are checked in Debian's headless Chromium (playwright-core, never a downloaded browser):
 * the label's QR code is rendered there and decoded with jsQR from the pixels on screen.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './harness/browser.js';
import jsQRModule from 'jsqr';
import { buildHttp } from '../gateway/http/server.js';
import type { HttpDeps } from '../gateway/http/deps.js';
import { createLogger } from '../core/log.js';
import {
  AddressBuckets, addressKey, publicNoticeRoutes, publicState, wantsJson,
  type ElevatorNotice, type NoticeDeps, type PublicState,
} from '../gateway/http/routes/public-notice.js';
import { telHref } from '../dashboards/notice/render.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

// jsQR is a CommonJS bundle: its function is module.exports.default (TypeScript's view) or module.exports itself
type Decode = typeof jsQRModule.default;
const jsQR: Decode = (jsQRModule as unknown as { default?: Decode }).default ?? (jsQRModule as unknown as Decode);

const BASE = 'https://gateway.example.cn/community/';
const LIFT = '31103201002012010001';
const LIFT_NO_RECORDS = '31103201002012010002';
const HOSTILE = '31103201002012010666';
const PUMP = '31103201002012019999';
const NEVER = '31103201002012017777';

const HOSTILE_SITE = '<script>alert(1)</script>"\'&amp;';
const HOSTILE_UNIT = '<img src=x onerror=alert(2)>维保';

/** Registry-shaped rows: what the composition root looks codes up in. */
const devices = [
  { id: 'lift-a1', kind: 'elevator', siteId: 'site-a', companyId: 'co-a', maintenanceUnitId: 'unit-a', registrationCode: LIFT,
    location: '3号楼 1单元 客梯', nextInspectionDue: '2026-03-31' },
  { id: 'lift-a2', kind: 'elevator', siteId: 'site-a', companyId: 'co-a', registrationCode: LIFT_NO_RECORDS },
  { id: 'lift-x', kind: 'elevator', siteId: 'site-x', companyId: 'co-x', maintenanceUnitId: 'unit-x', registrationCode: HOSTILE,
    location: '"><b>3</b>' },
  // not an elevator, yet with a code in its registration field: must look exactly like an unknown code
  { id: 'pump-a1', kind: 'water_pump', siteId: 'site-a', companyId: 'co-a', registrationCode: PUMP },
];
const sites: Record<string, string> = { 'site-a': '幸福里小区', 'site-x': HOSTILE_SITE };
const units: Record<string, { name: string; phone?: string; contact: string; email: string }> = {
  'unit-a': { name: '安达电梯维保有限公司', phone: '400-820-1234', contact: '张经理 13800000000', email: 'ops@anda.example' },
  'unit-x': { name: HOSTILE_UNIT, phone: '"><script>alert(3)</script>', contact: 'x', email: 'x' },
};
const visits: Record<string, string> = { 'lift-a1': '2025-06-12' };
const states: Record<string, PublicState> = { 'lift-a1': 'in_service', 'lift-a2': 'trapped', 'lift-x': 'fault' };

/**
 * Like the composition root's lookup, with more than the notice may show (ids, the company, the
 * unit's internal contacts, alert details) to prove that only the whitelisted facts come out.
 */
function fakeElevator(code: string): ElevatorNotice | undefined {
  const d = devices.find((x) => x.registrationCode === code && x.kind === 'elevator');
  if (!d) return undefined;
  const unit = d.maintenanceUnitId ? units[d.maintenanceUnitId] : undefined;
  const leaky = {
    ...d, deviceId: d.id, siteName: sites[d.siteId]!, maintenanceUnit: unit ? { ...unit, id: d.maintenanceUnitId } : undefined,
    lastMaintenanceVisit: visits[d.id] ?? null, nextInspectionDue: d.nextInspectionDue ?? null, state: states[d.id]!,
    alerts: [{ id: 17, type: 'elevator.door_open_fault', details: { vendorCode: 'E35' } }],
  };
  return leaky;
}

async function noticeApp(deps: Partial<NoticeDeps> = {}): Promise<FastifyInstance> {
  const app = Fastify();
  // as the gateway registers it: outside /api/v1, not wrapped (its hooks stay its own)
  await app.register(publicNoticeRoutes({
    elevator: fakeElevator, publicBaseUrl: BASE, rateLimit: { burst: 10_000, perMinute: 10_000 }, ...deps,
  }));
  return app;
}

let app: FastifyInstance;
let url: string;
let browser: Browser;
/** Errors the pages reported (script errors, CSP violations, failed loads): there must be none. */
const pageErrors: string[] = [];

async function open(path: string, viewport = { width: 420, height: 800 }): Promise<Page> {
  const context = await browser.newContext({ viewport, locale: 'zh-CN', deviceScaleFactor: 2 });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // the browser's own favicon request is not the page's (the bare test app has none)
    if ((msg.type() === 'error' || msg.type() === 'warning') && !msg.location().url.endsWith('/favicon.ico')) pageErrors.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('requestfailed', (r) => pageErrors.push(`failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) pageErrors.push(`${r.status()}: ${r.url()}`); });
  page.on('dialog', (d) => { pageErrors.push(`dialog: ${d.message()}`); void d.dismiss(); });
  const res = await page.goto(url + path);
  expect(res?.status()).toBe(200);
  return page;
}

const text = async (page: Page, selector: string) => (await page.locator(selector).first().textContent())?.trim() ?? '';

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  app = await noticeApp();
  await app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
});

describe('public notice: facts', () => {
  it('JSON holds exactly the public facts, and no other key', async () => {
    const res = await app.inject({ url: `/public/elevators/${LIFT}`, headers: { accept: 'application/json' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = res.json();
    expect(body).toStrictEqual({
      registrationCode: LIFT,
      siteName: '幸福里小区',
      location: '3号楼 1单元 客梯',
      maintenanceUnit: { name: '安达电梯维保有限公司', phone: '400-820-1234' },
      lastMaintenanceVisit: '2025-06-12',
      nextInspectionDue: '2026-03-31',
      state: 'in_service',
      stateText: { zh: '正常运行', en: 'In service' },
    });
    // nothing of what the lookup had beyond them: ids, company, the unit's internal contacts, alerts
    for (const secret of ['lift-a1', 'co-a', 'site-a', 'unit-a', '张经理', '13800000000', 'ops@anda', 'E35', 'door_open']) {
      expect(res.body).not.toContain(secret);
    }
  });

  it('without records: nulls in JSON, "暂无记录 / No record" on the page', async () => {
    const json = (await app.inject({ url: `/public/elevators/${LIFT_NO_RECORDS}`, headers: { accept: 'application/json' } })).json();
    expect(json).toStrictEqual({
      registrationCode: LIFT_NO_RECORDS, siteName: '幸福里小区', location: null, maintenanceUnit: null,
      lastMaintenanceVisit: null, nextInspectionDue: null, state: 'trapped', stateText: { zh: '困人救援中', en: 'Rescue under way' },
    });
    const page = await open(`/public/elevators/${LIFT_NO_RECORDS}`);
    expect(await text(page, '#last-visit')).toBe('暂无记录 No record');
    expect(await text(page, '#next-inspection')).toBe('暂无记录 No record');
    expect(await text(page, '#unit')).toBe('暂无记录 No record');
    expect(await page.locator('#phone a').count()).toBe(0);
    expect(await text(page, '#state')).toBe('困人救援中Rescue under way');
    expect(await page.getAttribute('#state', 'data-state')).toBe('trapped');
    await page.context().close();
  });

  it('the page shows the same facts, Chinese first, with a tel: link, and no ids', async () => {
    const res = await app.inject({ url: `/public/elevators/${LIFT}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    for (const secret of ['lift-a1', 'co-a', 'site-a', 'unit-a', '张经理', '13800000000', 'ops@anda', 'E35', 'door_open']) {
      expect(res.body).not.toContain(secret);
    }
    // a browser's Accept gets the page too
    const browserAccept = await app.inject({ url: `/public/elevators/${LIFT}`, headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    expect(browserAccept.body).toBe(res.body);

    const page = await open(`/public/elevators/${LIFT}`);
    expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
    expect(await text(page, 'h1')).toBe('电梯维保信息公示Elevator maintenance notice');
    expect(await text(page, '#where')).toBe('幸福里小区 · 3号楼 1单元 客梯');
    expect(await text(page, '#code')).toBe(LIFT);
    expect(await text(page, '#unit')).toBe('安达电梯维保有限公司');
    expect(await text(page, '#phone')).toBe('400-820-1234');
    expect(await page.getAttribute('#phone a', 'href')).toBe('tel:4008201234');
    expect(await text(page, '#last-visit')).toBe('2025-06-12');
    expect(await text(page, '#next-inspection')).toBe('2026-03-31');
    expect(await text(page, '#state')).toBe('正常运行In service');
    // the styles applied (the inline sheet is allowed by its hash): the state box is green
    expect(await page.locator('#state').evaluate((el) => getComputedStyle(el).borderLeftColor)).toBe('rgb(30, 142, 62)');
    await page.screenshot({ path: join(ARTIFACTS, 'public-notice-page.png'), fullPage: true });
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('escapes a hostile site, location, unit name and phone: shown as text, never run', async () => {
    const res = await app.inject({ url: `/public/elevators/${HOSTILE}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('<script>alert');
    expect(res.body).not.toContain('<img src=x');
    expect(res.body).not.toContain('"><b>');
    expect(res.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;amp;');

    const page = await open(`/public/elevators/${HOSTILE}`);
    // exactly the stored text: escaped once, not twice
    expect(await text(page, '#where')).toBe(`${HOSTILE_SITE} · "><b>3</b>`);
    expect(await text(page, '#unit')).toBe(HOSTILE_UNIT);
    expect(await text(page, '#phone')).toBe('"><script>alert(3)</script>');
    expect(await page.locator('#phone a').count()).toBe(0);
    expect(await page.locator('script, img, b').count()).toBe(0);
    const print = await open(`/public/elevators/${HOSTILE}/print`);
    expect(await print.locator('script, img:not(.qr), b').count()).toBe(0);
    expect(await text(print, '.unit')).toBe(`维保单位 / Maintenance unit: ${HOSTILE_UNIT}`);
    await page.context().close();
    await print.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('an unknown code, a non-elevator\'s code and a malformed code get the same 404, page or JSON', async () => {
    const answers = async (accept?: string) => Promise.all([NEVER, PUMP, 'abc', '%3Cscript%3E', 'x'.repeat(65), LIFT.replace('1', '_')].map(async (code) => {
      const res = await app.inject({ url: `/public/elevators/${code}`, headers: accept ? { accept } : {} });
      const { date: _date, ...headers } = res.headers;
      return { status: res.statusCode, headers, body: res.body };
    }));
    for (const accept of [undefined, 'application/json']) {
      const all = await answers(accept);
      expect(all[0]!.status).toBe(404);
      for (const a of all.slice(1)) expect(a).toStrictEqual(all[0]);
      if (accept) expect(JSON.parse(all[0]!.body)).toMatchObject({ error: { code: 'GW_NOT_FOUND' } });
      else {
        expect(all[0]!.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(all[0]!.body).toContain('未找到该电梯');
        expect(all[0]!.headers['content-security-policy']).toContain("script-src 'none'");
      }
    }
    for (const code of [NEVER, PUMP]) {
      for (const sub of ['qr.svg', 'print']) expect((await app.inject({ url: `/public/elevators/${code}/${sub}` })).statusCode).toBe(404);
    }
    // the code asked for is not even echoed
    expect((await app.inject({ url: `/public/elevators/${NEVER}` })).body).not.toContain(NEVER);
  });

  it('a lookup that fails answers 503, not cached, revealing nothing', async () => {
    const failing = await noticeApp({ elevator: () => Promise.reject(new Error('store down at 10.0.0.5')) });
    const res = await failing.inject({ url: `/public/elevators/${LIFT}`, headers: { accept: 'application/json' } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toStrictEqual({ error: { code: 'GW_UNAVAILABLE', message: expect.any(String) } });
    expect(res.body).not.toContain('10.0.0.5');
    expect(res.headers['cache-control']).toBe('no-store');
    await failing.close();
  });
});

describe('public notice: in the gateway', () => {
  it('registered on the gateway\'s HTTP app as app.ts does: no token asked, listed in the OpenAPI document', async () => {
    const deps = {
      log: createLogger('silent'), metrics: {}, registry: {}, presence: {}, deadLetters: {}, writer: {},
      audit: { record: () => {} }, auth: { principalForToken: () => undefined }, ready: () => [],
      store: { durable: () => undefined, saturated: false },
    } as unknown as HttpDeps;
    const gw = await buildHttp(deps);
    await gw.register(publicNoticeRoutes({ elevator: fakeElevator, publicBaseUrl: BASE }));
    try {
      const page = await gw.inject({ url: `/public/elevators/${LIFT}`, headers: { accept: 'application/json' } });
      expect(page.statusCode).toBe(200);
      expect(page.json().maintenanceUnit).toStrictEqual({ name: '安达电梯维保有限公司', phone: '400-820-1234' });
      expect((await gw.inject({ url: `/public/elevators/${LIFT}/qr.svg` })).statusCode).toBe(200);
      const missing = await gw.inject({ url: `/public/elevators/${PUMP}`, headers: { accept: 'application/json' } });
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error.code).toBe('GW_NOT_FOUND');
      const openapi = (await gw.inject({ url: '/api/v1/openapi.json' })).json();
      expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining([
        '/public/elevators/{registrationCode}', '/public/elevators/{registrationCode}/qr.svg', '/public/elevators/{registrationCode}/print',
      ]));
      expect(openapi.paths['/public/elevators/{registrationCode}'].get.security).toEqual([]);
    } finally {
      await gw.close();
    }
  });
});

describe('public notice: headers', () => {
  it('a strict policy: no script, no other origin, nosniff, no referrer, short public cache', async () => {
    for (const path of [`/public/elevators/${LIFT}`, `/public/elevators/${LIFT}/print`, `/public/elevators/${LIFT}/qr.svg`, `/public/elevators/${NEVER}`]) {
      const res = await app.inject({ url: path });
      const policy = String(res.headers['content-security-policy']);
      expect(policy).toMatch(/^default-src 'none'/);
      expect(policy).not.toMatch(/https?:|\*|unsafe-inline|unsafe-eval|data:/);
      if (!path.endsWith('.svg')) expect(policy).toContain("script-src 'none'");
      expect(policy).toContain("frame-ancestors 'none'");
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cache-control']).toMatch(/^public, max-age=(60|3600)$/);
    }
    const page = await app.inject({ url: `/public/elevators/${LIFT}` });
    expect(page.headers['cache-control']).toBe('public, max-age=60');
    expect(page.headers.vary).toBe('Accept');
    expect(page.headers['content-security-policy']).toContain("img-src 'none'");
    expect((await app.inject({ url: `/public/elevators/${LIFT}/print` })).headers['content-security-policy']).toContain("img-src 'self'");
  });

  it('Accept: JSON only when it is preferred to HTML', () => {
    expect(wantsJson(undefined)).toBe(false);
    expect(wantsJson('application/json')).toBe(true);
    expect(wantsJson('application/json, text/plain, */*')).toBe(true);
    expect(wantsJson('text/html,application/json;q=0.9')).toBe(false);
    expect(wantsJson('text/html;q=0.5, application/json')).toBe(true);
    expect(wantsJson('*/*')).toBe(false);
    expect(wantsJson('application/json;q=0')).toBe(false);
  });

  it('the tel: link dials digits only', () => {
    expect(telHref('400-820-1234')).toBe('tel:4008201234');
    expect(telHref('+86 (21) 6666 8888 转 2')).toBe('tel:+862166668888');
    expect(telHref('javascript:alert(1)')).toBeNull();
    expect(telHref('12')).toBeNull();
  });
});

describe('public notice: rate limit', () => {
  it('answers 429 with Retry-After once the bucket is empty, counts it, and refills with the clock', async () => {
    let now = 1_750_000_000_000;
    let limited = 0;
    const limitedApp = await noticeApp({ now: () => now, rateLimit: { burst: 3, perMinute: 3 }, onLimited: () => { limited++; } });
    const get = (code: string, remoteAddress = '203.0.113.7', accept?: string) =>
      limitedApp.inject({ url: `/public/elevators/${code}`, remoteAddress, headers: accept ? { accept } : {} });

    // unknown codes cost a token too: enumerating codes is as slow as reading pages
    expect((await get(LIFT)).statusCode).toBe(200);
    expect((await get(NEVER)).statusCode).toBe(404);
    expect((await get('bad!')).statusCode).toBe(404);
    const refused = await get(LIFT);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('20'); // one token every 20 s at 3 a minute
    expect(refused.headers['cache-control']).toBe('no-store');
    expect(refused.headers['content-security-policy']).toContain("script-src 'none'");
    expect(refused.body).toContain('请求过于频繁');
    expect((await get(LIFT, '203.0.113.7', 'application/json')).json()).toMatchObject({ error: { code: 'GW_RATE_LIMITED' } });
    expect(limited).toBe(2);

    // another address has its own bucket; the same IPv6 /64 shares one
    expect((await get(LIFT, '203.0.113.8')).statusCode).toBe(200);
    for (let i = 0; i < 3; i++) expect((await get(LIFT, `2001:db8:1:2::${i + 1}`)).statusCode).toBe(200);
    expect((await get(LIFT, '2001:db8:1:2:ffff::9')).statusCode).toBe(429);
    expect((await get(LIFT, '2001:db8:1:3::1')).statusCode).toBe(200);
    expect(limited).toBe(3);

    now += 19_000;
    expect((await get(LIFT)).headers['retry-after']).toBe('1');
    now += 1_000;
    expect((await get(LIFT)).statusCode).toBe(200);
    expect((await get(LIFT)).statusCode).toBe(429);
    // the QR code and the label count too
    now += 60_000;
    for (const sub of ['qr.svg', 'print', 'qr.svg']) expect((await get(`${LIFT}/${sub}`)).statusCode).toBe(200);
    expect((await get(`${LIFT}/print`)).statusCode).toBe(429);
    await limitedApp.close();
  });

  it('tracks at most maxAddresses, forgetting the least recently seen', () => {
    const b = new AddressBuckets(1, 1, 3);
    expect(b.take('10.0.0.1', 0)).toBe(0);
    expect(b.take('10.0.0.1', 0)).toBe(60);
    for (const ip of ['10.0.0.2', '10.0.0.3']) expect(b.take(ip, 0)).toBe(0);
    expect(b.take('10.0.0.1', 1000)).toBe(59); // seen again: now the most recent
    expect(b.take('10.0.0.4', 1000)).toBe(0); // forgets 10.0.0.2, the least recently seen
    expect(b.size).toBe(3);
    expect(b.take('10.0.0.1', 1000)).toBe(59); // still limited: it was not the one forgotten
    expect(b.take('10.0.0.2', 1000)).toBe(0); // forgotten: a full bucket again
    expect(b.size).toBe(3);
    for (let i = 0; i < 1000; i++) b.take(`198.51.100.${i % 256}.${i}`, 2000);
    expect(b.size).toBe(3);
  });

  it('keys IPv4, IPv4-mapped IPv6 and IPv6 /64s', () => {
    expect(addressKey('192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

describe('public notice: state in words', () => {
  const alert = (type: string, extra: { conditionActive?: boolean; suppressed?: boolean } = {}) => ({ type, ...extra });
  it.each<[string, Parameters<typeof publicState>[0], PublicState]>([
    ['nothing wrong', { offline: false, mode: 'normal', alerts: [] }, 'in_service'],
    ['trapped, even offline', { offline: true, mode: 'normal', alerts: [alert('elevator.door_open_fault'), alert('elevator.trapped')] }, 'trapped'],
    ['a trapped alert whose condition ended', { offline: false, mode: 'normal', alerts: [alert('elevator.trapped', { conditionActive: false })] }, 'in_service'],
    ['trapped, suppressed in inspection mode', { offline: false, mode: 'inspection', alerts: [alert('elevator.trapped', { suppressed: true })] }, 'inspection'],
    ['safety circuit open', { offline: false, mode: 'normal', alerts: [alert('elevator.safety_circuit_open')] }, 'out_of_service'],
    ['power lost, offline', { offline: true, alerts: [alert('elevator.power_lost')] }, 'out_of_service'],
    ['out-of-service mode', { offline: false, mode: 'out_of_service', alerts: [] }, 'out_of_service'],
    ['fire return mode', { offline: false, mode: 'fire_return', alerts: [] }, 'out_of_service'],
    ['maintenance mode', { offline: false, mode: 'maintenance', alerts: [alert('elevator.door_close_fault')] }, 'inspection'],
    ['offline: the last mode is not trusted', { offline: true, mode: 'inspection', alerts: [alert('elevator.door_close_fault')] }, 'offline'],
    ['a door fault', { offline: false, mode: 'normal', alerts: [alert('elevator.door_close_fault')] }, 'fault'],
    ['alerts that say nothing of the state', { offline: false, mode: 'normal', alerts: ['elevator.ebike', 'elevator.alarm_button', 'elevator.long_idle', 'elevator.inspection_overdue', 'elevator.maintenance_overdue'].map((t) => alert(t)) }, 'in_service'],
  ])('%s', (_name, input, expected) => {
    expect(publicState(input)).toBe(expected);
  });
});

describe('public notice: QR label', () => {
  it('the QR code decodes to the page address; the A6 label loads with it visible and no error', async () => {
    const svg = await app.inject({ url: `/public/elevators/${LIFT}/qr.svg` });
    expect(svg.statusCode).toBe(200);
    expect(svg.headers['content-type']).toBe('image/svg+xml');
    expect(svg.body).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg.body).not.toMatch(/<script|<style|on\w+=/i);

    const page = await open(`/public/elevators/${LIFT}/print`);
    const img = page.locator('img.qr');
    await page.waitForFunction(() => {
      const i = document.querySelector<HTMLImageElement>('img.qr');
      return i !== null && i.complete && i.naturalWidth > 0;
    });
    expect(await img.isVisible()).toBe(true);
    const box = (await img.boundingBox())!;
    expect(box.width).toBeGreaterThan(200); // 62 mm
    expect(await text(page, 'h1')).toBe("扫码查看电梯维保信息Scan for this elevator's maintenance information");
    expect(await text(page, '.code')).toBe(`注册代码 / Registration code${LIFT}`);
    expect(await text(page, '.phone')).toBe('24小时电话 / 24 h: 400-820-1234');
    await page.screenshot({ path: join(ARTIFACTS, 'public-notice-label.png'), fullPage: true });

    // decode what is on the screen: the image element's pixels, read back through a canvas
    const png = await img.screenshot();
    const blank = await page.context().newPage();
    const pixels = await blank.evaluate(async (b64) => {
      const im = new Image();
      im.src = `data:image/png;base64,${b64}`;
      await im.decode();
      const canvas = document.createElement('canvas');
      canvas.width = im.naturalWidth;
      canvas.height = im.naturalHeight;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(im, 0, 0);
      return { width: canvas.width, height: canvas.height, data: Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data) };
    }, png.toString('base64'));
    const decoded = jsQR(Uint8ClampedArray.from(pixels.data), pixels.width, pixels.height);
    expect(decoded?.data).toBe(`https://gateway.example.cn/community/public/elevators/${LIFT}`);

    // printed: one A6 page (105 x 148 mm = 297.6 x 419.5 pt)
    await page.emulateMedia({ media: 'print' });
    const pdf = (await page.pdf({ preferCSSPageSize: true, printBackground: true })).toString('latin1');
    expect(pdf.match(/\/Type\s*\/Page\b/g)?.length).toBe(1);
    const [w, h] = /\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]/.exec(pdf)!.slice(1).map(Number);
    expect(Math.round(w!)).toBe(298);
    expect(Math.round(h!)).toBe(420);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });
});
