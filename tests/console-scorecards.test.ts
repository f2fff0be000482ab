/**
 * The console's scorecards page (考核排名) in a real browser (Debian's headless Chromium driven by
 * playwright-core) against the real gateway on the alert clock: market supervision opens it, reads
 * the unit and company tables, the red and black lists, sees the charts drawn by the chart library
 * the gateway serves itself, exports the report, switches to English, and picks a quarter.
 * A property company sees its own row and no ranking. Screenshots go to tests/artifacts/.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, signInToConsole } from './harness/browser.js';
import type { TestGateway } from './harness/gateway.js';
import { ManualClock, account, addDevice, event, startAlertGateway } from './harness/alerts.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const MIN = 60_000;

let t: TestGateway;
let clock: ManualClock;
let browser: Browser;
const tokens = {} as Record<'msa' | 'coa', string>;
const pageErrors: string[] = [];

// the live feed's hello sets the page's clock to the gateway's (June 2025): the default period
const signIn = (token: string): Promise<Page> => signInToConsole(browser, t.httpUrl, token, pageErrors);

const cells = (page: Page, selector: string) => page.locator(selector).allTextContents();

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  ({ t, clock } = await startAlertGateway({ alerts: { rules: { elevator: { offlineAfter: '30d' } } } }));
  for (const [id, name] of [['co-a', '安居物业'], ['co-b', '百汇物业']]) expect((await t.api('POST', '/api/v1/companies', { id, name })).status).toBe(201);
  for (const [id, name] of [['mu-a', '安达电梯'], ['mu-b', '博远维保']]) {
    expect((await t.api('POST', '/api/v1/maintenance-units', { id, name, phone: '400-800-0000' })).status).toBe(201);
  }
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-a', name: '南山花园', companyId: 'co-a', area: 'urban' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-b', name: '北岭新村', companyId: 'co-b', area: 'rural' })).status).toBe(201);
  const liftA = await addDevice(t, 'elevator', { id: 'lift-a', companyId: 'co-a', siteId: 'site-a', unitId: 'mu-a' });
  await addDevice(t, 'elevator', { id: 'lift-b', companyId: 'co-b', siteId: 'site-b', unitId: 'mu-b' });
  tokens.msa = await account(t, 'acc-msa', 'market-supervision');
  tokens.coa = await account(t, 'acc-co-a', 'property', 'co-a');
  const mua = await account(t, 'acc-mu-a', 'maintenance', 'mu-a');
  // trapped on lift-a: mu-a acknowledges at 2 minutes (a 3-minute response), nobody arrives
  await event(liftA, { type: 'fault', fault: 'trapped' });
  const id = (await t.api('GET', '/api/v1/alerts?deviceId=lift-a')).body.items[0].id as number;
  clock.advance(2 * MIN);
  expect((await t.api('POST', `/api/v1/alerts/${id}/acknowledge`, {}, mua)).status).toBe(200);
  clock.advance(60 * MIN);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await t?.dispose();
});

describe('scorecards page', () => {
  it('market supervision reads the tables, the ranking and the charts', async () => {
    const page = await signIn(tokens.msa);
    await page.click('#app-nav a[data-view="scorecards"]');
    await page.waitForSelector('#sc-units tr.unit-row');
    expect(await page.inputValue('#sc-period')).toBe('2025-06');
    expect(await cells(page, '#sc-units tr.unit-row td:first-child')).toEqual(['安达电梯', '博远维保']);
    // mu-a: responded in time, 1 of 1; its arrival deadline (30 min) passed without an arrival: 0 of 1
    const a = page.locator('#sc-units tr.unit-row[data-id="mu-a"] td.rate');
    expect((await a.nth(0).textContent())?.replace(/\s+/g, '')).toBe('100.0%1/1');
    expect((await a.nth(1).textContent())?.replace(/\s+/g, '')).toBe('0.0%0/1');
    expect(await cells(page, '#sc-companies tr.company-row td:first-child')).toEqual(['安居物业', '百汇物业']);
    // the ranking: both units have data; the lists from the configured sizes (5 and 5): both red
    expect(await cells(page, 'table.ranking.red[data-kind="units"] tr.place td:nth-child(2)')).toHaveLength(2);
    // the charts, drawn by Chart.js from /vendor/chart.umd.min.js
    await page.waitForSelector('#view-scorecards[data-charts="drawn"]');
    const drawn = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('#sc-chart-units')!;
      const chart = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): unknown } }).Chart.getChart(canvas);
      const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let painted = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) painted++;
      return { chart: chart !== undefined, painted };
    });
    expect(drawn.chart).toBe(true);
    expect(drawn.painted).toBeGreaterThan(1000);
    await page.screenshot({ path: join(ARTIFACTS, 'console-scorecards-zh.png'), fullPage: true });

    // the report, exported with the session's token
    const [file] = await Promise.all([page.waitForEvent('download'), page.click('#sc-xlsx')]);
    expect(file.suggestedFilename()).toBe('report-2025-06.xlsx');

    // English
    await page.click('#lang-toggle');
    await page.waitForSelector('#sc-units');
    expect(await page.locator('#view-scorecards h2').first().textContent()).toBe('Scorecards and ranking');
    expect(await page.locator('#sc-units th').nth(2).textContent()).toBe('3-min response');
    await page.waitForSelector('#view-scorecards[data-charts="drawn"]');
    await page.screenshot({ path: join(ARTIFACTS, 'console-scorecards-en.png'), fullPage: true });

    // printed: the report's title, no navigation, no buttons
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('.topbar').isVisible()).toBe(false);
    expect(await page.locator('#sc-print').isVisible()).toBe(false);
    expect(await page.locator('#view-scorecards .report-title').textContent()).toBe('Supervision report 2025-06');
    expect(await page.locator('#view-scorecards .report-title').isVisible()).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'console-scorecards-print.png'), fullPage: true });
    await page.emulateMedia({ media: 'screen' });
    expect(await page.locator('#view-scorecards .report-title').isVisible()).toBe(false);

    // a quarter
    await page.selectOption('#sc-kind', 'quarter');
    await page.waitForURL(/#\/scorecards\/2025-Q2$/);
    await page.waitForSelector('#sc-units tr.unit-row');
    expect(await page.inputValue('#sc-period')).toBe('2025-Q2');
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });

  it('a property company sees its own row and no ranking', async () => {
    const page = await signIn(tokens.coa);
    await page.goto(`${t.httpUrl}/#/scorecards/2025-06`);
    await page.waitForSelector('#sc-companies tr.company-row');
    expect(await cells(page, '#sc-companies tr.company-row td:first-child')).toEqual(['安居物业']);
    expect(await page.locator('#sc-units').count()).toBe(0);
    expect(await page.locator('#sc-ranking').count()).toBe(0);
    await page.context().close();
    expect(pageErrors).toEqual([]);
  });
});
