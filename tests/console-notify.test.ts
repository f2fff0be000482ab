/**
 * The console telling the people on duty (issue 17), in Debian's headless Chromium against the real
 * gateway: a new critical alert rings the alarm (and not a minor one, nor with the sound switched
 * off), shows a browser notification, and counts in the page title until the party acknowledges it;
 * the contacts page adds a contact and shows the gateway's field errors; an alert's detail shows its
 * delivery log (a WeCom robot served by a local server).
 *
 * The browser is started with `--autoplay-policy=no-user-gesture-required` (a headless browser has
 * no person to click; playwright passes it too), `window.Notification` is wrapped by an init script
 * that records what the page shows, and the page's state is read from the audio element itself
 * (`paused`, and `data-state` / `data-plays` that notify.js keeps). Screenshots go to tests/artifacts/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { account, raiseAlert } from './harness/alerts.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), 'artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** harness/browser.ts's flags, and sound without a click. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required'];

let t: TestGateway;
let browser: Browser;
let robot: Server;
/** What the WeCom robot received. */
const robotCalls: Array<{ msgtype: string; markdown?: { content: string } }> = [];
const tokens = {} as Record<'prop' | 'maint', string>;
const pageErrors: string[] = [];

const ELEVATOR = { kind: 'elevator', companyId: 'co-sun', siteId: 'site-sun', maintenanceUnitId: 'unit-sun' };

interface Recorded { title: string; body?: string; tag?: string }

/**
 * A signed-in page in a fresh context with notifications allowed and every notification recorded
 * (`window.__notifications`; `window.__clickNotification(i)` clicks the i-th as a person would).
 */
