/**
 * GB/T 26875.3 states → fire_panel payloads (SPEC 2: telemetry `mainPowerOk`, `backupPowerOk`;
 * events `fire_alarm`, `fault`, `supervisory`, `disabled`, `restored`, `reset` per zone). Pure: the
 * caller owns the memory of the last state per component and commits the updates returned here only
 * once the objects are durable, so a retransmission after a failed store maps to the same events.
 *
 * Choices (docs `protocols/gb26875-3.md` leaves them to us):
 * - bit0 = 0 is 测试 (test) in every status word: the objects get `test: true` (the property company
 *   hears, the fire service does not). Some vendors send a real fire as 0x0002 (bit0 = 0, DG's
 *   capture): for such a model set `models.<model>.ignoreTestBit`, else its fires are treated as tests.
 * - A component or system whose state carries none of 火警 / 故障 / 屏蔽 / 监管 gets `restored` for its
 *   zone, unless we know its previous state was already clear (a UITD uploads on change, so a clear
 *   state after a restart of the gateway most likely ends something; `restored` for nothing ends
 *   nothing). A state that clears some of them but keeps others emits the remaining ones only: the
 *   SPEC has no per-state clear, and `restored` would end the ones still active.
 * - 启动 / 反馈 / 延时 (bits 5–7) of a linked device (a fan started, a damper's feedback) are not
 *   alarms: no event; the frame counts as `ignored` when nothing else came of it.
 * - Type 21 (the UITD's own state) is a heartbeat. Its 故障, 主电 / 备电故障, 通信信道故障 and
 *   监测连接线路故障 (the link to the panel: alarms can no longer arrive) are a `fault` of zone
 *   用户信息传输装置 with a code naming them; its 火警 bit only mirrors the panel's alarm, which arrives
 *   as type 1 / 2 with its zone, so it raises nothing by itself.
 * - 手动报警 in an operation record (type 4 of the panel, type 24 of the UITD's manual alarm key,
 *   GB 26875.1) is a person reporting a fire: `fire_alarm`. 复位 of the panel (type 4 bit0) is a
 *   panel-wide `reset`; 复位 of the UITD (type 24) resets the UITD, not the panel: nothing.
 */
import type { Adu, ComponentState, SystemState } from './codec.js';

export interface MapOptions {
  /** The model sends fire as 0x0002: bit0 = 0 is not a test. */
  ignoreTestBit: boolean;
  /** The receive time; time labels outside [now - maxPastMs, now + maxFutureMs] are replaced by it (see config.ts). */
  now: number;
  maxPastMs: number;
  maxFutureMs: number;
}

/** The last known alarm bits (fire | fault | disabled | supervisory) per state key, of one device. */
export interface StateLookup {
  get(key: string): number | undefined;
}

export interface Mapped {
  telemetry: Record<string, unknown>[];
  events: Record<string, unknown>[];
  /** State keys → alarm bits, to commit once the objects are stored. */
  updates: Map<string, number>;
  /** The frame says the device is alive (type 21, 24 查岗应答) though it may carry no data. */
  heartbeat: boolean;
  /** Objects that map onto nothing (analog values, linkage start / feedback, unknown types). */
  ignored: number;
}

// status word bits (§2.2, §2.3, §2.6)
const NORMAL = 1 << 0;
const FIRE = 1 << 1;
const FAULT = 1 << 2;
const DISABLED = 1 << 3;
const SUPERVISORY = 1 << 4;
const ALARM_BITS = FIRE | FAULT | DISABLED | SUPERVISORY;
// system state only (§2.2)
const SYS_MAIN_POWER = 1 << 8;
const SYS_BACKUP_POWER = 1 << 9;
const SYS_BUS = 1 << 10;
const SYS_RESET = 1 << 13;
// component state only (§2.3): one power bit, not mains / backup
const COMP_POWER = 1 << 8;
// UITD state (§2.6)
const UITD_FIRE = 1 << 1;
const UITD_FAULTS: readonly [number, string][] = [[1 << 2, 'uitd_fault'], [1 << 3, 'main_power'], [1 << 4, 'backup_power'], [1 << 5, 'channel'], [1 << 6, 'panel_link']];
// operation flags (§2.5)
const OP_RESET = 1 << 0;
const OP_MANUAL_ALARM = 1 << 2;
const OP_DUTY_ANSWER = 1 << 5; // type 24 only: 查岗应答
const OP_TEST = 1 << 6; // 测试: the operation was a test

export const UITD_ZONE = '用户信息传输装置';

/** 系统类型 (§2.9, STD Table 4). */
export const SYSTEM_TYPES: Readonly<Record<number, string>> = {
  0: '通用', 1: '火灾报警系统', 10: '消防联动控制器', 11: '消火栓系统', 12: '自动喷水灭火系统', 13: '气体灭火系统',
  14: '水喷雾灭火系统(泵启动方式)', 15: '水喷雾灭火系统(压力容器启动方式)', 16: '泡沫灭火系统', 17: '干粉灭火系统',
  18: '防烟排烟系统', 19: '防火门及卷帘系统', 20: '消防电梯', 21: '消防应急广播', 22: '消防应急照明和疏散指示系统',
  23: '消防电源', 24: '消防电话',
};

