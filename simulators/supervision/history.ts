/**
 * `simulate history --months 3`: fills an installation with a plausible past, so that scorecards,
 * the ranking and the quarterly report have something to show on a new installation or a demo.
 *
 * It runs the real gateway in this process on the installation's data directory (the gateway
 * itself must be stopped), on a manual clock that starts `months` ago, and plays the past day by
 * day through the same paths as live traffic: elevators publish over MQTT (readings stamped with
 * the simulated time), people act over the HTTP API with their own accounts, deadlines and
 * escalations fire as the clock moves, and the daily checks run every morning. Three maintenance
 * units differ on purpose (a careful one, an average one, a careless one that arrives late and
 * fakes some visits), so the red and black lists are not a coin toss. Seeded: the same seed and
 * start give the same history.
 */
import { loadConfig } from '../../gateway/config.js';
import { startGateway } from '../../gateway/app.js';
import { ManualClock } from '../../core/clock.js';
import { addMonths, dateIn, startOfDate } from '../../core/dates.js';
import { GatewayApi } from '../api.js';
import { SimError } from '../errors.js';
import { Rng } from '../random.js';
import { provision, type FleetPlan } from '../provision.js';
import { accountToken, connectElevator, ensure, eventually, steppedClock, type SimElevator } from './cast.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const TZ = 'Asia/Shanghai';

export interface HistoryOptions {
  /** The installation's data directory (DATA_DIR); other settings come from `env` as for `npm start`. */
  dataDir: string;
  months: number;
  seed?: string | undefined;
  /** Id prefix of what the history registers (default `hist`). */
  prefix?: string | undefined;
  /** The history ends here (default: now). */
  end?: number | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  onProgress?: ((line: string) => void) | undefined;
}

export interface HistorySummary {
  from: number;
  to: number;
  companies: number;
  units: number;
  sites: number;
  elevators: number;
  trapped: number;
  faults: number;
  visits: number;
  fakeVisits: number;
  orders: number;
  /** The admin token the gateway generated at this first start of the installation (shown once), if it did. */
  generatedAdminToken?: string | undefined;
}

/** How a maintenance unit works: the figures its scorecard will show come from these. */
interface Profile {
  name: string;
  /** Minutes to acknowledge a trapped-passenger alert, and to arrive on site. */
  respond: [number, number];
  arrive: [number, number];
  /** Days between maintenance visits. */
  visitEvery: [number, number];
  /** Share of visits made without putting the lift into maintenance mode. */
  fake: number;
  /** Trapped-passenger and fault incidents per elevator and month (older lifts, worse care). */
  trappedPerMonth: number;
  faultsPerMonth: number;
  /** Days an order waits for its reply. */
  reply: [number, number];
}

const UNITS: ReadonlyArray<{ id: string; profile: Profile; phone: string }> = [
  { id: 'mu-a', phone: '400-800-1001', profile: { name: '迅捷电梯维保 / Swift Lift Care', respond: [0.5, 2.5], arrive: [8, 22], visitEvery: [11, 14], fake: 0.02, trappedPerMonth: 0.08, faultsPerMonth: 0.4, reply: [1, 4] } },
  { id: 'mu-b', phone: '400-800-1002', profile: { name: '安通电梯工程 / Antong Elevator', respond: [1, 4], arrive: [15, 35], visitEvery: [13, 16], fake: 0.08, trappedPerMonth: 0.15, faultsPerMonth: 0.7, reply: [3, 8] } },
  { id: 'mu-c', phone: '400-800-1003', profile: { name: '恒达机电维修 / Hengda M&E Repair', respond: [2, 7], arrive: [22, 55], visitEvery: [15, 21], fake: 0.3, trappedPerMonth: 0.25, faultsPerMonth: 1.1, reply: [5, 12] } },
];

const COMPANIES = [
  { id: 'co-sun', name: '阳光物业 / Sunshine Property', phone: '0513-81000001' },
  { id: 'co-green', name: '绿苑物业服务 / Green Garden Services', phone: '0513-81000002' },
  { id: 'co-gold', name: '金色家园物业 / Golden Home Property', phone: '0513-81000003' },
];

