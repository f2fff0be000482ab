/**
 * The console's registry pages in a real browser (Debian's headless Chromium driven by
 * playwright-core) against the real gateway: companies, maintenance units, sites, devices and
 * accounts created through the forms, secrets and tokens shown once and then really used (over MQTT
 * and the API), a site handed over, scoping per role, import and export, and the English labels.
 * Screenshots go to tests/artifacts/.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, signInToConsole } from './harness/browser.js';
import { ADMIN_TOKEN, connectDevice, registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

// one gateway for the whole file, its pages built on one another's entries
const t: TestGateway = await startTestGateway({ alerts: { schedules: { runAtStart: false } } });

let browser: Browser;
const tokens: Record<string, string> = {};
/** Errors the pages reported (script errors, CSP violations, failed loads), with the URL they came from. */
const pageErrors: string[] = [];

async function signIn(token: string, viewport = { width: 1360, height: 900 }): Promise<Page> {
  const page = await signInToConsole(browser, t.httpUrl, token, pageErrors, viewport);
  await page.waitForSelector('#alert-list-panel .panel-head');
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `console-registry-${name}.png`), fullPage: true });
const text = async (page: Page, selector: string) => (await page.locator(selector).first().textContent())?.trim() ?? '';
const visibleNav = (page: Page) => page.locator('#app-nav a:visible').allTextContents();
const go = async (page: Page, view: string, ready: string) => { await page.click(`#app-nav a[data-view="${view}"]`); await page.waitForSelector(ready); };
const rowIds = (page: Page, selector: string) => page.locator(selector).evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id).sort());

/** Reads the secret / token dialog, closes it, and checks nothing of it stays in the page. */
async function takeSecret(page: Page): Promise<string> {
  await page.waitForSelector('dialog.secret-dialog[open] #secret-value');
  const value = await page.inputValue('#secret-value');
  expect(value.length).toBeGreaterThanOrEqual(16);
  await page.click('#secret-close');
  await page.waitForSelector('#secret-value', { state: 'detached' });
  expect(await page.evaluate((v) => document.body.innerHTML.includes(v), value)).toBe(false);
  return value;
}

/** The MQTT CONNECT of `id` with `secret`: true when the broker accepts it. */
async function mqttLogin(id: string, secret: string): Promise<boolean> {
  try {
    const c = await connectDevice(t, id, secret);
    await c.endAsync();
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await launchChromium();
  // another company with a site and a device, which the property account must not see
  expect((await t.api('POST', '/api/v1/companies', { id: 'co-blue', name: '蓝天物业' })).status).toBe(201);
  await registerDevice(t, { id: 'pump-blue-1', kind: 'water_pump', siteId: 'site-blue', companyId: 'co-blue' });
  // a unit created by naming it on a device: its 24 h phone is not registered
  await registerDevice(t, { id: 'lift-blue-1', kind: 'elevator', siteId: 'site-blue', maintenanceUnitId: 'unit-ghost' });
});

afterAll(async () => {
  await browser?.close();
  await t?.dispose();
});