/** 部件类型 (§2.10, STD Table 5; 21 is a detection loop, 41 / 42 the point smoke detectors). */
export const COMPONENT_TYPES: Readonly<Record<number, string>> = {
  0: '通用', 1: '火灾报警控制器', 10: '可燃气体探测器', 11: '点型可燃气体探测器', 12: '独立式可燃气体探测器', 13: '线型可燃气体探测器',
  16: '电气火灾监控报警器', 17: '剩余电流式电气火灾监控探测器', 18: '测温式电气火灾监控探测器',
  21: '探测回路', 22: '火灾显示盘', 23: '手动火灾报警按钮', 24: '消火栓按钮', 25: '火灾探测器',
  30: '感温火灾探测器', 31: '点型感温火灾探测器', 32: '点型感温火灾探测器(S型)', 33: '点型感温火灾探测器(R型)',
  34: '线型感温火灾探测器', 35: '线型感温火灾探测器(S型)', 36: '线型感温火灾探测器(R型)', 37: '光纤感温火灾探测器',
  40: '感烟火灾探测器', 41: '点型离子感烟火灾探测器', 42: '点型光电感烟火灾探测器', 43: '线型光束感烟火灾探测器', 44: '吸气式感烟火灾探测器',
  50: '复合式火灾探测器', 51: '复合式感烟感温火灾探测器', 52: '复合式感光感温火灾探测器', 53: '复合式感光感烟火灾探测器',
  61: '紫外火焰探测器', 62: '红外火焰探测器', 69: '感光火灾探测器', 74: '气体探测器', 78: '图像摄像方式火灾探测器', 79: '感声火灾探测器',
  81: '气体灭火控制器', 82: '消防电气控制装置', 83: '消防控制室图形显示装置', 84: '模块', 85: '输入模块', 86: '输出模块', 87: '输入/输出模块', 88: '中继模块',
  91: '消防水泵', 92: '消防水箱', 95: '喷淋泵', 96: '水流指示器', 97: '信号阀', 98: '报警阀', 99: '压力开关',
  101: '阀驱动装置', 102: '防火门', 103: '防火阀', 104: '通风空调', 105: '泡沫液泵', 106: '管网电磁阀',
  111: '防烟排烟风机', 113: '排烟防火阀', 114: '常闭送风口', 115: '排烟口', 116: '电控挡烟垂壁', 117: '防火卷帘控制器', 118: '防火门监控器',
  121: '警报装置',
};

export const componentTypeName = (n: number): string => COMPONENT_TYPES[n] ?? `部件类型${n}`;
export const systemTypeName = (n: number): string => SYSTEM_TYPES[n] ?? `系统类型${n}`;

/** The zone of a component: its description (部件说明) when the panel has one, else its coordinates. */
export function componentZone(c: Pick<ComponentState, 'sysType' | 'sysAddr' | 'compAddr' | 'description'>): string {
  return c.description || `系统${c.sysType}-${c.sysAddr}/部件${c.compAddr}`;
}

export function systemZone(s: Pick<SystemState, 'sysType' | 'sysAddr'>): string {
  return `系统${s.sysType}-${s.sysAddr}`;
}

export const componentKey = (c: Pick<ComponentState, 'sysType' | 'sysAddr' | 'compAddr'>): string => `c:${c.sysType}:${c.sysAddr}:${c.compAddr}`;
export const systemKey = (s: Pick<SystemState, 'sysType' | 'sysAddr'>): string => `s:${s.sysType}:${s.sysAddr}`;
export const UITD_KEY = 'u';

/** The object's own time when it is plausible, else nothing (the gateway's receive time). */
function tsOf(at: number | undefined, o: MapOptions): { ts?: number } {
  // A UITD whose clock was reset (to 2000 after a power loss) or drifted must still get its fire
  // alarm through: outside the window the ingest would refuse the object as a dead letter.
  return at !== undefined && at >= o.now - o.maxPastMs && at <= o.now + o.maxFutureMs ? { ts: at } : {};
}

function testOf(state: number, o: MapOptions): { test?: true } {
  return (state & NORMAL) === 0 && !o.ignoreTestBit ? { test: true } : {};
}

/** An operation record's 测试 flag (bit6 = 1: the operation was a test; not the status words' inverted bit0). */
function opTest(flags: number): { test?: true } {
  return flags & OP_TEST ? { test: true } : {};
}

/**
 * Events for one status word: one per alarm bit set, or `restored` when none is and the previous
 * state was not known to be clear. `fault` carries `code` when a power or bus bit says what failed.
 */