const SITES: ReadonlyArray<{ id: string; name: string; company: number; unit: number; street: string; community: string; area: 'urban' | 'rural'; elevators: number }> = [
  { id: 's1', name: '阳光花园 / Sunshine Garden', company: 0, unit: 0, street: '南山街道', community: '桃园社区', area: 'urban', elevators: 8 },
  { id: 's2', name: '阳光新城 / Sunshine New Town', company: 0, unit: 1, street: '南山街道', community: '荔湾社区', area: 'urban', elevators: 6 },
  { id: 's3', name: '绿苑小区 / Green Garden', company: 1, unit: 1, street: '西丽街道', community: '白芒社区', area: 'urban', elevators: 6 },
  { id: 's4', name: '绿苑北区 / Green Garden North', company: 1, unit: 2, street: '西丽街道', community: '麻磡社区', area: 'rural', elevators: 4 },
  { id: 's5', name: '金色家园 / Golden Home', company: 2, unit: 2, street: '桃源街道', community: '平山社区', area: 'urban', elevators: 8 },
  { id: 's6', name: '金色家园二期 / Golden Home II', company: 2, unit: 0, street: '桃源街道', community: '龙联社区', area: 'urban', elevators: 4 },
];

const LESSER_FAULTS = ['door_open_fault', 'door_close_fault', 'repeated_door_cycling', 'position_lost', 'restart_blocked'] as const;

interface Lift { el: SimElevator; siteIdx: number; unitIdx: number; area: 'urban' | 'rural' }

/** One thing that happens at a moment of the past; `run` may add later ones. */
interface Happening { at: number; seq: number; what: string; run: () => Promise<void> }

class Agenda {
  private items: Happening[] = [];
  private seq = 0;
  add(at: number, what: string, run: () => Promise<void>): void {
    // whole milliseconds: devices stamp their readings with the clock, and a timestamp is an integer
    this.items.push({ at: Math.round(at), seq: this.seq++, what, run });
  }
  /** The next happening in time order (equal times in the order they were added). */
  next(): Happening | undefined {
    if (this.items.length === 0) return undefined;
    let best = 0;
    for (let i = 1; i < this.items.length; i++) {
      const a = this.items[i]!, b = this.items[best]!;
      if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) best = i;
    }
    return this.items.splice(best, 1)[0];
  }
}

