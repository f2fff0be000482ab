/**
 * Supervision scenarios: the people's half of the loop, scripted. Each plays devices and accounts
 * against a gateway (its API and broker), then checks through the API that the gateway recorded
 * what the regulations need: a rescue with its arrival on time, a maintenance visit the telemetry
 * does not support (疑似虚假维保), a rectification order returned once and then closed (销号).
 */
import { SimError } from '../errors.js';
import { eventually, type Cast, type PeopleClock } from './cast.js';

const MIN = 60_000;

export interface Check { what: string; ok: boolean; detail?: unknown }

export interface PeopleScenario {
  name: string;
  title: { en: string; zh: string };
  description: string;
  /** Script time it takes. */
  durationMs: number;
  run(cast: Cast, clock: PeopleClock, log: (line: string) => void): Promise<Check[]>;
}

/** A 1×1 PNG: the "photo" of a reply. */
const PHOTO = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==', 'base64');

type AlertView = {
  id: number; state: string; openedAt: number; arrivedAt?: number | null; unitAcknowledgedAt?: number | null;
  deadlines: { arrive?: number | null }; escalations: Array<{ kind: string }>;
};

const rescue: PeopleScenario = {
  name: 'rescue.arrival',
  title: { en: 'Trapped passengers rescued: response, arrival on site, repair, closing', zh: '困人救援：响应、到场、处置、销号' },
  description: 'The elevator reports trapped passengers; the maintenance unit acknowledges after 2 min and signs in on site after 18 min (deadline 30 min on an urban site), frees them, resolves; market supervision closes the alert.',
  durationMs: 26 * MIN,
  async run(cast, clock, log) {
    const lift = await cast.elevator('rescue');
    await lift.report({ door: 'closed', occupied: true, floor: 7, doorZone: true });
    await lift.event({ type: 'fault', fault: 'trapped', levelled: true });
    const alertId = await eventually('trapped-passenger alert', async () => {
      const page = await cast.admin.call<{ items: AlertView[] }>('GET', `/api/v1/alerts?deviceId=${encodeURIComponent(lift.id)}&type=elevator.trapped&state=open`);
      return page.items[0]?.id;
    });
    log(`alert ${alertId} raised: passengers trapped in ${lift.id} / 困人告警已产生`);
    await clock.wait(2 * MIN);
    await cast.as('maintenance').call('POST', `/api/v1/alerts/${alertId}/acknowledge`, { note: '已接警，技术员出发 / on our way' });
    log('maintenance acknowledged at +2 min / 维保单位 2 分钟响应');
    await clock.wait(16 * MIN);
    await cast.as('maintenance').call('POST', `/api/v1/alerts/${alertId}/arrive`, { note: '技术员到达现场 / technician on site' });
    log('technician on site at +18 min / 18 分钟到场');
    await clock.wait(6 * MIN);
    await lift.report({ door: 'open', occupied: false, floor: 7, doorZone: true });
    await cast.as('maintenance').call('POST', `/api/v1/alerts/${alertId}/resolve`, { note: '乘客已安全撤离，门锁回路已修复 / passengers out, door lock circuit repaired' });
    log('passengers freed and repair done at +24 min / 24 分钟解困');
    await clock.wait(2 * MIN);
    await cast.as('market-supervision').call('POST', `/api/v1/alerts/${alertId}/close`, { note: '核查属实，销号 / verified' });
    const a = await cast.admin.call<AlertView>('GET', `/api/v1/alerts/${alertId}`);
    const arriveBy = a.deadlines.arrive ?? null;
    return [
      { what: 'the maintenance unit responded within 3 minutes / 3 分钟内响应', ok: a.unitAcknowledgedAt != null && a.unitAcknowledgedAt - a.openedAt <= 3 * MIN, detail: { unitAcknowledgedAt: a.unitAcknowledgedAt, openedAt: a.openedAt } },
      { what: 'arrival recorded before the arrival deadline / 在到场时限内到场', ok: a.arrivedAt != null && arriveBy !== null && a.arrivedAt <= arriveBy, detail: { arrivedAt: a.arrivedAt, arriveBy } },
      { what: 'not escalated for a late arrival / 未因到场超时升级', ok: !a.escalations.some((e) => e.kind === 'arrive_overdue'), detail: a.escalations },
      { what: 'closed by market supervision / 市场监管销号', ok: a.state === 'closed', detail: { state: a.state } },
    ];
  },
};

type VisitView = { id: number; valid: boolean; suspect: boolean; modeMinutes: number; finishedAt: number | null };

