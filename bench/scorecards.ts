/**
 * The scorecards' cost at a city's size (SPEC §10; docs/supervision-scorecards.md): a real gateway
 * in this process on a temporary SQLite store with 10,000 elevators (1,000 sites of 100 property
 * companies, 200 maintenance units), 100,000 alerts opened in one quarter written straight into the
 * alert ledger's table, and six maintenance visits per elevator in the visits' table; then the unit
 * scorecards, the company scorecards and both rankings for that quarter, as the API computes them
 * (store reads included), each run cold once and then warm. The gateway's clock is a manual one
 * parked after the quarter, so no rule or timer runs meanwhile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../gateway/config.js';
import { startGateway } from '../gateway/app.js';
import { ManualClock } from '../alerts/index.js';
import type { Principal } from '../registry/index.js';

export interface ScorecardsBench {
  elevators: number;
  alerts: number;
  visits: number;
  seedSeconds: number;
  /** ms: the first run, then the median of the warm runs. */
  units: { coldMs: number; warmMs: number };
  companies: { coldMs: number; warmMs: number };
  unitRanking: { coldMs: number; warmMs: number };
  companyRanking: { coldMs: number; warmMs: number };
  /** The console's page: its four requests in a row (the later ones reuse the period's reads). */
  page: { coldMs: number; warmMs: number };
  /** The longest the event loop waited while all of the above ran (ms): what MQTT would have waited. */
  longestStallMs: number;
}

const COMPANIES = 100, SITES_PER_COMPANY = 10, ELEVATORS_PER_SITE = 10, UNITS = 200, ALERTS = 100_000, VISITS_PER_ELEVATOR = 6;
const MIN = 60_000, HOUR = 60 * MIN, DAY = 24 * HOUR;
const PERIOD = '2026-Q3';
/** 2026-Q3 in Asia/Shanghai: 1 July to 1 October, 00:00 +08:00. */
const FROM = Date.UTC(2026, 5, 30, 16), TO = Date.UTC(2026, 8, 30, 16);
const WARM_RUNS = 5;