export async function runHistory(opts: HistoryOptions): Promise<HistorySummary> {
  const months = opts.months;
  if (!Number.isInteger(months) || months < 1 || months > 24) throw new SimError('SIM_BAD_ARGS', `--months must be 1 to 24, got ${months} / 月数须为 1 到 24`);
  const prefix = opts.prefix ?? 'hist';
  const rng = new Rng(opts.seed ?? 'history');
  const end = opts.end ?? Date.now();
  // the past starts at a midnight of the installation's time zone, `months` calendar months before the end's day
  const from = startOfDate(addMonths(dateIn(end, TZ), -months), TZ)!;
  const log = opts.onProgress ?? (() => {});

  const clock = new ManualClock(from);
  // from the start of the history to the wall clock's now (the ingest and the retention count on it), and a day more
  const keepFor = Math.max(0, Date.now() - from) + DAY;
  const config = loadConfig({ ...(opts.env ?? process.env), DATA_DIR: opts.dataDir, MQTT_PORT: '0', HTTP_PORT: '0' }, {
    // nobody watches the past live: the days between incidents are silent on purpose, not offline
    // nor idle, and the daily checks are run by the script at 08:00 of each simulated day
    alerts: {
      schedules: { runAtStart: false }, offline: { includeNeverSeen: false },
      rules: { elevator: { offlineAfter: `${months * 31 + 10}d`, idleAfter: `${months * 31 + 10}d` } },
    },
    // the readings are stamped in the past: the ingest takes them (it judges a timestamp against the
    // wall clock), and the embedded store keeps them while the visits are judged on them
    ingest: { maxPastMs: keepFor }, timeseries: { retentionDays: keepFor / DAY },
    mqtt: { host: '127.0.0.1' }, http: { host: '127.0.0.1' },
  });
  const gw = await startGateway(config, { clock });
  const summary: HistorySummary = { generatedAdminToken: gw.generatedAdminToken, from, to: end, companies: COMPANIES.length, units: UNITS.length, sites: SITES.length, elevators: 0, trapped: 0, faults: 0, visits: 0, fakeVisits: 0, orders: 0 };
  const lifts: Lift[] = [];
  const adminId = `${prefix}-history-admin`;
  try {
    if (gw.registry.getSite(`${prefix}-${SITES[0]!.id}`)) {
      throw new SimError('SIM_BAD_ARGS', `this installation already has a history under the prefix "${prefix}": use another --prefix or data directory / 该前缀的历史数据已存在`);
    }
    const ports = gw.ports();
    const apiUrl = `http://127.0.0.1:${ports.http}`;
    const mqttUrl = `mqtt://127.0.0.1:${ports.mqtt}`;
    // a temporary admin account of its own (disabled at the end): the installation's admin token is not needed
    const made = gw.registry.createAccount({ id: adminId, role: 'admin' }, 'simulate-history');
    const admin = new GatewayApi(apiUrl, made.token);
    const people = steppedClock(clock);

    // ---- the installation ----
    for (const c of COMPANIES) await ensure(admin, '/api/v1/companies', { ...c, id: `${prefix}-${c.id}` });
    for (const u of UNITS) await ensure(admin, '/api/v1/maintenance-units', { id: `${prefix}-${u.id}`, name: u.profile.name, phone: u.phone });
    const as = {
      ms: new GatewayApi(apiUrl, await accountToken(admin, `${prefix}-ms`, 'market-supervision', undefined)),
      unit: [] as GatewayApi[],
      company: [] as GatewayApi[],
      street: new Map<string, GatewayApi>(),
    };
    for (const u of UNITS) as.unit.push(new GatewayApi(apiUrl, await accountToken(admin, `${prefix}-${u.id}-duty`, 'maintenance', `${prefix}-${u.id}`)));
    for (const c of COMPANIES) as.company.push(new GatewayApi(apiUrl, await accountToken(admin, `${prefix}-${c.id}-duty`, 'property', `${prefix}-${c.id}`)));
    const plan: FleetPlan = { sites: [], devices: [] };
    const placed: Array<Omit<Lift, 'el'>> = [];
    for (const [i, s] of SITES.entries()) {
      const siteId = `${prefix}-${s.id}`;
      plan.sites.push({ id: siteId, name: s.name, companyId: `${prefix}-${COMPANIES[s.company]!.id}`, street: s.street, community: s.community, area: s.area });
      if (!as.street.has(s.street)) as.street.set(s.street, new GatewayApi(apiUrl, await accountToken(admin, `${prefix}-street-${as.street.size + 1}`, 'street', s.street)));
      for (let n = 1; n <= s.elevators; n++) {
        plan.devices.push({
          id: `${siteId}-e${String(n).padStart(2, '0')}`, kind: 'elevator', siteId, maintenanceUnitId: `${prefix}-${UNITS[s.unit]!.id}`,
          location: `${Math.ceil(n / 2)} 号楼 ${n % 2 === 0 ? '东' : '西'}梯`,
          registrationCode: `${prefix.toUpperCase()}${s.id.toUpperCase()}E${String(n).padStart(2, '0')}`.replace(/[^A-Z0-9]/g, ''),
          nextInspectionDue: dateIn(from + rng.int(20, 330) * DAY, TZ), ratedSpeed: 1.75, topFloor: 18 + (n % 3) * 6, bottomFloor: -1,
        });
        placed.push({ siteIdx: i, unitIdx: s.unit, area: s.area });
      }
    }
    const { devices } = await provision(admin, plan);
    for (const [k, d] of devices.entries()) {
      lifts.push({ el: await connectElevator(mqttUrl, d.id, plan.devices[k]!.registrationCode!, d.secret, people), ...placed[k]! });
    }
    summary.elevators = lifts.length;
    log(`registered ${COMPANIES.length} companies, ${UNITS.length} maintenance units, ${SITES.length} sites, ${lifts.length} elevators / 已登记`);

    // ---- the past, as an agenda ----
    const agenda = new Agenda();
    const localHour = (day: number, hour: number) => day + hour * HOUR;
    const days = Math.round((end - from) / DAY);
    for (let d = 0; d < days; d++) {
      const day = from + d * DAY;
      agenda.add(localHour(day, 8), 'daily checks', async () => { gw.alerts.runSchedules(); });
      if (d % 7 === 6) agenda.add(localHour(day, 23.9), 'progress', async () => { log(`${dateIn(day, TZ)}: ${summary.trapped} trapped, ${summary.faults} faults, ${summary.visits} visits (${summary.fakeVisits} suspect), ${summary.orders} orders`); });
    }
    for (const lift of lifts) {
      const p = UNITS[lift.unitIdx]!.profile;
      // visits: the first within the unit's usual interval, then one interval after another, in working hours
      for (let t = from + rng.range(0, p.visitEvery[1]) * DAY; t < end - DAY; t += rng.range(p.visitEvery[0], p.visitEvery[1]) * DAY) {
        const start = startOfDate(dateIn(t, TZ), TZ)! + rng.range(9, 15) * HOUR;
        planVisit(agenda, rng, lift, as.unit[lift.unitIdx]!, start, rng.chance(p.fake), summary);
      }
      for (let m = 0; m < months; m++) {
        for (let k = poisson(rng, p.trappedPerMonth); k > 0; k--) planRescue(agenda, rng, lift, p, as, from + rng.range(m * 30, (m + 1) * 30) * DAY, summary);
        for (let k = poisson(rng, p.faultsPerMonth); k > 0; k--) planFault(agenda, rng, lift, as, from + rng.range(m * 30, (m + 1) * 30) * DAY, summary);
      }
    }
    // orders: each month market supervision orders the careless unit to put things right, and a street office a company
    for (let m = 0; m < months; m++) {
      const at = from + (m * 30 + rng.range(5, 20)) * DAY;
      planOrder(agenda, rng, { issuer: as.ms, targetType: 'maintenance-unit', targetIdx: 2, target: as.unit[2]!, targetId: `${prefix}-${UNITS[2]!.id}`, lift: lifts.find((l) => l.unitIdx === 2)!, prefix, profile: UNITS[2]!.profile, returnOnce: m % 2 === 0 }, at, summary, people);
      const site = SITES[rng.int(0, SITES.length - 1)]!;
      const street = as.street.get(site.street)!;
      planOrder(agenda, rng, { issuer: street, targetType: 'company', targetIdx: site.company, target: as.company[site.company]!, targetId: `${prefix}-${COMPANIES[site.company]!.id}`, siteId: `${prefix}-${site.id}`, prefix, profile: UNITS[1]!.profile, returnOnce: false }, at + 2 * DAY, summary, people);
    }

    for (let h = agenda.next(); h; h = agenda.next()) {
      if (h.at >= end) break;
      if (h.at > clock.now()) clock.set(h.at);
      try {
        await h.run();
      } catch (err) {
        // one refused step does not stop the history; it is said, and the rest goes on
        log(`skipped: ${h.what} at ${new Date(h.at).toISOString()}: ${(err as Error).message}`);
      }
    }
    if (end > clock.now()) clock.set(end);
    log(`history filled from ${dateIn(from, TZ)} to ${dateIn(end, TZ)} / 历史数据已生成`);
    return summary;
  } finally {
    for (const l of lifts) await l.el.close().catch(() => {});
    if (gw.registry.getAccount(adminId)) gw.registry.updateAccount(adminId, { disabled: true }, 'simulate-history');
    await gw.close();
  }
}

