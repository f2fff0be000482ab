/**
 * The console's rectification orders page in a real browser (Debian's headless Chromium driven by
 * playwright-core) against the real gateway: a street issues an order through the form, the
 * property company replies with a photo, the street reads the photo and returns it (复查不合格), the
 * company replies again, the street closes it (销号) and exports the ledger, and the page reads in
 * English after the language toggle. Screenshots go to tests/artifacts/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, signInToConsole } from './harness/browser.js';
import { startTestGateway, type TestGateway } from './harness/gateway.js';
import { account } from './harness/alerts.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('a photo of a cleared corridor')]);

let t: TestGateway;
let browser: Browser;
const tokens = {} as Record<'street' | 'property', string>;
/** Errors the pages reported (script errors, CSP violations, failed loads). */
const pageErrors: string[] = [];

const signIn = (token: string): Promise<Page> => signInToConsole(browser, t.httpUrl, token, pageErrors);

const text = async (page: Page, selector: string) => (await page.locator(selector).first().textContent())?.trim() ?? '';
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `console-orders-${name}.png`), fullPage: true });

/** Opens the orders page and the order `title` from its list. */
async function openOrder(page: Page, title: string): Promise<void> {
  await page.click('#app-nav a[data-view="orders"]');
  await page.locator('a.order-link', { hasText: title }).click();
  await page.waitForSelector(`#order-title:text-is("${title}")`);
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  t = await startTestGateway({ alerts: { schedules: { runAtStart: false } } });
  browser = await launchChromium();
  expect((await t.api('POST', '/api/v1/companies', { id: 'co-lake', name: '湖畔物业' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/companies', { id: 'co-hill', name: '山景物业' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-lake', name: '湖畔小区', companyId: 'co-lake', street: '南山街道', community: '湖畔社区' })).status).toBe(201);
  // a company outside the street: never offered in its form
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-hill', name: '山景小区', companyId: 'co-hill', street: '北山街道' })).status).toBe(201);
  tokens.street = await account(t, 'street-ns', 'street', '南山街道');
  tokens.property = await account(t, 'prop-lake', 'property', 'co-lake');
});

afterAll(async () => {
  await browser?.close();
  await t?.dispose();
});