async function signIn(token: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'zh-CN' });
  context.setDefaultTimeout(10_000);
  await context.grantPermissions(['notifications'], { origin: t.httpUrl });
  await context.addInitScript(() => {
    const w = window as unknown as { Notification: typeof Notification; __notifications: unknown[]; __shown: Notification[]; __clickNotification: (i: number) => void };
    const Real = w.Notification;
    w.__notifications = [];
    w.__shown = [];
    class Recording extends Real {
      constructor(title: string, options?: NotificationOptions) {
        w.__notifications.push({ title, body: options?.body, tag: options?.tag });
        super(title, options);
        w.__shown.push(this);
      }
    }
    w.Notification = Recording;
    w.__clickNotification = (i) => {
      const n = w.__shown[i]!;
      n.onclick?.call(n, new Event('click'));
    };
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()} @ ${msg.location().url}`); });
  await page.goto(t.httpUrl + '/');
  await page.fill('#token', token);
  await page.click('#sign-in-form button[type="submit"]');
  await page.waitForSelector('#live[data-state="live"]');
  await page.waitForSelector('#alert-list-panel .panel-head');
  return page;
}

const text = async (page: Page, selector: string) => (await page.locator(selector).first().textContent())?.trim() ?? '';
const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `console-notify-${name}.png`), fullPage: true });
const alarm = (page: Page) => page.evaluate(() => {
  const a = document.getElementById('alarm') as HTMLAudioElement;
  return { state: a.dataset.state, plays: Number(a.dataset.plays ?? 0), paused: a.paused };
});
const notifications = (page: Page) => page.evaluate(() => (window as unknown as { __notifications: Recorded[] }).__notifications);
const raise = (type: 'elevator.trapped' | 'elevator.door_close_fault') => raiseAlert(t, type, ELEVATOR);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  robot = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      robotCalls.push(JSON.parse(body) as (typeof robotCalls)[number]);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ errcode: 0, errmsg: 'ok' }));
    });
  });
  await new Promise<void>((r) => robot.listen(0, '127.0.0.1', r));
  const robotUrl = `http://127.0.0.1:${(robot.address() as AddressInfo).port}/cgi-bin/webhook/send?key=duty-key`;
  t = await startTestGateway({
    alerts: { schedules: { runAtStart: false } },
    notifications: { channels: { robots: { 'duty-room': { kind: 'wecom', url: robotUrl } } } },
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  expect((await t.api('POST', '/api/v1/companies', { id: 'co-sun', name: '阳光物业' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/maintenance-units', { id: 'unit-sun', name: '阳光电梯维保', phone: '075512345678' })).status).toBe(201);
  expect((await t.api('POST', '/api/v1/sites', { id: 'site-sun', name: '阳光小区', companyId: 'co-sun' })).status).toBe(201);
  tokens.prop = await account(t, 'prop-sun', 'property', 'co-sun');
  tokens.maint = await account(t, 'maint-sun', 'maintenance', 'unit-sun');
});

afterAll(async () => {
  await browser?.close();
  await t?.dispose();
  await new Promise((r) => robot?.close(r));
});

describe('console: telling the people on duty', () => {
  it('serves the alarm sound, which the page\'s policy lets it play', async () => {
    const page = await fetch(t.httpUrl + '/');
    expect(page.headers.get('content-security-policy')).toContain("media-src 'self'");
    const wav = await fetch(t.httpUrl + '/alarm.wav');
    expect(wav.status).toBe(200);
    expect(wav.headers.get('content-type')).toBe('audio/wav');
    const body = Buffer.from(await wav.arrayBuffer());
    expect(body.subarray(0, 4).toString('ascii')).toBe('RIFF');
    expect(body.subarray(8, 12).toString('ascii')).toBe('WAVE');
    expect(body.length).toBeLessThan(100 * 1024);
    await page.body?.cancel();
  });

  it('a new critical alert rings, notifies and counts in the title until the party acknowledges it; a minor one only counts', async () => {
    const page = await signIn(tokens.prop);
    expect(await page.title()).toBe('社区物联网监测 · 值班台');
    expect(await text(page, '#sound-toggle')).toBe('声音 开');
    expect(await page.getAttribute('#sound-toggle', 'aria-pressed')).toBe('true');
    // notifications are allowed by the browser but off until switched on (remembered)
    expect(await text(page, '#notify-toggle')).toBe('通知 关');
    await page.click('#notify-toggle');
    expect(await text(page, '#notify-toggle')).toBe('通知 开');
    expect(await page.evaluate(() => localStorage.getItem('console.notify'))).toBe('on');
    expect(await alarm(page)).toMatchObject({ state: 'idle', plays: 0, paused: true });
    expect(await page.locator('#alarm-silence').isVisible()).toBe(false);

    // a minor alert: counted, not rung, not notified
    const minor = raise('elevator.door_close_fault');
    await page.waitForSelector(`li.alert-row[data-id="${minor}"]`);
    await page.waitForFunction(() => document.title === '(1) 值班台');
    expect(await alarm(page)).toMatchObject({ state: 'idle', plays: 0 });
    expect(await notifications(page)).toEqual([]);

    // a critical one: the alarm plays, a notification is shown (label + site; device; tag = the alert)
    const trapped = raise('elevator.trapped');
    await page.waitForSelector(`li.alert-row[data-id="${trapped}"]`);
    await page.waitForFunction(() => document.title === '(2) 值班台');
    await page.waitForFunction(() => Number((document.getElementById('alarm') as HTMLAudioElement).dataset.plays ?? 0) >= 1);
    expect((await alarm(page)).state).toBe('ringing');
    await page.waitForFunction(() => !(document.getElementById('alarm') as HTMLAudioElement).paused);
    expect(await page.locator('#alarm-silence').isVisible()).toBe(true);
    expect(await text(page, '#alarm-silence')).toBe('消音');
    const shown = await notifications(page);
    expect(shown).toEqual([{ title: '电梯困人 · 阳光小区', body: expect.stringContaining('电梯') as unknown as string, tag: String(trapped) }]);
    await shot(page, 'ringing');

    // clicking the notification opens the alert
    await page.evaluate(() => (window as unknown as { __clickNotification: (i: number) => void }).__clickNotification(0));
    await page.waitForSelector(`#alert-detail[data-id="${trapped}"][data-state="open"]`);
    expect(page.url()).toContain(`#/alerts/${trapped}`);

    // acknowledging it stops the alarm and drops the count; the minor one still waits
    await page.click('#alert-detail button[data-action="acknowledge"]');
    await page.waitForSelector('#alert-detail[data-state="acknowledged"]');
    await page.waitForFunction(() => document.title === '(1) 值班台');
    expect(await alarm(page)).toMatchObject({ state: 'idle', paused: true });
    expect(await page.locator('#alarm-silence').isVisible()).toBe(false);

    // the maintenance unit has not acknowledged the trapped passengers: its own console counts it
    const maint = await signIn(tokens.maint);
    await maint.waitForFunction(() => document.title === '(2) 值班台');
    await maint.context().close();

    // the minor one acknowledged elsewhere (the API): the live feed drops the count
    expect((await t.api('POST', `/api/v1/alerts/${minor}/acknowledge`, {}, tokens.prop)).status).toBe(200);
    await page.waitForFunction(() => document.title === '社区物联网监测 · 值班台');
    await page.context().close();
  });

  it('silenced, or with the sound switched off (remembered), a critical alert does not ring; the title still counts it', async () => {
    const page = await signIn(tokens.prop);
    const first = raise('elevator.trapped');
    await page.waitForFunction(() => Number((document.getElementById('alarm') as HTMLAudioElement).dataset.plays ?? 0) >= 1);
    await page.click('#alarm-silence');
    expect(await alarm(page)).toMatchObject({ state: 'idle', paused: true });
    expect(await page.title()).toBe('(1) 值班台');

    await page.click('#sound-toggle');
    expect(await text(page, '#sound-toggle')).toBe('声音 关');
    expect(await page.getAttribute('#sound-toggle', 'aria-pressed')).toBe('false');
    await page.reload();
    await page.waitForSelector('#live[data-state="live"]');
    expect(await text(page, '#sound-toggle')).toBe('声音 关');
    const plays = (await alarm(page)).plays;
    const second = raise('elevator.trapped');
    await page.waitForSelector(`li.alert-row[data-id="${second}"]`);
    await page.waitForFunction(() => document.title === '(2) 值班台');
    expect(await alarm(page)).toMatchObject({ state: 'idle', plays, paused: true });

    // English: the switches follow the language
    await page.click('#lang-toggle');
    expect(await text(page, '#sound-toggle')).toBe('Sound off');
    expect(await text(page, '#contacts-link')).toBe('Notification contacts');
    expect(await page.title()).toBe('(2) Console');
    await page.click('#lang-toggle');
    for (const id of [first, second]) expect((await t.api('POST', `/api/v1/alerts/${id}/acknowledge`, {}, tokens.prop)).status).toBe(200);
    await page.context().close();
  });

  it('a browser that refuses sound until the page gets a click says so in the header; the click plays it', async () => {
    // Chromium's own refusal cannot be had here: playwright's evaluations count as a gesture. The page
    // gets what a desktop browser answers before any click instead: play() rejected with NotAllowedError.
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'zh-CN' });
    context.setDefaultTimeout(10_000);
    await context.addInitScript((token) => {
      sessionStorage.setItem('console.token', token);
      const play = HTMLMediaElement.prototype.play;
      let clicked = false;
      document.addEventListener('click', () => { clicked = true; }, true);
      HTMLMediaElement.prototype.play = function () {
        return clicked ? play.call(this) : Promise.reject(new DOMException('play() can only be initiated by a user gesture.', 'NotAllowedError'));
      };
    }, tokens.prop);
    const page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    // signed in from the saved session: no click yet
    await page.goto(t.httpUrl + '/');
    await page.waitForSelector('#live[data-state="live"]');
    await page.waitForSelector('#alert-list-panel .panel-head');
    const id = raise('elevator.trapped');
    await page.waitForSelector(`li.alert-row[data-id="${id}"]`);
    await page.waitForSelector('#sound-blocked:not([hidden])');
    expect(await text(page, '#sound-blocked')).toBe('浏览器阻止了告警声音：请点击此处允许播放');
    expect(await alarm(page)).toMatchObject({ state: 'ringing', plays: 0, paused: true });
    await shot(page, 'blocked');
    await page.click('#sound-blocked');
    await page.waitForFunction(() => Number((document.getElementById('alarm') as HTMLAudioElement).dataset.plays ?? 0) >= 1);
    expect(await page.locator('#sound-blocked').isVisible()).toBe(false);
    expect((await t.api('POST', `/api/v1/alerts/${id}/acknowledge`, {}, tokens.prop)).status).toBe(200);
    await page.waitForFunction(() => (document.getElementById('alarm') as HTMLAudioElement).dataset.state === 'idle');
    await context.close();
  });

  it('the contacts page adds a contact, shows the gateway\'s field errors, edits and deletes', async () => {
    const page = await signIn(tokens.prop);
    await page.click('#contacts-link');
    await page.waitForSelector('#view-contacts .panel-head h2');
    expect(await text(page, '#view-contacts h2')).toBe('通知联系人');
    expect(await text(page, '#contacts-party')).toBe('本单位：property/co-sun');
    await page.waitForSelector('#view-contacts .empty');

    await page.click('#contact-new');
    await page.fill('#contact-name', '值班室 王工');
    await page.fill('#contact-phone', '12345');
    await page.click('#contact-form button[type="submit"]');
    // the gateway's own words, under the phone field
    await page.waitForSelector('#contact-form .field[data-field="phone"] .field-error:not([hidden])');
    expect(await text(page, '#contact-form .field[data-field="phone"] .field-error')).toContain('手机号码');
    expect(await page.getAttribute('#contact-phone', 'aria-invalid')).toBe('true');
    await shot(page, 'contact-error');

    // a rule's channel that needs an address the contact lacks: the error is under that rule's channels
    await page.fill('#contact-phone', '13800138000');
    await page.check('#contact-form .contact-rule input[value="email"]');
    await page.click('#contact-form button[type="submit"]');
    await page.waitForSelector('#contact-form .field[data-field="rules.0.channels"] > .field-error:not([hidden])');
    expect(await text(page, '#contact-form .field[data-field="rules.0.channels"] > .field-error')).toContain('邮箱');
    expect(await page.locator('#contact-form .field[data-field="phone"] .field-error').isVisible()).toBe(false);

    // fixed: an e-mail address, the robot, quiet hours, on call first
    await page.fill('#contact-email', 'wang@example.com');
    await page.fill('#contact-robots', 'duty-room');
    await page.check('#contact-form .contact-rule input[value="wecom"]');
    await page.fill('#contact-quiet-from', '22:00');
    await page.fill('#contact-quiet-to', '07:00');
    await page.fill('#contact-oncall', '1');
    await page.click('#contact-form button[type="submit"]');
    const row = page.locator('tr.contact-row');
    await row.waitFor();
    expect(await row.locator('.contact-name').textContent()).toBe('值班室 王工');
    expect(await row.locator('.rule-line').textContent()).toBe('企业微信、短信、邮件：全部类型 · 紧急及以上');
    const stored = (await t.api('GET', '/api/v1/contacts', undefined, tokens.prop)).body.items;
    expect(stored).toMatchObject([{
      party: 'property/co-sun', name: '值班室 王工', phone: '13800138000', email: 'wang@example.com', robots: ['duty-room'],
      rules: [{ channels: ['wecom', 'sms', 'email'], minSeverity: 'critical' }], quietHours: { from: '22:00', to: '07:00' }, onCall: 1,
    }]);
    await shot(page, 'contacts');

    // edit: no more e-mail (its channel too), every severity; a second rule for elevators only
    await row.locator('button.edit').click();
    await page.fill('#contact-email', '');
    await page.uncheck('#contact-form .contact-rule input[value="email"]');
    await page.selectOption('#contact-rule-0-severity', '');
    await page.click('#contact-add-rule');
    await page.check('#contact-form .contact-rule[data-field="rules.1"] input[value="voice"]');
    await page.fill('#contact-rule-1-types', 'elevator.trapped');
    await page.click('#contact-form button[type="submit"]');
    await page.waitForSelector('tr.contact-row .rule-line >> nth=1');
    const changed = (await t.api('GET', `/api/v1/contacts/${stored[0].id}`, undefined, tokens.prop)).body;
    expect(changed.email).toBeUndefined();
    expect(changed.rules).toEqual([{ channels: ['wecom', 'sms'] }, { channels: ['voice'], types: ['elevator.trapped'] }]);

    // delete, after confirming; the contact stays for the delivery log test below
    await row.locator('button.remove').click();
    await page.click('#confirm-no');
    expect(await page.locator('tr.contact-row').count()).toBe(1);
    const extra = await t.api('POST', '/api/v1/contacts', { name: '临时', phone: '13900139000', rules: [] }, tokens.prop);
    expect(extra.status).toBe(201);
    await page.click('#app-nav a[data-view="alerts"]');
    await page.click('#contacts-link');
    await page.waitForSelector(`tr.contact-row[data-id="${extra.body.id}"]`);
    await page.locator(`tr.contact-row[data-id="${extra.body.id}"] button.remove`).click();
    await page.click('#confirm-yes');
    await page.waitForFunction((id) => !document.querySelector(`tr.contact-row[data-id="${id}"]`), extra.body.id);
    expect((await t.api('GET', `/api/v1/contacts/${extra.body.id}`, undefined, tokens.prop)).status).toBe(404);
    await page.context().close();
  });

  it('an alert\'s detail shows who was told, by which channel, and how it went', async () => {
    const page = await signIn(tokens.prop);
    const id = raise('elevator.trapped');
    // the contact of the test above has a WeCom rule for every alert: the robot gets a message
    await waitFor(() => robotCalls.length > 0, 10_000);
    const log = await waitFor(async () => {
      const r = await t.api('GET', `/api/v1/alerts/${id}/deliveries`, undefined, tokens.prop);
      return r.body.items?.some((d: { result: string }) => d.result === 'sent') ? r.body.items : undefined;
    });
    expect(log[0]).toMatchObject({ channel: 'wecom', result: 'sent' });
    await page.locator(`li.alert-row[data-id="${id}"] a`).click();
    const row = page.locator('#deliveries tr.delivery-row[data-channel="wecom"][data-result="sent"]').first();
    await row.waitFor();
    expect(await page.locator('#deliveries th').allTextContents()).toEqual(['渠道', '接收人', '原因', '第几次', '结果', '时间']);
    const cells = await row.locator('td').allTextContents();
    expect(cells[0]).toBe('企业微信');
    expect(cells[1]).toContain('duty-room');
    expect(cells[3]).toBe('1');
    expect(cells[4]).toBe('已发送');
    await shot(page, 'deliveries');

    await page.context().close();
    expect(pageErrors.filter((e) => !/status of (400|404)/.test(e))).toEqual([]);
  });
});
