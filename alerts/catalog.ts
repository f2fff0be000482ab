/**
 * The alert types the built-in rules raise, and the shipped responsibility list
 * (事件部件处置权责清单): for each type its severity, the queues that receive it, the deadlines to
 * acknowledge and to resolve, whom to escalate to when a deadline passes, and its labels.
 * An installation overrides any of it under `alerts.responsibilities` in the config file.
 *
 * Routing follows local practice: market supervision gets elevator safety (serious faults, trapped
 * passengers, overdue rescue / inspection / maintenance); the fire service gets fire alarms and fire
 * hazards (fire-facility faults left unrepaired, low fire-water pressure or tank, e-bikes in lifts left
 * unresolved); the property company gets everything on its sites; a maintenance unit its elevators'
 * faults and the water quality of the pump rooms it runs (二次供水管理单位); the street (city
 * management) the e-bikes in lifts of its sites.
 */
import { QUEUE_ROLES, type QueueRole } from '../registry/index.js';

export { QUEUE_ROLES, type QueueRole };

export const SEVERITIES = ['critical', 'major', 'minor', 'warning'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type Domain = 'elevator' | 'fire' | 'water';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

export interface ResponsibilityEntry {
  severity: Severity;
  queues: QueueRole[];
  /** ms after opening; null: no deadline */
  ackWithinMs: number | null;
  resolveWithinMs: number | null;
  escalateTo: QueueRole[];
  /** Queues that get the alert only once it is confirmed, or when its verify window has passed (fire alarms). */
  holdUntilConfirmed: QueueRole[];
  /** Whether the alert clears itself when its condition ends before anyone acts. */
  autoClear: boolean;
  label: { zh: string; en: string };
}

interface TypeDef {
  /** Whose business the alert is; `device.offline` takes its device's domain. */
  domain: Domain | 'device';
  entry: ResponsibilityEntry;
  /** Per device kind differences (e.g. who hears that a fire-water sensor went silent). */
  kinds?: Partial<Record<string, Partial<ResponsibilityEntry>>>;
}

const MS: QueueRole = 'market-supervision', FS: QueueRole = 'fire-service', P: QueueRole = 'property', M: QueueRole = 'maintenance', S: QueueRole = 'street';

function e(severity: Severity, queues: QueueRole[], ackWithinMs: number | null, resolveWithinMs: number | null, escalateTo: QueueRole[],
  zh: string, en: string, extra: Partial<ResponsibilityEntry> = {}): ResponsibilityEntry {
  return { severity, queues, ackWithinMs, resolveWithinMs, escalateTo, holdUntilConfirmed: [], autoClear: true, label: { zh, en }, ...extra };
}

/** A serious elevator fault: the maintenance unit and the property company at once, market supervision too. */
const serious = (zh: string, en: string) => e('major', [M, P, MS], 10 * MIN, 24 * HOUR, [MS, P], zh, en);
/**
 * Water quality: the property company and the unit that runs the secondary water supply (二次供水管理单位,
 * the pump room's maintenance unit; DOMAIN.md practitioner review), which doses and flushes; none when
 * the pump room names no unit.
 */
const quality = (zh: string, en: string) => e('major', [P, M], HOUR, 24 * HOUR, [], zh, en);
/** A lesser elevator fault: the maintenance unit and the property company; market supervision if left unrepaired. */
const lesser = (zh: string, en: string) => e('minor', [M, P], 30 * MIN, 48 * HOUR, [MS], zh, en);

export const ALERT_TYPES = {
  // elevators
  'elevator.trapped': { domain: 'elevator', entry: e('critical', [MS, M, P], 3 * MIN, 30 * MIN, [MS, P], '电梯困人', 'Passengers trapped in elevator') },
  'elevator.safety_circuit_open': { domain: 'elevator', entry: { ...serious('安全回路断路', 'Safety circuit open'), severity: 'critical' } },
  'elevator.stopped_outside_door_zone': { domain: 'elevator', entry: serious('门区外停梯', 'Car stopped outside the door zone') },
  'elevator.unintended_movement': { domain: 'elevator', entry: { ...serious('轿厢意外移动', 'Unintended car movement'), severity: 'critical' } },
  'elevator.door_open_while_running': { domain: 'elevator', entry: { ...serious('运行中开门', 'Door opened while running'), severity: 'critical' } },
  'elevator.moving_with_door_open': { domain: 'elevator', entry: { ...serious('开门走梯', 'Car moving with doors open'), severity: 'critical' } },
  'elevator.top_overrun': { domain: 'elevator', entry: { ...serious('冲顶', 'Top overrun'), severity: 'critical' } },
  'elevator.bottom_overrun': { domain: 'elevator', entry: { ...serious('蹲底', 'Bottom overrun'), severity: 'critical' } },
  'elevator.overspeed': { domain: 'elevator', entry: { ...serious('超速', 'Overspeed'), severity: 'critical' } },
  'elevator.door_open_fault': { domain: 'elevator', entry: lesser('开门故障', 'Door open fault') },
  'elevator.door_close_fault': { domain: 'elevator', entry: lesser('关门故障', 'Door close fault') },
  'elevator.repeated_door_cycling': { domain: 'elevator', entry: lesser('反复开关门', 'Repeated door cycling') },
  'elevator.motor_runtime_limiter': { domain: 'elevator', entry: lesser('电动机运转时间限制器动作', 'Motor run-time limiter tripped') },
  'elevator.position_lost': { domain: 'elevator', entry: lesser('楼层位置丢失', 'Floor position lost') },
  'elevator.restart_blocked': { domain: 'elevator', entry: lesser('防止电梯再运行的故障', 'Fault preventing restart') },
  'elevator.power_lost': { domain: 'elevator', entry: e('major', [M, P], 10 * MIN, 4 * HOUR, [MS], '电梯主电源断电', 'Elevator main power lost') },
  'elevator.alarm_button': { domain: 'elevator', entry: e('major', [M, P], 3 * MIN, 30 * MIN, [MS], '轿厢报警按钮', 'Alarm button pressed') },
  // the ban comes from local rules, enforced by the property company and the street (city management,
  // DOMAIN.md practitioner review); the fire service hears only of a hazard still unresolved at the
  // resolve deadline. No acknowledge deadline: its escalation would reach the fire service as well,
  // after 30 min instead of a day. Still the fire domain, so the fire service may read it when it hears.
  'elevator.ebike': { domain: 'fire', entry: e('warning', [P, S], null, 24 * HOUR, [FS], '电动车入梯', 'E-bike entering the elevator') },
  'elevator.special_mode': { domain: 'elevator', entry: e('major', [M, P], 30 * MIN, 24 * HOUR, [MS], '电梯进入特殊运行模式', 'Elevator in fire, emergency power or earthquake mode') },
  // about the mode itself, so never suppressed by it; the unit and the property company end it, and market
  // supervision hears only when it is still on at the resolve deadline (no acknowledge deadline: a
  // technician who forgot the switch answers by ending the mode, which clears the alert)
  'elevator.inspection_mode_long': { domain: 'elevator', entry: e('major', [M, P], null, 2 * HOUR, [MS], '检修/维保模式持续时间过长', 'Inspection or maintenance mode left on too long') },
  'elevator.long_idle': { domain: 'elevator', entry: e('warning', [P], 24 * HOUR, 7 * DAY, [], '电梯长时间停用', 'Elevator idle for a long time') },
  'elevator.inspection_due': { domain: 'elevator', entry: e('warning', [P], null, null, [], '年度检验即将到期', 'Annual inspection due soon') },
  'elevator.inspection_overdue': { domain: 'elevator', entry: e('major', [MS, P], DAY, 30 * DAY, [], '年度检验逾期', 'Annual inspection overdue') },
  'elevator.maintenance_overdue': { domain: 'elevator', entry: e('major', [MS, M, P], DAY, 7 * DAY, [], '维保逾期', 'Maintenance overdue') },
  // fire
  'fire.alarm': {
    domain: 'fire',
    // acknowledge within 5 min: the 3 min verify window (alerts.fire.verifyWindow) decides forwarding first
    entry: e('critical', [P, FS], 5 * MIN, 2 * HOUR, [FS, P], '火灾报警', 'Fire alarm', { holdUntilConfirmed: [FS], autoClear: false }),
  },
  'fire.fault': { domain: 'fire', entry: e('major', [P], 2 * HOUR, 24 * HOUR, [FS], '消防设施故障', 'Fire facility fault') },
  'fire.supervisory': { domain: 'fire', entry: e('major', [P], 2 * HOUR, 24 * HOUR, [FS], '消防监管报警', 'Fire supervisory signal') },
  'fire.disabled': { domain: 'fire', entry: e('major', [P], 2 * HOUR, 24 * HOUR, [FS], '消防设施屏蔽', 'Fire zone disabled') },
  'fire.power_fault': { domain: 'fire', entry: e('major', [P], 2 * HOUR, 24 * HOUR, [FS], '火灾报警控制器电源故障', 'Fire panel power fault') },
  'smoke.low_battery': { domain: 'fire', entry: e('warning', [P], 24 * HOUR, 7 * DAY, [], '烟感电量低', 'Smoke alarm battery low') },
  'smoke.tamper': { domain: 'fire', entry: e('minor', [P], 2 * HOUR, 24 * HOUR, [FS], '烟感被拆除', 'Smoke alarm tampered with') },
  // fire water
  'fire_water.low_pressure': { domain: 'fire', entry: e('major', [P, FS], 30 * MIN, 24 * HOUR, [FS], '消防管网压力低', 'Fire-water pressure low') },
  'fire_water.low_tank': { domain: 'fire', entry: e('major', [P, FS], 30 * MIN, 24 * HOUR, [FS], '消防水箱水位低', 'Fire-water tank level low') },
  'fire_water.pump_fault': { domain: 'fire', entry: e('major', [P, FS], 30 * MIN, 24 * HOUR, [FS], '消防泵故障', 'Fire pump fault') },
  'fire_water.pump_power_lost': { domain: 'fire', entry: e('major', [P, FS], 30 * MIN, 24 * HOUR, [FS], '消防泵断电', 'Fire pump power lost') },
  // the float valve does not close: overflow now, and a valve that sticks may next stick shut
  'fire_water.high_tank': { domain: 'fire', entry: e('minor', [P], 2 * HOUR, 24 * HOUR, [FS], '消防水箱水位高', 'Fire-water tank level high') },
  // the main fire pump started: a fire, a test run or a leak; the fire service sees it at once, and it
  // stays until someone has looked (the pump stopping is recorded, not a reason to forget the start)
  'fire_water.pump_started': {
    domain: 'fire',
    entry: e('major', [P, FS], 10 * MIN, 2 * HOUR, [FS], '消防泵启动', 'Fire pump started', { autoClear: false }),
  },
  // 手动状态: the pumps will not start by themselves in a fire, a hazard for the fire service too
  'fire_water.pump_manual': { domain: 'fire', entry: e('major', [P, FS], 30 * MIN, 24 * HOUR, [FS], '消防泵控制柜处于手动状态', 'Fire pump cabinet not in automatic') },
  'fire_water.valve_closed': { domain: 'fire', entry: e('major', [P, FS], 30 * MIN, 24 * HOUR, [FS], '消防信号阀关闭', 'Fire-water signal valve closed') },
  // secondary water supply
  'water.outlet_pressure_low': { domain: 'water', entry: e('minor', [P], HOUR, 24 * HOUR, [], '供水出口压力低', 'Outlet pressure low') },
  'water.outlet_pressure_high': { domain: 'water', entry: e('minor', [P], HOUR, 24 * HOUR, [], '供水出口压力高', 'Outlet pressure high') },
  'water.tank_low': { domain: 'water', entry: e('minor', [P], HOUR, 24 * HOUR, [], '生活水箱水位低', 'Water tank level low') },
  'water.pump_fault': { domain: 'water', entry: e('major', [P], 30 * MIN, 24 * HOUR, [], '供水泵故障', 'Water pump fault') },
  'water.pump_power_lost': { domain: 'water', entry: e('major', [P], 30 * MIN, 24 * HOUR, [], '供水泵断电', 'Water pump power lost') },
  'water.flooded': { domain: 'water', entry: e('critical', [P], 15 * MIN, 4 * HOUR, [], '泵房水淹', 'Pump room flooded') },
  'water.turbidity_high': { domain: 'water', entry: quality('浑浊度超标', 'Turbidity above 1 NTU') },
  'water.chlorine_low': { domain: 'water', entry: quality('游离氯过低', 'Free chlorine too low') },
  'water.chlorine_high': { domain: 'water', entry: quality('游离氯过高', 'Free chlorine too high') },
  'water.ph_abnormal': { domain: 'water', entry: quality('pH 超出范围', 'pH out of range') },
  'water.door_open': { domain: 'water', entry: e('warning', [P], HOUR, 24 * HOUR, [], '泵房门被打开', 'Pump-room door opened') },
  // per supply zone: the alert's subject is the zone (low / mid / high)
  'water.zone_pressure_low': { domain: 'water', entry: e('minor', [P], HOUR, 24 * HOUR, [], '分区供水压力低', 'Supply-zone pressure low') },
  'water.zone_pressure_high': { domain: 'water', entry: e('minor', [P], HOUR, 24 * HOUR, [], '分区供水压力高', 'Supply-zone pressure high') },
  'water.inlet_pressure_low': { domain: 'water', entry: e('minor', [P], HOUR, 24 * HOUR, [], '市政进水压力低', 'Municipal inlet pressure low') },
  // a fire sign in the pump room (drive cabinets): the fire domain, so the fire service, which hears it
  // when the property company has not acknowledged it in time, may see it
  'water.smoke': { domain: 'fire', entry: e('critical', [P], 5 * MIN, 2 * HOUR, [FS, P], '泵房烟雾报警', 'Smoke in the pump room') },
  'water.temperature_abnormal': { domain: 'water', entry: e('minor', [P], 2 * HOUR, 24 * HOUR, [], '泵房温度异常', 'Pump-room temperature out of range') },
  'water.humidity_high': { domain: 'water', entry: e('warning', [P], 2 * HOUR, 24 * HOUR, [], '泵房湿度过高', 'Pump-room humidity high') },
  // drainage (排水: sump pits and sewage-lift pumps in basements and garages). The property company runs
  // the pumps and is the only party that can act (start the standby pump, bring a mobile pump, close the
  // garage), so every drainage alert is its own. None goes to the fire service: its queue is for fire
  // alarms and fire hazards, and it sees only fire-domain alerts (registry/scope.ts); a flooded fire
  // pump room is reported by the fire-water monitor's own alerts, which do reach it. Flooding escalates
  // fast: unacknowledged after 10 min, every queue of the alert hears `escalated` (the on-call chain).
  'drainage.high_level': { domain: 'water', entry: e('major', [P], 15 * MIN, 4 * HOUR, [], '集水坑高水位', 'Sump pit level high') },
  'drainage.pump_fault': { domain: 'water', entry: e('major', [P], 30 * MIN, 24 * HOUR, [], '排水泵故障', 'Drainage pump fault') },
  'drainage.power_lost': { domain: 'water', entry: e('major', [P], 30 * MIN, 24 * HOUR, [], '排水泵断电', 'Drainage pump power lost') },
  'drainage.flooded': { domain: 'water', entry: e('critical', [P], 10 * MIN, 4 * HOUR, [], '地下室水淹', 'Basement flooded') },
  // any device
  'device.offline': {
    domain: 'device',
    entry: e('minor', [P], 2 * HOUR, 24 * HOUR, [], '设备离线', 'Device offline'),
    kinds: {
      elevator: { queues: [P, M], escalateTo: [MS] },
      fire_panel: { severity: 'major', escalateTo: [FS] },
      smoke_detector: { escalateTo: [FS] },
      fire_water: { severity: 'major', escalateTo: [FS] },
    },
  },
} satisfies Record<string, TypeDef>;

export type AlertType = keyof typeof ALERT_TYPES;
export const ALERT_TYPE_NAMES = Object.keys(ALERT_TYPES) as AlertType[];

export function typeDef(type: AlertType): TypeDef { return ALERT_TYPES[type] as TypeDef; }

export function domainOf(type: AlertType, kind: string): Domain {
  const d = typeDef(type).domain;
  if (d !== 'device') return d;
  if (kind === 'elevator') return 'elevator';
  if (kind === 'water_pump' || kind === 'drainage') return 'water';
  return 'fire';
}
