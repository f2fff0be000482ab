/**
 * The supervision scenarios and the history, played against a real gateway: a rescue with its
 * arrival on time, a faked maintenance visit, an order returned once and then closed (on the
 * gateway's manual clock, stepped by the script), and `simulate history` filling a stopped
 * installation whose scorecards then have something to show.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from './harness/gateway.js';
import { startAlertGateway, type ManualClock } from './harness/alerts.js';
import { Cast, steppedClock } from '../simulators/supervision/cast.js';
import { PEOPLE_SCENARIOS, getPeopleScenario, playPeopleScenario } from '../simulators/supervision/scenarios.js';
import { runHistory } from '../simulators/supervision/history.js';
import { parseCli } from '../simulators/cli.js';
import { SimError } from '../simulators/errors.js';

describe('supervision scenarios', () => {
  let t: TestGateway;
  let clock: ManualClock;
  let cast: Cast;

  beforeAll(async () => {
    // the script stamps readings with the manual clock (2025): the ingest judges timestamps on the wall clock
    ({ t, clock } = await startAlertGateway({ ingest: { maxPastMs: 5 * 365 * 86_400_000 }, timeseries: { retentionDays: 5 * 365 } }));
    cast = await Cast.assemble({ apiUrl: t.httpUrl, mqttUrl: t.mqttUrl, adminToken: ADMIN_TOKEN, prefix: 'scn', clock: steppedClock(clock) });
  });
  afterAll(async () => {
    await cast?.close();
    await t?.dispose();
  });

  it.each(PEOPLE_SCENARIOS.map((s) => [s.name]))('%s: the gateway records what the regulations need', async (name) => {
    const result = await playPeopleScenario(getPeopleScenario(name)!, cast, steppedClock(clock));
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.checks.length).toBeGreaterThan(1);
    expect(result.ok).toBe(true);
  });

  it('the rescue took 2 minutes to answer and 18 to arrive, on the gateway clock', async () => {
    const page = await t.api('GET', '/api/v1/alerts?type=elevator.trapped&state=closed');
    const a = page.body.items.find((x: { deviceId: string }) => x.deviceId === 'scn-sup-rescue');
    expect(a.unitAcknowledgedAt - a.openedAt).toBe(2 * 60_000);
    expect(a.arrivedAt - a.openedAt).toBe(18 * 60_000);
    // an urban site: 30 minutes to arrive
    expect(a.deadlines.arrive - a.openedAt).toBe(30 * 60_000);
  });

  it('the CLI knows them by name, next to the device scenarios', () => {
    const parsed = parseCli(['scenario', 'visit.fake', '--token', 'x', '--time-scale', '60']);
    expect(parsed).toMatchObject({ command: 'people', timeScale: 60 });
    expect(parsed.command === 'people' && parsed.scenario.name).toBe('visit.fake');
    expect(() => parseCli(['history', '--token', 'x'])).toThrow(SimError);
    expect(() => parseCli(['history'])).toThrow(/--months is required/);
    expect(() => parseCli(['history', '--months', '0'])).toThrow(/integer from 1 to 24/);
    expect(parseCli(['history', '--months', '3', '--data-dir', '/tmp/x'])).toMatchObject({ command: 'history', months: 3, dataDir: '/tmp/x', prefix: 'hist' });
  });
});

describe('simulate history', () => {
  let dataDir: string;
  afterAll(() => { if (dataDir) rmSync(dataDir, { recursive: true, force: true }); });

  it('fills a stopped installation with a month of history that the scorecards then read', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gw-history-'));
    // the month before 2026-11-01 in Shanghai (00:00 +08:00)
    const end = Date.parse('2026-10-31T16:00:00Z');
    const lines: string[] = [];
    const summary = await runHistory({ dataDir, months: 1, seed: 'test', end, env: { ADMIN_TOKEN, LOG_LEVEL: 'silent' }, onProgress: (l) => lines.push(l) });
    expect(summary).toMatchObject({ companies: 3, units: 3, sites: 6, elevators: 36 });
    expect(summary.from).toBe(Date.parse('2026-09-30T16:00:00Z'));
    // the careless unit fakes some visits; everyone visits about twice a month
    expect(summary.visits).toBeGreaterThan(50);
    expect(summary.fakeVisits).toBeGreaterThan(0);
    expect(summary.faults + summary.trapped).toBeGreaterThan(0);
    expect(summary.orders).toBe(2);
    expect(lines.filter((l) => l.startsWith('skipped'))).toEqual([]);

    // the installation, started normally afterwards, shows that past
    const t = await startTestGateway({ dataDir });
    try {
      const visits = await t.api('GET', '/api/v1/maintenance-visits?unitId=hist-mu-c&limit=500');
      expect(visits.status).toBe(200);
      expect(visits.body.items.some((v: { suspect: boolean }) => v.suspect)).toBe(true);
      const cards = await t.api('GET', '/api/v1/scorecards/maintenance-units?period=2026-10');
      expect(cards.status).toBe(200);
      const ids = cards.body.items.map((r: { id: string }) => r.id).sort();
      expect(ids).toEqual(['hist-mu-a', 'hist-mu-b', 'hist-mu-c']);
    } finally {
      await t.dispose();
    }
    // the history refuses to run twice into the same installation under the same prefix
    await expect(runHistory({ dataDir, months: 1, seed: 'test', end, env: { ADMIN_TOKEN, LOG_LEVEL: 'silent' } })).rejects.toThrow(/already has a history/);
  });
});