describe('console: rectification orders', () => {
  const title = '楼道堆物清理';
  let street: Page;
  let property: Page;
  let orderId: number;

  it('a street issues an order through the form, the target picked by name', async () => {
    street = await signIn(tokens.street);
    await street.click('#app-nav a[data-view="orders"]');
    await street.waitForSelector('#order-new');
    expect(await text(street, '#view-orders h2')).toBe('整改通知');
    await street.click('#order-new');
    await street.waitForSelector('#order-form');
    expect(await street.locator('#order-target option').allTextContents()).toEqual(['', '湖畔物业（物业）']);
    await street.selectOption('#order-target', 'company:co-lake');
    expect(await street.locator('#order-site option').allTextContents()).toEqual(['（不指定小区）', '湖畔小区']);
    await street.selectOption('#order-site', 'site-lake');
    await street.fill('#order-new-title', title);
    await street.fill('#order-new-description', '3号楼楼道堆放纸箱，限期清理');
    const due = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    await street.fill('#order-due', due);
    await street.click('#order-form button[type="submit"]');
    await street.waitForSelector(`#order-title:text-is("${title}")`);
    expect(await text(street, '.order-state')).toBe('已下发');
    expect(await text(street, 'dd[data-fact="target"]')).toBe('湖畔物业（物业）');
    expect(await text(street, 'dd[data-fact="supervising"]')).toBe('南山街道（街道）');

    const listed = (await t.api('GET', '/api/v1/orders?targetId=co-lake', undefined, tokens.street)).body.items;
    expect(listed).toHaveLength(1);
    orderId = listed[0].id;
    expect(listed[0]).toMatchObject({ title, siteId: 'site-lake', issuedBy: 'street-ns', state: 'issued' });
    // the end of the chosen day in Asia/Shanghai
    expect(listed[0].dueAt).toBe(Date.parse(`${due}T23:59:59.999+08:00`));
    await shot(street, 'issued');
  });

  it('the property company replies with a photo', async () => {
    property = await signIn(tokens.property);
    await openOrder(property, title);
    // the target replies; it does not judge its own work
    expect(await property.locator('#order-review').count()).toBe(0);
    await property.fill('#order-reply-note', '纸箱已清理');
    await property.setInputFiles('#order-reply-files', { name: '清理后.png', mimeType: 'image/png', buffer: PNG });
    await property.click('#order-reply-submit');
    await property.waitForSelector('.order-state[data-state="replied"]');
    expect(await property.locator('#order-history li.history-entry').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.action))).toEqual(['issued', 'replied']);
    expect(await text(property, '.attachment-link')).toBe('清理后.png');
    expect(await property.locator('#order-reply-form').count()).toBe(0);
    await shot(property, 'replied');
  });

  it('the street reads the photo and returns the order (复查不合格); the property company replies again', async () => {
    await street.click('a.back-link');
    await openOrder(street, title);
    const [file] = await Promise.all([street.waitForEvent('download'), street.click('.attachment-link')]);
    expect(file.suggestedFilename()).toBe('清理后.png');
    expect(readFileSync((await file.path())!).equals(PNG)).toBe(true);
    // a verdict needs a note: nothing is sent without one
    await street.click('#order-return');
    expect(await text(street, '#order-result')).toBe('请填写说明。');
    await street.fill('#order-review-note', '2号楼仍有堆物');
    await street.click('#order-return');
    await street.waitForSelector('.order-state[data-state="returned"]');
    expect(await street.locator('#order-refer-form').count()).toBe(1);

    await property.click('a.back-link');
    await openOrder(property, title);
    expect(await text(property, '#order-history li.history-entry[data-action="returned"] .history-note')).toBe('2号楼仍有堆物');
    await property.fill('#order-reply-note', '2号楼也已清理');
    await property.click('#order-reply-submit');
    await property.waitForSelector('.order-state[data-state="replied"]');
    await property.context().close();
  });

  it('the street closes the order (销号) and exports the ledger; then the page reads in English', async () => {
    await street.click('a.back-link');
    await openOrder(street, title);
    await street.fill('#order-review-note', '复查合格');
    await street.click('#order-close');
    await street.waitForSelector('.order-state[data-state="closed"]');
    expect(await street.locator('#order-review').count()).toBe(0);
    expect((await t.api('GET', `/api/v1/orders/${orderId}`)).body).toMatchObject({
      state: 'closed', history: [{ action: 'issued' }, { action: 'replied' }, { action: 'returned' }, { action: 'replied' }, { action: 'closed', note: '复查合格' }],
    });

    // the ledger from the list, as the gateway exports it
    await street.click('a.back-link');
    await street.waitForSelector('tr.order-row[data-state="closed"]');
    const [ledger] = await Promise.all([street.waitForEvent('download'), street.click('#orders-export-csv')]);
    expect(ledger.suggestedFilename()).toMatch(/^orders-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = readFileSync((await ledger.path())!, 'utf8').split('\r\n');
    expect(csv[0]).toMatch(/^\ufeff编号 \/ ID,标题 \/ Title,/);
    expect(csv[1]).toContain(`${orderId},${title},物业服务企业 / property company,湖畔物业,湖畔小区`);
    expect(csv[1]).toContain('已销号 / closed');
    await openOrder(street, title);

    await street.click('#lang-toggle');
    expect(await text(street, '.order-state')).toBe('Closed');
    expect(await text(street, 'dd[data-fact="supervising"]')).toBe('南山街道 (street)');
    expect(await street.locator('#order-history .history-action').allTextContents()).toEqual(['Issued', 'Replied', 'Returned (re-check failed)', 'Replied', 'Closed']);
    await street.click('a.back-link');
    await street.waitForSelector('tr.order-row');
    expect(await text(street, '#view-orders h2')).toBe('Rectification orders');
    expect(await text(street, '#order-new')).toBe('Issue an order');
    await shot(street, 'english');
    expect(pageErrors).toEqual([]);
  });
});