function stateEvents(out: Mapped, prev: StateLookup, key: string, alarm: number, faultCode: string | undefined, base: Record<string, unknown>): void {
  const before = out.updates.has(key) ? out.updates.get(key) : prev.get(key);
  out.updates.set(key, alarm);
  if (alarm === 0) {
    if (before !== 0) out.events.push({ type: 'restored', ...base });
    return;
  }
  if (alarm & FIRE) out.events.push({ type: 'fire_alarm', ...base });
  if (alarm & FAULT) out.events.push(faultCode ? { type: 'fault', ...base, code: faultCode } : { type: 'fault', ...base });
  if (alarm & DISABLED) out.events.push({ type: 'disabled', ...base });
  if (alarm & SUPERVISORY) out.events.push({ type: 'supervisory', ...base });
}

/** Maps one decoded ADU; `prev` is the device's memory (not modified: see `updates`). */
export function mapAdu(adu: Adu, prev: StateLookup, o: MapOptions): Mapped {
  const out: Mapped = { telemetry: [], events: [], updates: new Map(), heartbeat: false, ignored: 0 };
  if ('unknown' in adu) {
    out.ignored += Math.max(1, adu.count);
    return out;
  }
  switch (adu.type) {
    case 1:
      for (const s of adu.objects) {
        const ts = tsOf(s.at, o), test = testOf(s.state, o);
        out.telemetry.push({ ...ts, ...test, mainPowerOk: (s.state & SYS_MAIN_POWER) === 0, backupPowerOk: (s.state & SYS_BACKUP_POWER) === 0 });
        // a bus fault (总线故障) is a fault of the panel even when the panel does not set 故障 with it
        const alarm = (s.state & ALARM_BITS) | (s.state & SYS_BUS ? FAULT : 0);
        stateEvents(out, prev, systemKey(s), alarm, s.state & SYS_BUS ? 'bus' : undefined, { ...ts, ...test, zone: systemZone(s), component: systemTypeName(s.sysType) });
        if (s.state & SYS_RESET) out.events.push({ type: 'reset', ...ts, ...test });
      }
      break;
    case 2:
      for (const c of adu.objects) {
        const power = (c.state & COMP_POWER) !== 0;
        const alarm = (c.state & ALARM_BITS) | (power ? FAULT : 0);
        if (alarm === 0 && (c.state & 0xe0) !== 0) out.ignored++; // 启动 / 反馈 / 延时 only
        stateEvents(out, prev, componentKey(c), alarm, power ? 'power' : undefined, {
          ...tsOf(c.at, o), ...testOf(c.state, o), zone: componentZone(c), point: String(c.compAddr), component: componentTypeName(c.compType),
        });
      }
      break;
    case 3:
      // analog values (温度, 压力, …) have no place in the fire_panel payload
      out.ignored += adu.objects.length;
      break;
    case 4:
      for (const op of adu.objects) {
        const ts = tsOf(op.at, o);
        let used = false;
        if (op.flags & OP_MANUAL_ALARM) { out.events.push({ type: 'fire_alarm', ...ts, ...opTest(op.flags), zone: systemZone(op), component: '手动报警' }); used = true; }
        if (op.flags & OP_RESET) { out.events.push({ type: 'reset', ...ts }); used = true; }
        if (!used) out.ignored++;
      }
      break;
    case 21:
      out.heartbeat = true;
      for (const u of adu.objects) {
        const codes = UITD_FAULTS.filter(([bit]) => (u.state & bit) !== 0).map(([, code]) => code);
        if (u.state & UITD_FIRE && codes.length === 0) out.ignored++;
        stateEvents(out, prev, UITD_KEY, codes.length > 0 ? FAULT : 0, codes.join(',') || undefined, {
          ...tsOf(u.at, o), ...testOf(u.state, o), zone: UITD_ZONE, component: UITD_ZONE,
        });
      }
      break;
    case 24:
      for (const op of adu.objects) {
        if (op.flags & OP_MANUAL_ALARM) out.events.push({ type: 'fire_alarm', ...tsOf(op.at, o), ...opTest(op.flags), zone: UITD_ZONE, component: '手动报警' });
        else out.ignored++;
        if (op.flags & OP_DUTY_ANSWER) out.heartbeat = true;
      }
      break;
    case 28:
      out.heartbeat = true;
      out.ignored += adu.objects.length;
      break;
  }
  return out;
}

/**
 * The last alarm bits per state key of one device, bounded: past `max` keys the least recently
 * written goes (a panel has a few thousand points at most; forgetting one only costs a `restored`).
 */
export class StateMemory implements StateLookup {
  private readonly map = new Map<string, number>();
  constructor(private readonly max = 4096) {}

  get(key: string): number | undefined {
    return this.map.get(key);
  }

  commit(updates: ReadonlyMap<string, number>): void {
    for (const [k, v] of updates) {
      this.map.delete(k);
      this.map.set(k, v);
      if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
    }
  }

  get size(): number {
    return this.map.size;
  }
}