/** Poisson-distributed count (Knuth): incidents are rare and independent. */
function poisson(rng: Rng, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = rng.next(); p > limit; p *= rng.next()) k++;
  return k;
}

type People = ReturnType<typeof steppedClock>;
interface Accounts { ms: GatewayApi; unit: GatewayApi[]; company: GatewayApi[] }

function planVisit(agenda: Agenda, rng: Rng, lift: Lift, unit: GatewayApi, start: number, fake: boolean, summary: HistorySummary): void {
  const length = rng.range(40, 90) * MIN;
  let visitId: number | undefined;
  agenda.add(start, `visit of ${lift.el.id}`, async () => {
    visitId = (await unit.call<{ id: number }>('POST', '/api/v1/maintenance-visits', { deviceId: lift.el.id })).id;
  });
  // a real visit puts the car in maintenance mode a few minutes after signing in, and back to normal before signing out
  for (let t = start + 5 * MIN; t < start + length - 5 * MIN; t += 5 * MIN) {
    agenda.add(t, `reading of ${lift.el.id}`, () => lift.el.report(fake ? { running: rng.chance(0.5) } : { mode: 'maintenance', door: 'open', occupied: false }));
  }
  agenda.add(start + length - 4 * MIN, `reading of ${lift.el.id}`, () => lift.el.report());
  agenda.add(start + length, `visit of ${lift.el.id} finished`, async () => {
    if (visitId === undefined) return;
    await unit.call('POST', `/api/v1/maintenance-visits/${visitId}/finish`, { items: ['机房 / machine room', '轿厢 / car', '层门 / landing doors', '底坑 / pit'], note: '半月保养 / fortnightly maintenance' });
    summary.visits++;
    if (fake) summary.fakeVisits++;
  });
}

