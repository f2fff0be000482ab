/**
 * Debian's headless Chromium for the browser suites (the console, the public notice), driven by
 * playwright-core: never a downloaded browser build.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Starts the browser; a missing package fails with what to install, not with a launch error. */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A fresh browser context (its own sessionStorage and localStorage) on the console at `baseUrl`,
 * signed in with `token`, once its live feed is open. Script errors and console errors (with the
 * URL they came from) are collected in `errors`. Timeouts stay well under the test's, so a missing
 * element fails with its selector rather than with a timeout of the test.
 */
export async function signInToConsole(browser: Browser, baseUrl: string, token: string, errors: string[], viewport = { width: 1360, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport, locale: 'zh-CN', acceptDownloads: true });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()} @ ${msg.location().url}`); });
  await page.goto(baseUrl + '/');
  await page.fill('#token', token);
  await page.click('#sign-in-form button[type="submit"]');
  await page.waitForSelector('#live[data-state="live"]');
  return page;
}