const fakeVisit: PeopleScenario = {
  name: 'visit.fake',
  title: { en: 'A maintenance visit the elevator never saw (suspect)', zh: '疑似虚假维保：签到签退但电梯未进入检修' },
  description: 'A technician signs in for maintenance and signs out 35 minutes later with every checklist item ticked, but the elevator stays in normal service the whole time: the gateway lists the visit as suspect and does not count it.',
  durationMs: 35 * MIN,
  async run(cast, clock, log) {
    const lift = await cast.elevator('visit');
    const visit = await cast.as('maintenance').call<VisitView>('POST', '/api/v1/maintenance-visits', { deviceId: lift.id });
    log(`visit ${visit.id} started / 维保签到`);
    for (let i = 0; i < 7; i++) {
      await clock.wait(5 * MIN);
      await lift.report({ mode: 'normal', running: i % 2 === 0, door: i % 2 === 0 ? 'closed' : 'open', floor: 1 + i });
    }
    const done = await cast.as('maintenance').call<VisitView>('POST', `/api/v1/maintenance-visits/${visit.id}/finish`, {
      items: ['机房检查 / machine room', '轿厢检查 / car', '门系统 / doors', '井道 / shaft'], note: '半月保养完成 / fortnightly maintenance done',
    });
    log(`visit ${visit.id} finished: ${done.suspect ? 'suspect / 疑似虚假' : 'valid / 有效'}`);
    return [
      { what: 'the visit is listed as suspect / 列为疑似虚假维保', ok: done.suspect === true && done.valid === false, detail: done },
      { what: 'no inspection or maintenance mode was seen / 未见检修或维保模式', ok: done.modeMinutes === 0, detail: { modeMinutes: done.modeMinutes } },
    ];
  },
};

type OrderView = { id: number; state: string; history: Array<{ action: string }> };

const returnedOrder: PeopleScenario = {
  name: 'order.returned-then-closed',
  title: { en: 'A rectification order returned once, then closed by the issuer', zh: '整改通知：复查不合格退回一次，整改后销号' },
  description: 'Market supervision orders the maintenance unit to repair a door lock within 7 days; the unit replies with a photo; supervision returns it (the photo does not show the repair); the unit replies again; supervision closes it.',
  durationMs: 3 * 24 * 60 * MIN,
  async run(cast, clock, log) {
    const lift = await cast.elevator('order');
    const ms = cast.as('market-supervision');
    const unit = cast.as('maintenance');
    const dueAt = new Date(clock.now() + 7 * 24 * 60 * MIN).toISOString();
    const order = await ms.call<OrderView>('POST', '/api/v1/orders', {
      targetType: 'maintenance-unit', targetId: cast.unitId, siteId: cast.siteId, deviceId: lift.id,
      title: '层门门锁整改 / Landing door lock', description: '3 层层门门锁啮合深度不足，限期 7 日内整改 / door lock engagement too short on floor 3: repair within 7 days', dueAt,
    });
    log(`order ${order.id} issued / 整改通知已下发`);
    await clock.wait(24 * 60 * MIN);
    const photo = await upload(cast, 'door-lock.png', PHOTO);
    await unit.call('POST', `/api/v1/orders/${order.id}/reply`, { note: '已更换门锁 / lock replaced', attachments: [photo] });
    log('unit replied with a photo / 维保单位回复并附照片');
    await clock.wait(4 * 60 * MIN);
    await ms.call('POST', `/api/v1/orders/${order.id}/return`, { note: '照片未显示啮合深度，请补充测量记录 / the photo does not show the engagement depth' });
    log('supervision returned it / 复查不合格退回');
    await clock.wait(24 * 60 * MIN);
    await unit.call('POST', `/api/v1/orders/${order.id}/reply`, { note: '啮合深度 9 mm，已附测量记录 / engagement 9 mm, measurement attached', attachments: [await upload(cast, 'measurement.png', PHOTO)] });
    await clock.wait(60 * MIN);
    await ms.call('POST', `/api/v1/orders/${order.id}/close`, { note: '复查合格，销号 / verified, closed' });
    log('supervision closed it / 销号');
    const done = await ms.call<OrderView>('GET', `/api/v1/orders/${order.id}`);
    const steps = done.history.map((h) => h.action);
    return [
      { what: 'closed by the issuer / 由下发单位销号', ok: done.state === 'closed', detail: { state: done.state } },
      { what: 'returned once, replied twice / 退回一次、回复两次', ok: steps.filter((s) => s.startsWith('return')).length === 1 && steps.filter((s) => s.startsWith('repl')).length === 2, detail: steps },
    ];
  },
};

async function upload(cast: Cast, name: string, bytes: Buffer): Promise<number> {
  const res = await cast.as('maintenance').upload(`/api/v1/attachments?name=${encodeURIComponent(name)}`, 'image/png', bytes);
  return (res as { id: number }).id;
}

export const PEOPLE_SCENARIOS: readonly PeopleScenario[] = [rescue, fakeVisit, returnedOrder];

export function getPeopleScenario(name: string): PeopleScenario | undefined {
  return PEOPLE_SCENARIOS.find((s) => s.name === name);
}

/** Plays one scenario; the checks say whether the gateway recorded what it should. */
export async function playPeopleScenario(s: PeopleScenario, cast: Cast, clock: PeopleClock, log: (line: string) => void = () => {}): Promise<{ ok: boolean; checks: Check[] }> {
  let checks: Check[];
  try {
    checks = await s.run(cast, clock, log);
  } catch (err) {
    if (err instanceof SimError) return { ok: false, checks: [{ what: `${s.name} could not be played / 场景未能完成`, ok: false, detail: { code: err.code, message: err.message } }] };
    throw err;
  }
  return { ok: checks.every((c) => c.ok), checks };
}