async function openAlertOf(admin: GatewayApi, deviceId: string, type: string): Promise<number> {
  return eventually(`${type} on ${deviceId}`, async () => {
    const page = await admin.call<{ items: Array<{ id: number }> }>('GET', `/api/v1/alerts?deviceId=${encodeURIComponent(deviceId)}&type=${type}&state=open`);
    return page.items[0]?.id;
  });
}

function planRescue(agenda: Agenda, rng: Rng, lift: Lift, p: Profile, as: Accounts, at: number, summary: HistorySummary): void {
  const unit = as.unit[lift.unitIdx]!;
  const respond = rng.range(...p.respond) * MIN;
  // a rural site is further away
  const arrive = Math.max(respond + MIN, rng.range(...p.arrive) * MIN * (lift.area === 'rural' ? 1.6 : 1));
  const freed = arrive + rng.range(4, 15) * MIN;
  let id: number | undefined;
  agenda.add(at, `trapped passengers in ${lift.el.id}`, async () => {
    await lift.el.report({ door: 'closed', occupied: true, doorZone: rng.chance(0.8), floor: rng.int(2, 15) });
    await lift.el.event({ type: 'fault', fault: 'trapped', levelled: true });
    id = await openAlertOf(unit, lift.el.id, 'elevator.trapped');
    summary.trapped++;
  });
  agenda.add(at + respond, 'acknowledge', async () => { if (id) await unit.call('POST', `/api/v1/alerts/${id}/acknowledge`, { note: '已接警 / on our way' }); });
  agenda.add(at + arrive, 'arrive', async () => { if (id) await unit.call('POST', `/api/v1/alerts/${id}/arrive`, { note: '到达现场 / on site' }); });
  agenda.add(at + freed, 'freed', async () => {
    await lift.el.report({ door: 'open', occupied: false, doorZone: true });
    if (id) await unit.call('POST', `/api/v1/alerts/${id}/resolve`, { note: '已解困并恢复运行 / passengers freed, back in service' });
  });
  agenda.add(at + freed + rng.range(2, 48) * HOUR, 'close', async () => { if (id) await as.ms.call('POST', `/api/v1/alerts/${id}/close`, { note: '核查销号 / verified' }); });
}

