/**
 * The console's maintenance visits page in a real browser (Debian's headless Chromium driven by
 * playwright-core) against the real gateway: a maintenance account starts a visit at its elevator,
 * sees it under way with its elapsed time, finishes it with checklist items and a note, and reads
 * the verdict the elevator's telemetry gives (valid / suspect); a property account filters the
 * suspect ones; the page switches to English. Screenshots go to tests/artifacts/.
 *
 * The gateway runs on a manual clock an hour behind real time, so that readings stamped with it
 * are neither too far in the future nor too old for the ingest's timestamp checks.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { MqttClient } from 'mqtt';
import { launchChromium, signInToConsole } from './harness/browser.js';
import { connectDevice, publish, registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';
import { ManualClock, NORMAL, account } from './harness/alerts.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const MIN = 60_000;

const clock = new ManualClock(Date.now() - 60 * MIN);
const t: TestGateway = await startTestGateway({ alerts: { schedules: { runAtStart: false } } }, {}, { clock });

let browser: Browser;
let lift: MqttClient;
const tokens: Record<string, string> = {};
const pageErrors: string[] = [];

async function signIn(token: string): Promise<Page> {
  const page = await signInToConsole(browser, t.httpUrl, token, pageErrors);
  await page.click('#app-nav a[data-view="visits"]');
  await page.waitForSelector('#view-visits h2');
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `console-visits-${name}.png`), fullPage: true });
const text = async (page: Page, selector: string) => (await page.locator(selector).first().textContent())?.trim() ?? '';

/** Starts a visit of `deviceId` on the page; returns its id. */
async function startOnPage(page: Page, deviceId: string): Promise<number> {
  await page.click(`tr.elevator-row[data-id="${deviceId}"] button.start-visit`);
  await page.waitForSelector(`tr.elevator-row[data-id="${deviceId}"] .visit-badge.open`);
  const visits = (await t.api('GET', `/api/v1/maintenance-visits?deviceId=${deviceId}`, undefined, tokens.mu)).body.items as Array<{ id: number; state: string }>;
  const open = visits.find((v) => v.state === 'open');
  expect(open).toBeDefined();
  return open!.id;
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  expect((await t.api('POST', '/api/v1/companies', { id: 'co-c', name: '翠苑物业' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/maintenance-units', { id: 'unit-c', name: '康力电梯维保', phone: '400-820-1234' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-c', name: '翠苑一区', companyId: 'co-c' })).status).toBe(201);
  const secret = await registerDevice(t, { id: 'lift-c1', kind: 'elevator', siteId: 'site-c', maintenanceUnitId: 'unit-c', location: '2号楼 B梯', registrationCode: '31104403002025069001' });
  await registerDevice(t, { id: 'lift-c2', kind: 'elevator', siteId: 'site-c', maintenanceUnitId: 'unit-c', location: '3号楼 A梯' });
  lift = await connectDevice(t, 'lift-c1', secret);
  tokens.mu = await account(t, 'mu-c', 'maintenance', 'unit-c');
  tokens.prop = await account(t, 'prop-c', 'property', 'co-c');
});

afterAll(async () => {
  await lift?.endAsync();
  await browser?.close();
  await t?.dispose();
});

describe('console maintenance visits', () => {
  let page: Page;
  let validId = 0;
  let suspectId = 0;

  it('a maintenance account starts a visit, sees it under way, and finishes it with its checklist: valid', async () => {
    page = await signIn(tokens.mu!);
    await page.waitForSelector('tr.elevator-row[data-id="lift-c1"] button.start-visit');
    expect(await text(page, '#view-visits h2')).toBe('维保记录');
    expect(await text(page, 'tr.elevator-row[data-id="lift-c1"] button.start-visit')).toBe('开始维保');

    const startedAt = clock.now();
    validId = await startOnPage(page, 'lift-c1');
    const underWay = page.locator(`article.visit-open[data-id="${validId}"]`);
    await underWay.waitFor();
    expect(await underWay.locator('strong').first().textContent()).toBe('翠苑一区 2号楼 B梯');
    expect(await underWay.locator('.visit-elapsed').textContent()).toMatch(/^\d{2}:\d{2}$/);
    await shot(page, 'under-way');

    // 25 minutes of maintenance mode, then normal; the technician signs out at 30 minutes
    await publish(lift, 'devices/lift-c1/telemetry', [0, 5, 10, 15, 20, 25].map((m) => ({ ...NORMAL.elevator, mode: m < 25 ? 'maintenance' : 'normal', ts: startedAt + m * MIN })));
    clock.advance(30 * MIN);
    await underWay.locator('input[name="item"][value="machine"]').check();
    await underWay.locator('input[name="item"][value="doors"]').check();
    await underWay.locator('textarea[name="note"]').fill('更换门机皮带');
    await underWay.locator('button.finish-visit').click();

    const badge = page.locator(`tr.visit-row[data-id="${validId}"] .visit-badge`);
    await badge.waitFor();
    expect(await badge.textContent()).toBe('有效');
    expect(await page.locator(`tr.visit-row[data-id="${validId}"] td.num`).textContent()).toBe('25 分钟');
    expect(await page.locator('.none-under-way').textContent()).toBe('当前没有进行中的维保。');
    const stored = (await t.api('GET', `/api/v1/maintenance-visits/${validId}`, undefined, tokens.mu)).body;
    expect(stored).toMatchObject({ valid: true, modeMinutes: 25, items: ['曳引机', '门系统'], note: '更换门机皮带', finishedBy: 'mu-c' });
  });

  it('a visit the telemetry does not support shows as suspect', async () => {
    suspectId = await startOnPage(page, 'lift-c2');
    clock.advance(25 * MIN);
    await page.locator(`article.visit-open[data-id="${suspectId}"] button.finish-visit`).click();
    const badge = page.locator(`tr.visit-row[data-id="${suspectId}"] .visit-badge.suspect`);
    await badge.waitFor();
    expect(await badge.textContent()).toBe('疑似虚假维保');
    await shot(page, 'finished');
  });

  it('switches to English', async () => {
    await page.click('#lang-toggle');
    expect(await text(page, '#view-visits h2')).toBe('Maintenance visits');
    expect(await text(page, 'tr.elevator-row[data-id="lift-c1"] button.start-visit')).toBe('Start visit');
    expect(await text(page, `tr.visit-row[data-id="${validId}"] .visit-badge`)).toBe('Valid');
    expect(await text(page, `tr.visit-row[data-id="${suspectId}"] .visit-badge`)).toBe('Suspect (not supported by telemetry)');
    expect(await page.locator('#visit-list th').allTextContents()).toEqual(['Elevator', 'Maintenance unit', 'Property company', 'Signed in', 'Signed out', 'Time in inspection / maintenance mode', 'Check']);
    await shot(page, 'english');
    await page.click('#lang-toggle');
    expect(await text(page, '#view-visits h2')).toBe('维保记录');
  });

  it('a property account reads its visits and filters the suspect ones; it is offered no Start', async () => {
    const prop = await signIn(tokens.prop!);
    const rows = prop.locator('tr.visit-row');
    await expect.poll(() => rows.count()).toBe(2);
    expect(await prop.locator('button.start-visit').count()).toBe(0);
    await prop.check('#visit-filter-suspect');
    await prop.click('#visit-filter-apply');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().getAttribute('data-id')).toBe(String(suspectId));
    await shot(prop, 'property-suspect');
  });

  it('no script errors or refused loads on the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