describe('console registry pages', () => {
  let admin: Page;
  let secret = '';

  it('an admin creates a company, a maintenance unit and a site through the forms', async () => {
    admin = await signIn(ADMIN_TOKEN);
    expect(await visibleNav(admin)).toEqual(['告警', '设备', '概览', '小区', '账号', '单位', '导入导出', '维保记录', '整改通知', '考核排名']);

    await go(admin, 'orgs', 'tr.company-row[data-id="co-blue"]');
    await admin.click('#company-new');
    await admin.fill('#company-id', 'co-green');
    await admin.fill('#company-name', '绿城物业');
    await admin.fill('#company-credit-code', '91330100MA2XXXXXX1');
    await admin.fill('#company-phone', '0571-88880000');
    await admin.click('#company-form button[type="submit"]');
    const company = admin.locator('tr.company-row[data-id="co-green"]');
    await company.waitFor();
    expect(await company.locator('td').first().textContent()).toBe('绿城物业 co-green');
    expect((await t.api('GET', '/api/v1/companies/co-green')).body).toMatchObject({ name: '绿城物业', phone: '0571-88880000', creditCode: '91330100MA2XXXXXX1' });

    // the unit named only on a device has no 24 h phone: flagged
    const ghost = admin.locator('tr.unit-row[data-id="unit-ghost"]');
    expect(await ghost.locator('td.phone .missing').textContent()).toBe('未登记');
    expect(await text(admin, '#units .missing-phones')).toContain('1 个维保单位尚未登记 24 小时值班电话');
    // a unit needs its 24 h phone: the gateway's refusal is shown under the field
    await admin.click('#unit-new');
    await admin.fill('#unit-id', 'unit-east');
    await admin.fill('#unit-name', '东方电梯维保');
    await admin.fill('#unit-phone', 'call us');
    await admin.click('#unit-form button[type="submit"]');
    await admin.waitForSelector('#unit-phone-error:not([hidden])');
    expect(await text(admin, '#unit-phone-error')).toMatch(/phone number/);
    expect(await admin.getAttribute('#unit-phone', 'aria-invalid')).toBe('true');
    await admin.fill('#unit-phone', '400-800-1234');
    await admin.click('#unit-form button[type="submit"]');
    const unit = admin.locator('tr.unit-row[data-id="unit-east"]');
    await unit.waitFor();
    expect(await unit.locator('td.phone').textContent()).toBe('400-800-1234');
    expect(await unit.getAttribute('data-phone-missing')).toBe('false');
    await shot(admin, 'orgs');

    await go(admin, 'sites', 'tr.site-row[data-id="site-blue"]');
    await admin.click('#site-new');
    await admin.fill('#site-id', 'site-lake');
    await admin.selectOption('#site-company', 'co-green');
    await admin.fill('#site-name', '湖畔小区');
    await admin.fill('#site-street', '南山街道');
    await admin.fill('#site-community', '湖畔社区');
    await admin.fill('#site-grid', '第三网格');
    await admin.selectOption('#site-area', 'rural');
    await admin.click('#site-form button[type="submit"]');
    const site = admin.locator('tr.site-row[data-id="site-lake"]');
    await site.waitFor();
    expect(await site.locator('td').allTextContents()).toEqual(['湖畔小区 site-lake', '绿城物业', '南山街道', '湖畔社区', '第三网格', '农村', '0', expect.any(String)]);
    expect((await t.api('GET', '/api/v1/sites/site-lake')).body).toMatchObject({ companyId: 'co-green', area: 'rural', street: '南山街道', grid: '第三网格' });

    // edit: the form holds the site's values; the list shows the new name
    await site.locator('button.edit-site').click();
    expect(await admin.inputValue('#site-edit-community')).toBe('湖畔社区');
    await admin.fill('#site-edit-name', '湖畔花园');
    await admin.click('#site-edit-form button[type="submit"]');
    await admin.waitForFunction(() => document.querySelector('tr.site-row[data-id="site-lake"] strong')?.textContent === '湖畔花园 site-lake');
    expect((await t.api('GET', '/api/v1/sites/site-lake')).body.name).toBe('湖畔花园');
    // an admin is offered the handover (移交) of each site
    expect(await site.locator('button.handover').textContent()).toBe('移交');
    await shot(admin, 'sites');
    // its form checks the emergency operator's term (at most 6 months) before anything is sent
    await site.locator('button.handover').click();
    const now = new Date();
    const day = (d: Date) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    expect(await admin.inputValue('#handover-from')).toBe(day(now));
    expect(await admin.locator('#handover-company option[value="co-green"]').count()).toBe(0);
    expect(await admin.locator('#handover-company option[value="co-blue"]').textContent()).toBe('蓝天物业');
    const patches: string[] = [];
    admin.on('request', (r) => { if (r.method() === 'PATCH') patches.push(r.url()); });
    await admin.selectOption('#handover-company', 'co-blue');
    await admin.fill('#handover-until', day(new Date(now.getFullYear(), now.getMonth() + 7, 1)));
    await admin.click('#handover-form button[type="submit"]');
    await admin.waitForSelector('#handover-until-error:not([hidden])');
    expect(await text(admin, '#handover-until-error')).toBe('应急物业期限最长 6 个月。');
    expect(patches).toEqual([]);
    await admin.click('#handover-form button[type="button"]');
    await admin.waitForSelector('#handover-form', { state: 'detached' });
    expect((await t.api('GET', '/api/v1/sites/site-lake')).body.companyId).toBe('co-green');

    // a real handover (of another site: the next tests build on site-lake) from today to an emergency
    // operator for three months, confirmed: the site's page shows the new company, the emergency
    // badge and who was responsible when
    expect((await t.api('POST', '/api/v1/sites', { id: 'site-old', name: '老旧小区', companyId: 'co-green' })).status).toBe(201);
    await admin.goto(`${t.httpUrl}/#/sites/site-old`);
    await admin.waitForSelector('#responsibility tbody tr');
    await admin.click('.panel-head button.handover');
    await admin.selectOption('#handover-company', 'co-blue');
    const until = day(new Date(now.getFullYear(), now.getMonth() + 3, now.getDate()));
    await admin.fill('#handover-until', until);
    await admin.click('#handover-form button[type="submit"]');
    await admin.click('#confirm-yes');
    await admin.waitForSelector('#handover-form', { state: 'detached' });
    expect((await t.api('GET', '/api/v1/sites/site-old')).body).toMatchObject({ companyId: 'co-blue', operator: 'emergency', emergencyUntil: until });
    await admin.waitForSelector('#responsibility tbody tr:nth-child(2)');
    expect(await admin.locator('#responsibility tbody tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.company))).toEqual(['co-green', 'co-blue']);
    expect(await text(admin, '.panel-head .badge.emergency')).toContain(until);
    await shot(admin, 'site-handover');
  });

  it('registers an elevator through the form: the field error shows, the secret is shown once and logs in over MQTT', async () => {
    await go(admin, 'devices', 'tr.device-row[data-id="pump-blue-1"]');
    await admin.click('#device-new');
    await admin.waitForSelector('#device-form');
    // elevator fields only for an elevator
    await admin.selectOption('#dev-kind', 'fire_panel');
    expect(await admin.locator('#dev-top-floor').isVisible()).toBe(false);
    await admin.selectOption('#dev-kind', 'elevator');
    expect(await admin.locator('#dev-top-floor').isVisible()).toBe(true);
    // names in the selects, ids as values
    expect(await admin.locator('#dev-site option[value="site-lake"]').textContent()).toBe('湖畔花园 · 绿城物业');
    expect(await admin.locator('#dev-unit option[value="unit-east"]').textContent()).toBe('东方电梯维保');

    await admin.fill('#dev-id', 'lift-lake-1');
    await admin.selectOption('#dev-site', 'site-lake');
    await admin.fill('#dev-location', '3号楼 1单元 客梯');
    await admin.fill('#dev-building', '3');
    await admin.selectOption('#dev-unit', 'unit-east');
    await admin.fill('#dev-reg-code', '31103301012019000001');
    await admin.fill('#dev-next-inspection', '2027-03-01');
    await admin.fill('#dev-rated-speed', '1.75');
    await admin.fill('#dev-installed-at', '2019-06-18');
    await admin.fill('#dev-top-floor', '-2');
    await admin.fill('#dev-bottom-floor', '5');
    await admin.click('#device-form button[type="submit"]');
    await admin.waitForSelector('#dev-top-floor-error:not([hidden])');
    expect(await text(admin, '#dev-top-floor-error')).toContain('must not be below bottomFloor');
    expect(await admin.locator('#dev-bottom-floor-error').isVisible()).toBe(false);
    expect(await text(admin, '#device-form .form-error')).toBe('请检查标出的字段。');
    await shot(admin, 'device-field-error');
    expect((await t.api('GET', '/api/v1/devices/lift-lake-1')).status).toBe(404);

    await admin.fill('#dev-top-floor', '18');
    await admin.fill('#dev-bottom-floor', '-1');
    await admin.click('#device-form button[type="submit"]');
    await admin.waitForSelector('dialog.secret-dialog[open]');
    expect(await text(admin, 'dialog.secret-dialog .secret-warning')).toContain('密钥只显示这一次');
    expect(await admin.locator('#device-form').count()).toBe(0);
    await shot(admin, 'device-secret');
    secret = await takeSecret(admin);

    const stored = (await t.api('GET', '/api/v1/devices/lift-lake-1')).body;
    expect(stored).toMatchObject({
      kind: 'elevator', siteId: 'site-lake', siteName: '湖畔花园', companyId: 'co-green', maintenanceUnitId: 'unit-east', maintenanceUnitName: '东方电梯维保',
      location: '3号楼 1单元 客梯', building: '3', registrationCode: '31103301012019000001', nextInspectionDue: '2027-03-01',
      ratedSpeed: 1.75, topFloor: 18, bottomFloor: -1, installedAt: '2019-06-18',
    });
    expect(stored.warrantyUntil).toBeUndefined();
    expect(await mqttLogin('lift-lake-1', secret)).toBe(true);
    expect(await mqttLogin('lift-lake-1', secret.slice(0, -1) + (secret.endsWith('a') ? 'b' : 'a'))).toBe(false);
  });

  it('disables and re-enables the elevator, rotates its secret and shows its QR label', async () => {
    const row = admin.locator('tr.device-row[data-id="lift-lake-1"]');
    await row.waitFor();
    expect(await row.locator('td').nth(2).textContent()).toBe('湖畔花园');

    await row.locator('button[data-act="disable"]').click();
    expect(await text(admin, 'dialog.confirm[open] p')).toContain('lift-lake-1');
    await admin.click('#confirm-yes');
    await admin.waitForSelector('tr.device-row[data-id="lift-lake-1"][data-disabled="true"]');
    expect(await row.locator('.dev-state').textContent()).toBe('已停用');
    expect((await t.api('GET', '/api/v1/devices/lift-lake-1')).body.disabled).toBe(true);
    expect(await mqttLogin('lift-lake-1', secret)).toBe(false);
    await row.locator('button[data-act="enable"]').click();
    await admin.waitForSelector('tr.device-row[data-id="lift-lake-1"][data-disabled="false"]');
    expect(await mqttLogin('lift-lake-1', secret)).toBe(true);

    // a new secret only after confirming; cancelling changes nothing
    await row.locator('button[data-act="rotate"]').click();
    await admin.click('#confirm-no');
    expect(await admin.locator('dialog[open]').count()).toBe(0);
    expect(await mqttLogin('lift-lake-1', secret)).toBe(true);
    await row.locator('button[data-act="rotate"]').click();
    await admin.click('#confirm-yes');
    const rotated = await takeSecret(admin);
    expect(rotated).not.toBe(secret);
    expect(await mqttLogin('lift-lake-1', secret)).toBe(false);
    expect(await mqttLogin('lift-lake-1', rotated)).toBe(true);
    secret = rotated;

    await row.locator('button[data-act="qr"]').click();
    await admin.waitForSelector('dialog.qr-dialog[open] #qr-image');
    await admin.waitForFunction(() => {
      const img = document.querySelector('#qr-image') as HTMLImageElement | null;
      return !!img && img.complete && img.naturalWidth > 0;
    });
    expect(await admin.getAttribute('#qr-image', 'src')).toBe('/public/elevators/31103301012019000001/qr.svg');
    expect(await admin.getAttribute('#qr-print', 'href')).toBe('/public/elevators/31103301012019000001/print');
    expect(await admin.getAttribute('#qr-print', 'target')).toBe('_blank');
    await shot(admin, 'device-qr');
    await admin.locator('dialog.qr-dialog button').click();
    // only elevators with a registration code have a QR label
    expect(await admin.locator('tr.device-row[data-id="pump-blue-1"] button[data-act="qr"]').count()).toBe(0);

    await go(admin, 'sites', 'tr.site-row[data-id="site-lake"]');
    await admin.waitForFunction(() => document.querySelector('tr.site-row[data-id="site-lake"] td.device-count')?.textContent === '1');
    // the site's page: its facts; the responsibility history only when the gateway answers it
    await admin.click('tr.site-row[data-id="site-lake"] a.open-site');
    await admin.waitForSelector('#site-title');
    expect(await text(admin, '#site-title')).toBe('湖畔花园');
    expect(await text(admin, '#view-sites .facts')).toContain('3号楼 1单元 客梯');
    const history = await t.api('GET', '/api/v1/sites/site-lake/responsibility');
    expect(await admin.locator('#responsibility').count()).toBe(history.status === 200 ? 1 : 0);
  });

  it('creates property, maintenance and street accounts through the form; each token is shown once and signs in; disable, enable, rotate', async () => {
    await go(admin, 'accounts', '#account-new:not([disabled])');
    await admin.click('#account-new');
    // the scope follows the role: a company select, a unit select, a street name, nothing
    await admin.selectOption('#acct-role', 'market-supervision');
    expect(await admin.locator('#account-form .field[data-field="scope"]:visible').count()).toBe(0);
    await admin.selectOption('#acct-role', 'street');
    expect(await admin.locator('#acct-scope-street').isVisible()).toBe(true);
    await admin.selectOption('#acct-role', 'property');
    expect(await admin.locator('#acct-scope-street').isVisible()).toBe(false);
    expect(await admin.locator('#acct-scope-company option[value="co-green"]').textContent()).toBe('绿城物业');
    await admin.fill('#acct-id', 'prop-green');
    await admin.fill('#acct-name', '绿城值班室');
    await admin.selectOption('#acct-scope-company', 'co-green');
    await admin.click('#account-form button[type="submit"]');
    expect(await text(admin, 'dialog.secret-dialog[open] .secret-warning')).toContain('令牌只显示这一次');
    tokens.prop = await takeSecret(admin);

    await admin.click('#account-new');
    await admin.fill('#acct-id', 'maint-east');
    await admin.selectOption('#acct-role', 'maintenance');
    await admin.selectOption('#acct-scope-unit', 'unit-east');
    await admin.click('#account-form button[type="submit"]');
    tokens.maint = await takeSecret(admin);

    await admin.click('#account-new');
    await admin.fill('#acct-id', 'street-ns');
    await admin.selectOption('#acct-role', 'street');
    await admin.fill('#acct-scope-street', '南山街道');
    await admin.click('#account-form button[type="submit"]');
    tokens.street = await takeSecret(admin);

    const prop = admin.locator('tr.account-row[data-id="prop-green"]');
    expect(await prop.locator('td.role').textContent()).toBe('物业');
    expect(await prop.locator('td.scope').textContent()).toBe('绿城物业 co-green');
    expect(await admin.locator('tr.account-row[data-id="maint-east"] td.scope').textContent()).toBe('东方电梯维保 unit-east');
    expect(await admin.locator('tr.account-row[data-id="street-ns"] td.scope').textContent()).toBe('街道名称：南山街道');
    expect((await t.api('GET', '/api/v1/me', undefined, tokens.prop)).body).toMatchObject({ id: 'prop-green', role: 'property', scope: 'co-green', scopeName: '绿城物业' });
    expect((await t.api('GET', '/api/v1/me', undefined, tokens.maint)).body).toMatchObject({ id: 'maint-east', role: 'maintenance', scope: 'unit-east', scopeName: '东方电梯维保' });
    await shot(admin, 'accounts');

    const street = admin.locator('tr.account-row[data-id="street-ns"]');
    await street.locator('button[data-act="disable"]').click();
    await admin.click('#confirm-yes');
    await admin.waitForSelector('tr.account-row[data-id="street-ns"][data-disabled="true"]');
    expect((await t.api('GET', '/api/v1/me', undefined, tokens.street)).status).toBe(401);
    await street.locator('button[data-act="enable"]').click();
    await admin.waitForSelector('tr.account-row[data-id="street-ns"][data-disabled="false"]');
    expect((await t.api('GET', '/api/v1/me', undefined, tokens.street)).status).toBe(200);
    await street.locator('button[data-act="rotate"]').click();
    await admin.click('#confirm-yes');
    const rotated = await takeSecret(admin);
    expect((await t.api('GET', '/api/v1/me', undefined, tokens.street)).status).toBe(401);
    expect((await t.api('GET', '/api/v1/me', undefined, rotated)).body).toMatchObject({ id: 'street-ns', role: 'street', scope: '南山街道' });
  });

  it('the property account signs in with its token and sees only its company: sites, devices, its own company, no accounts page', async () => {
    const page = await signIn(tokens.prop!);
    expect(await visibleNav(page)).toEqual(['告警', '设备', '概览', '小区', '单位', '导入导出', '维保记录', '整改通知', '考核排名']);
    // the company's name, not its id, in the header
    expect(await text(page, '#who')).toBe('prop-green · 物业 · 绿城物业');
    // no accounts page, even by its address
    await page.evaluate(() => { location.hash = '#/accounts'; });
    await page.waitForFunction(() => !document.getElementById('view-alerts')!.hidden);
    expect(await page.locator('#view-accounts').isVisible()).toBe(false);

    await go(page, 'sites', 'tr.site-row');
    expect(await rowIds(page, 'tr.site-row')).toEqual(['site-lake']);
    expect(await page.locator('button.handover').count()).toBe(0);
    // its own company, fixed
    await page.click('#site-new');
    expect(await page.locator('#site-company').isDisabled()).toBe(true);
    expect(await page.locator('#site-company option:checked').textContent()).toBe('绿城物业');
    await page.fill('#site-id', 'site-lake-2');
    await page.fill('#site-name', '湖畔二期');
    await page.click('#site-form button[type="submit"]');
    await page.waitForSelector('tr.site-row[data-id="site-lake-2"]');
    expect((await t.api('GET', '/api/v1/sites/site-lake-2')).body.companyId).toBe('co-green');

    await go(page, 'devices', 'tr.device-row[data-id="lift-lake-1"]');
    expect(await rowIds(page, 'tr.device-row')).toEqual(['lift-lake-1']);
    expect(await page.locator('#device-new').isVisible()).toBe(true);

    await go(page, 'orgs', 'tr.company-row');
    expect(await rowIds(page, 'tr.company-row')).toEqual(['co-green']);
    expect(await page.locator('#units').count()).toBe(0);
    expect(await page.locator('#company-new').count()).toBe(0);
    await page.click('tr.company-row[data-id="co-green"] button.edit');
    expect(await page.locator('#company-edit-credit-code').count()).toBe(0);
    await page.fill('#company-edit-phone', '0571-88886666');
    await page.click('#company-edit-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('tr.company-row[data-id="co-green"] td.phone')?.textContent === '0571-88886666');
    expect((await t.api('GET', '/api/v1/companies/co-green')).body.phone).toBe('0571-88886666');
    await shot(page, 'property-orgs');
    await page.context().close();
  });

  it('a maintenance account sees only its unit and changes its 24 h phone', async () => {
    const page = await signIn(tokens.maint!);
    expect(await visibleNav(page)).toEqual(['告警', '设备', '概览', '单位', '维保记录', '整改通知', '考核排名']);
    await go(page, 'orgs', 'tr.unit-row');
    expect(await rowIds(page, 'tr.unit-row')).toEqual(['unit-east']);
    expect(await page.locator('#companies').count()).toBe(0);
    expect(await page.locator('#unit-new').count()).toBe(0);
    await page.click('tr.unit-row[data-id="unit-east"] button.edit');
    expect(await text(page, '#unit-edit-form p.muted')).toBe('本单位账号只能修改名称和电话。');
    expect(await page.locator('#unit-edit-licence').count()).toBe(0);
    await page.fill('#unit-edit-phone', '400-800-9999');
    await page.click('#unit-edit-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('tr.unit-row[data-id="unit-east"] td.phone')?.textContent === '400-800-9999');
    expect((await t.api('GET', '/api/v1/maintenance-units/unit-east')).body.phone).toBe('400-800-9999');
    // its elevators, and nothing to manage on them
    await go(page, 'devices', 'tr.device-row');
    expect(await rowIds(page, 'tr.device-row')).toEqual(['lift-lake-1']);
    expect(await page.locator('#device-new').count()).toBe(0);
    expect(await page.locator('tr.device-row button').count()).toBe(0);
    await page.context().close();
  });

  it('the registry pages are all in English after the toggle, with no label key shown raw', async () => {
    await admin.click('#lang-toggle');
    expect(await visibleNav(admin)).toEqual(['Alerts', 'Devices', 'Overview', 'Sites', 'Accounts', 'Organisations', 'Import / export', 'Maintenance visits', 'Rectification orders', 'Scorecards and ranking']);
    const leftovers = () => admin.evaluate(() => {
      const labels = [...document.querySelectorAll('main h2, main h3, main th, main label, main button, dialog h2, dialog label, dialog button, dialog .notice, .field-error, .hint, td.role, td.area, .missing, .notice, .dev-state')]
        .filter((el) => (el as HTMLElement).offsetParent !== null || el.closest('dialog[open]'));
      return labels.map((el) => el.textContent ?? '').filter((s) => /[\u4e00-\u9fff]/.test(s));
    });
    const rawKeys = () => admin.evaluate(() => (document.body.innerText.match(/\b(?:form|sites|devices|accounts|orgs|import|export|secret|handover|scope|area|nav|role|kind)\.[a-zA-Z][\w.-]*/g) ?? []));

    await go(admin, 'sites', 'tr.site-row[data-id="site-lake"]');
    expect(await text(admin, '#view-sites h2')).toBe('Sites');
    expect(await text(admin, '#site-new')).toBe('New site');
    expect(await admin.locator('tr.site-row[data-id="site-lake"] td.area').textContent()).toBe('Rural');
    expect(await leftovers()).toEqual([]);
    expect(await rawKeys()).toEqual([]);
    await shot(admin, 'sites-en');

    await go(admin, 'devices', 'tr.device-row[data-id="lift-lake-1"]');
    expect(await text(admin, 'tr.device-row[data-id="lift-lake-1"] button[data-act="rotate"]')).toBe('New secret');
    await admin.click('#device-new');
    await admin.waitForSelector('#device-form');
    await admin.selectOption('#dev-kind', 'elevator');
    expect(await text(admin, 'label[for="dev-top-floor"]')).toBe('Top floor');
    expect(await leftovers()).toEqual([]);
    expect(await rawKeys()).toEqual([]);
    await shot(admin, 'device-form-en');
    await admin.click('#device-form button[type="button"]');

    await go(admin, 'accounts', 'tr.account-row[data-id="prop-green"]');
    expect(await admin.locator('tr.account-row[data-id="prop-green"] td.role').textContent()).toBe('Property company');
    expect(await admin.locator('tr.account-row[data-id="street-ns"] td.scope').textContent()).toBe('Street name: 南山街道');
    expect(await leftovers()).toEqual([]);
    expect(await rawKeys()).toEqual([]);

    await go(admin, 'orgs', 'tr.unit-row[data-id="unit-ghost"]');
    expect(await admin.locator('tr.unit-row[data-id="unit-ghost"] .missing').textContent()).toBe('not registered');
    expect(await leftovers()).toEqual([]);
    expect(await rawKeys()).toEqual([]);

    await go(admin, 'import', '#import-check');
    expect(await text(admin, '#import-check')).toBe('Check');
    expect(await leftovers()).toEqual([]);
    expect(await rawKeys()).toEqual([]);
    await shot(admin, 'import-en');
    await admin.click('#lang-toggle');
    expect(await text(admin, '#import-check')).toBe('检查');
  });

  it('imports sites and devices from CSV (check, then import), saves the new secrets once, and exports', async () => {
    // in Chinese, whatever the test before left
    if (await admin.getAttribute('html', 'lang') === 'en') await admin.click('#lang-toggle');
    await go(admin, 'import', '#import-check');
    // rows the gateway refuses are listed, nothing is imported
    await admin.setInputFiles('#import-file', { name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('id,name,companyId\r\nsite-imp-bad,,co-nope\r\n') });
    await admin.selectOption('#import-entity', 'sites');
    expect(await admin.locator('#import-run').isDisabled()).toBe(true);
    await admin.click('#import-check');
    await admin.waitForSelector('#import-result');
    expect(await admin.locator('#import-result tr.import-error').count()).toBeGreaterThan(0);
    expect(await admin.locator('#import-run').isDisabled()).toBe(true);

    await admin.setInputFiles('#import-file', { name: 'sites.csv', mimeType: 'text/csv', buffer: Buffer.from('id,name,companyId\r\nsite-imp,导入小区,co-green\r\n') });
    await admin.selectOption('#import-entity', 'sites');
    await admin.click('#import-check');
    await admin.waitForSelector('#import-result[data-dry-run="true"]');
    expect(await text(admin, '#import-sites')).toMatch(/^新建 1，更新 0(，未变 0)?$/);
    expect((await t.api('GET', '/api/v1/sites/site-imp')).status).toBe(404);
    await admin.click('#import-run');
    await admin.waitForSelector('#import-result[data-dry-run="false"]');
    expect((await t.api('GET', '/api/v1/sites/site-imp')).body.name).toBe('导入小区');

    await admin.setInputFiles('#import-file', { name: 'devices.csv', mimeType: 'text/csv', buffer: Buffer.from('id,kind,siteId\r\nsmoke-imp-1,smoke_detector,site-imp\r\n') });
    await admin.selectOption('#import-entity', 'devices');
    await admin.click('#import-check');
    await admin.waitForSelector('#import-result[data-dry-run="true"]');
    await admin.click('#import-run');
    await admin.waitForSelector('#import-secrets');
    const [download] = await Promise.all([admin.waitForEvent('download'), admin.click('#import-secrets')]);
    const lines = readFileSync((await download.path())!, 'utf8').trim().split(/\r?\n/);
    expect(lines[0]).toBe('deviceId,secret');
    const [id, deviceSecret] = lines[1]!.split(',');
    expect(id).toBe('smoke-imp-1');
    expect(await mqttLogin('smoke-imp-1', deviceSecret!)).toBe(true);
    // leaving the page forgets the secrets
    await go(admin, 'sites', 'tr.site-row');
    await go(admin, 'import', '#import-check');
    expect(await admin.locator('#import-secrets').count()).toBe(0);

    const [exported] = await Promise.all([admin.waitForEvent('download'), admin.click('#export-sites-csv')]);
    expect(readFileSync((await exported.path())!, 'utf8')).toContain('site-lake');
    const [xlsx] = await Promise.all([admin.waitForEvent('download'), admin.click('#export-xlsx')]);
    expect(readFileSync((await xlsx.path())!).subarray(0, 2).toString()).toBe('PK');
  });

  it('no page errors', async () => {
    await admin.context().close();
    // expected refusals: the 400s of the field-error checks, the 404 of a responsibility history the gateway does not have yet
    const expected = (e: string) => /status of 400/.test(e) || (/status of 404/.test(e) && /\/responsibility\b/.test(e));
    expect(pageErrors.filter((e) => !expected(e))).toEqual([]);
  });
});