function planFault(agenda: Agenda, rng: Rng, lift: Lift, as: Accounts, at: number, summary: HistorySummary): void {
  const unit = as.unit[lift.unitIdx]!;
  const property = as.company[SITES[lift.siteIdx]!.company]!;
  const fault = rng.pick(LESSER_FAULTS);
  const type = `elevator.${fault}`;
  let id: number | undefined;
  agenda.add(at, `${fault} on ${lift.el.id}`, async () => {
    await lift.el.event({ type: 'fault', fault });
    id = await openAlertOf(unit, lift.el.id, type);
    summary.faults++;
  });
  const ack = rng.range(2, 40) * MIN;
  agenda.add(at + ack, 'acknowledge', async () => { if (id) await unit.call('POST', `/api/v1/alerts/${id}/acknowledge`, { note: '已派技术员 / technician sent' }); });
  // most are repaired the same day; some wait for parts past the deadline
  const resolve = ack + (rng.chance(0.8) ? rng.range(1, 8) * HOUR : rng.range(2, 6) * DAY);
  agenda.add(at + resolve, 'resolve', async () => { if (id) await unit.call('POST', `/api/v1/alerts/${id}/resolve`, { note: '已修复 / repaired' }); });
  agenda.add(at + resolve + rng.range(1, 24) * HOUR, 'close', async () => {
    if (!id) return;
    // closed by whoever the alert went to: market supervision when it escalated there, else the property company
    const a = await unit.call<{ queues: string[] }>('GET', `/api/v1/alerts/${id}`);
    await (a.queues.includes('market-supervision') ? as.ms : property).call('POST', `/api/v1/alerts/${id}/close`, { note: '复核销号 / verified' });
  });
}

interface OrderPlan {
  issuer: GatewayApi;
  targetType: 'company' | 'maintenance-unit';
  targetIdx: number;
  target: GatewayApi;
  targetId: string;
  siteId?: string;
  lift?: Lift;
  prefix: string;
  profile: Profile;
  returnOnce: boolean;
}

function planOrder(agenda: Agenda, rng: Rng, o: OrderPlan, at: number, summary: HistorySummary, people: People): void {
  const due = 7 * DAY;
  let id: number | undefined;
  agenda.add(at, 'order issued', async () => {
    const body = o.targetType === 'maintenance-unit'
      ? { title: '维保质量整改 / Maintenance quality', description: '近期困人到场超时且存在未进入检修模式的维保记录，限 7 日内整改并提交说明 / late arrivals and visits without maintenance mode: explain and put right within 7 days', siteId: o.lift ? `${o.prefix}-${SITES[o.lift.siteIdx]!.id}` : undefined, deviceId: o.lift?.el.id }
      : { title: '消防通道堆放杂物 / Fire lane blocked', description: '小区消防通道堆放杂物，限 7 日内清理 / clear the fire lane within 7 days', siteId: o.siteId };
    id = (await o.issuer.call<{ id: number }>('POST', '/api/v1/orders', { targetType: o.targetType, targetId: o.targetId, ...body, dueAt: new Date(people.now() + due).toISOString() })).id;
    summary.orders++;
  });
  const reply = rng.range(...o.profile.reply) * DAY;
  agenda.add(at + reply, 'order replied', async () => { if (id) await o.target.call('POST', `/api/v1/orders/${id}/reply`, { note: '已整改 / put right' }); });
  let closeAt = at + reply + rng.range(1, 3) * DAY;
  if (o.returnOnce) {
    agenda.add(closeAt, 'order returned', async () => { if (id) await o.issuer.call('POST', `/api/v1/orders/${id}/return`, { note: '整改不到位 / not done properly' }); });
    agenda.add(closeAt + 2 * DAY, 'order replied again', async () => { if (id) await o.target.call('POST', `/api/v1/orders/${id}/reply`, { note: '已再次整改 / done again' }); });
    closeAt += 4 * DAY;
  }
  agenda.add(closeAt, 'order closed', async () => { if (id) await o.issuer.call('POST', `/api/v1/orders/${id}/close`, { note: '复查合格 / verified' }); });
}