/** A fixed-seed generator: the same data every run. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FAULTS = ['elevator.door_open_fault', 'elevator.door_close_fault', 'elevator.stopped_outside_door_zone', 'elevator.power_lost', 'elevator.overspeed'];
const OTHERS = ['device.offline', 'elevator.alarm_button', 'elevator.long_idle'];

export async function measureScorecards(log: (line: string) => void): Promise<ScorecardsBench> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-scorecards-'));
  const clock = new ManualClock(TO + DAY);
  const config = loadConfig({}, {
    dataDir, adminToken: 'bench-admin-token-0123456789abcdef', logLevel: 'silent', mqtt: { port: 0, host: '127.0.0.1' }, http: { port: 0, host: '127.0.0.1' },
    alerts: { schedules: { runAtStart: false } },
  });
  const gw = await startGateway(config, { clock });
  try {
    const rnd = random(42);
    const seedStart = performance.now();
    const { registry } = gw;
    for (let u = 0; u < UNITS; u++) registry.createMaintenanceUnit({ id: `mu-${u}`, name: `维保单位 ${u}`, phone: '400-800-0000' }, 'bench');
    const elevators: Array<{ id: string; site: string; company: string; unit: string }> = [];
    for (let c = 0; c < COMPANIES; c++) {
      registry.createCompany({ id: `co-${c}`, name: `物业公司 ${c}` }, 'bench');
      for (let s = 0; s < SITES_PER_COMPANY; s++) {
        const site = `site-${c}-${s}`;
        registry.createSite({ id: site, name: `小区 ${c}-${s}`, companyId: `co-${c}`, area: s % 4 === 0 ? 'rural' : 'urban' }, 'bench');
        for (let e = 0; e < ELEVATORS_PER_SITE; e++) {
          const id = `lift-${c}-${s}-${e}`;
          const unit = `mu-${(c * SITES_PER_COMPANY + s) % UNITS}`;
          const due = new Date(TO + Math.floor(rnd() * 365 - 30) * DAY).toISOString().slice(0, 10);
          registry.createDevice({ id, kind: 'elevator', siteId: site, maintenanceUnitId: unit, nextInspectionDue: due }, 'bench');
          elevators.push({ id, site, company: `co-${c}`, unit });
        }
      }
    }

    // the alerts, straight into the ledger's table, as the ledger stores them (a row and its document)
    const insertAlert = gw.db.prepare(`INSERT INTO alerts (type, subject, device_id, device_kind, site_id, company_id, maintenance_unit_id, domain, state,
      severity, suppressed, opened_at, updated_at, doc, acknowledged_at, unit_acknowledged_at, arrived_at, arrive_by, resolve_by, resolved_at, closed_at,
      cleared_at) VALUES (?, '', ?, 'elevator', ?, ?, ?, 'elevator', ?, 'major', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    gw.db.transaction(() => {
      for (let i = 0; i < ALERTS; i++) {
        const e = elevators[Math.floor(rnd() * elevators.length)]!;
        const r = rnd();
        const type = r < 0.15 ? 'elevator.trapped' : r < 0.75 ? FAULTS[Math.floor(rnd() * FAULTS.length)]! : OTHERS[Math.floor(rnd() * OTHERS.length)]!;
        const openedAt = FROM + Math.floor(rnd() * (TO - FROM - DAY));
        const trapped = type === 'elevator.trapped';
        const ack = openedAt + Math.floor(rnd() * 6 * MIN);
        const cleared = rnd() < 0.3;
        const end = openedAt + Math.floor((10 + rnd() * 80) * MIN);
        const doc = {
          acknowledgedAt: ack, unitAcknowledgedAt: trapped ? ack : null, arrivedAt: trapped ? openedAt + Math.floor(rnd() * 50 * MIN) : null,
          deadlines: { acknowledgeBy: openedAt + 3 * MIN, resolveBy: openedAt + (trapped ? 30 * MIN : 2 * DAY), arrive: trapped ? openedAt + 30 * MIN : null, verifyBy: null },
          resolvedAt: cleared ? null : end, closedAt: cleared ? null : end + HOUR, clearedAt: cleared ? end : null, confirmation: null, details: {},
        };
        // the times also in the columns the ledger keeps them in (alerts/ledger.ts FactColumns)
        insertAlert.run(type, e.id, e.site, e.company, e.unit, cleared ? 'cleared' : 'closed', rnd() < 0.03 ? 1 : 0, openedAt, end, JSON.stringify(doc),
          doc.acknowledgedAt, doc.unitAcknowledgedAt, doc.arrivedAt, doc.deadlines.arrive, doc.deadlines.resolveBy, doc.resolvedAt, doc.closedAt, doc.clearedAt);
      }
    })();

    // the visits: one before the quarter and six in it per elevator, one in twenty suspect
    const insertVisit = gw.db.prepare(`INSERT INTO maintenance_visits (device_id, site_id, company_id, unit_id, started_at, started_by, finished_at, finished_by,
      mode_ms, valid, suspect) VALUES (?, ?, ?, ?, ?, 'bench', ?, 'bench', ?, ?, ?)`);
    let visits = 0;
    gw.db.transaction(() => {
      for (const e of elevators) {
        for (let k = -1; k < VISITS_PER_ELEVATOR; k++) {
          const finished = FROM + k * 14 * DAY + Math.floor(rnd() * 2 * DAY);
          const valid = rnd() >= 0.05;
          insertVisit.run(e.id, e.site, e.company, e.unit, finished - 40 * MIN, finished, valid ? 30 * MIN : 5 * MIN, valid ? 1 : 0, valid ? 0 : 1);
          visits++;
        }
      }
    })();
    const seedSeconds = (performance.now() - seedStart) / 1000;
    log(`   seeded ${elevators.length} elevators, ${ALERTS} alerts and ${visits} visits in ${seedSeconds.toFixed(1)} s`);

    const admin: Principal = { id: 'bench-admin', role: 'admin' };
    const { scorecards } = gw.supervision;
    const period = scorecards.period(PERIOD);
    // each run reads the facts anew: the reuse of a read by the requests of the next seconds is measured by `page`
    const time = async (what: string, fn: () => Promise<unknown>) => {
      scorecards.forget();
      let t = performance.now();
      await fn();
      const coldMs = performance.now() - t;
      const warm: number[] = [];
      for (let i = 0; i < WARM_RUNS; i++) {
        scorecards.forget();
        t = performance.now();
        await fn();
        warm.push(performance.now() - t);
      }
      warm.sort((a, b) => a - b);
      const result = { coldMs: Math.round(coldMs), warmMs: Math.round(warm[Math.floor(warm.length / 2)]!) };
      log(`   ${what}: ${result.coldMs} ms cold, ${result.warmMs} ms warm (median of ${WARM_RUNS})`);
      return result;
    };
    const stalls = monitorEventLoopDelay({ resolution: 5 });
    stalls.enable();
    const timed = {
      units: await time('unit scorecards', () => scorecards.unitRows(admin, period)),
      companies: await time('company scorecards', () => scorecards.companyRows(admin, period)),
      unitRanking: await time('unit ranking', () => scorecards.ranking(admin, 'maintenance-units', period, 10, 10)),
      companyRanking: await time('company ranking', () => scorecards.ranking(admin, 'companies', period, 10, 10)),
      // as the console's four requests arrive, one after the other: the later ones reuse the first reads
      page: await time('the console page (its four requests)', async () => {
        await scorecards.unitRows(admin, period);
        await scorecards.companyRows(admin, period);
        await scorecards.ranking(admin, 'maintenance-units', period, 5, 5);
        await scorecards.ranking(admin, 'companies', period, 5, 5);
      }),
    };
    stalls.disable();
    const longestStallMs = Math.round(stalls.max / 1e6);
    log(`   the longest the event loop waited meanwhile: ${longestStallMs} ms`);
    return { elevators: elevators.length, alerts: ALERTS, visits, seedSeconds: Math.round(seedSeconds * 10) / 10, ...timed, longestStallMs };
  } finally {
    await gw.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
