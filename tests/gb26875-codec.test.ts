/**
 * The GB/T 26875.3 codec and state mapping, pure: the worked example of protocols/gb26875-3.md §5
 * byte for byte, the stream splitter on split, coalesced and damaged input, ADU decoding and the
 * fire_panel payloads the states map onto.
 */
import { describe, expect, it } from 'vitest';
import iconv from 'iconv-lite';
import {
  CMD, FrameSplitter, checkFrame, checksum, decodeAdu, decodeText, decodeTime, encodeComponentStates, encodeFrame, encodeReply,
  encodeSystemStates, encodeTime, encodeUitdState, encodeOperations, isAduError, type SplitItem,
} from '../protocols/gb26875/codec.js';
import { StateMemory, mapAdu, componentTypeName, type MapOptions } from '../protocols/gb26875/states.js';
import { gb26875SettingsSchema } from '../protocols/gb26875/config.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** §5.2: the device's 发送数据 frame, 78 bytes. */
const EXAMPLE = hex(`
40 40 01 00 01 00 09 08 07 06 05 18 40 E2 01 00 00 00 00 00 00 00 00 00 30 00 02
02 01 01 01 2A 02 01 00 00 03 00 D2 BB B2 E3 D7 DF C0 C8 00 00 00 00 00 00 00 00
00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 09 08 07 06 05 18 62 23 23`);
/** §5.3: the centre's 确认, 30 bytes, sent at 07:08:10. */
const CONFIRM = hex('40 40 01 00 01 00 0A 08 07 06 05 18 00 00 00 00 00 00 40 E2 01 00 00 00 00 00 03 64 23 23');
const DENY = hex('40 40 01 00 01 00 0A 08 07 06 05 18 00 00 00 00 00 00 40 E2 01 00 00 00 00 00 06 67 23 23');
/** 2024-05-06 07:08:09 China time. */
const EVENT_AT = Date.UTC(2024, 4, 5, 23, 8, 9);
const DEVICE = '40e201000000';
const CENTRE = '000000000000';

function drain(s: FrameSplitter): SplitItem[] {
  const out: SplitItem[] = [];
  for (let i = s.next(); i; i = s.next()) out.push(i);
  return out;
}
const kinds = (items: SplitItem[]) => items.map((i) => (i.kind === 'bad' ? `bad:${i.code}` : i.kind));

const opts = (o: Partial<MapOptions> = {}): MapOptions => ({ ignoreTestBit: false, now: EVENT_AT, maxPastMs: 6 * 86_400_000, maxFutureMs: 60_000, ...o });

describe('GB/T 26875.3 frames', () => {
  it('decodes the worked example: checksum 0x62, serial 1, addresses in wire order, time label in China time', () => {
    expect(EXAMPLE.length).toBe(78);
    expect(checksum(EXAMPLE, 2, 75)).toBe(0x62);
    const r = checkFrame(EXAMPLE);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.frame).toMatchObject({ serial: 1, version: [1, 0], source: DEVICE, destination: CENTRE, command: CMD.send, sentAt: EVENT_AT });
    expect(r.frame.adu.length).toBe(48);
  });

  it('encodes the example frame byte for byte from its values', () => {
    const adu = encodeComponentStates([{ sysType: 1, sysAddr: 1, compType: 42, compAddr: 0x102, state: 3, description: iconv.encode('一层走廊', 'gb18030'), at: EVENT_AT }]);
    const frame = encodeFrame({ serial: 1, version: [1, 0], time: EVENT_AT, source: DEVICE, destination: CENTRE, command: CMD.send, adu });
    expect(frame.toString('hex')).toBe(EXAMPLE.toString('hex'));
  });

  it('builds the 30-byte 确认 and 否认 of §5.3 (serial and version echoed, centre → device, L = 0)', () => {
    const r = checkFrame(EXAMPLE);
    if (!r.ok) throw new Error('example did not check');
    const confirm = encodeReply(CMD.confirm, r.frame, CENTRE, EVENT_AT + 1000);
    expect(confirm.toString('hex')).toBe(CONFIRM.toString('hex'));
    expect(encodeReply(CMD.deny, r.frame, CENTRE, EVENT_AT + 1000).toString('hex')).toBe(DENY.toString('hex'));
    // any other send time: everything but the time label and the checksum (which covers it) is the same
    const later = encodeReply(CMD.confirm, r.frame, CENTRE, Date.now());
    expect(later.length).toBe(30);
    expect(Buffer.concat([later.subarray(0, 6), later.subarray(12, 27), later.subarray(28)]).toString('hex'))
      .toBe(Buffer.concat([CONFIRM.subarray(0, 6), CONFIRM.subarray(12, 27), CONFIRM.subarray(28)]).toString('hex'));
    expect(checkFrame(later).ok).toBe(true);
  });

  it('refuses a flipped ADU byte as a checksum error but keeps the header for the 否认', () => {
    const bad = Buffer.from(EXAMPLE);
    bad[36] = 0x02; // state 0x0002: the checksum would be 0x61
    const r = checkFrame(bad);
    expect(r).toMatchObject({ ok: false, code: 'checksum', header: { serial: 1, source: DEVICE, length: 48 } });
    bad[75] = 0x61;
    expect(checkFrame(bad).ok).toBe(true);
  });

  it('time labels: binary sec..year, China local time, invalid dates refused', () => {
    expect(decodeTime(hex('090807060518'), 0)).toBe(EVENT_AT);
    expect(encodeTime(EVENT_AT).toString('hex')).toBe('090807060518');
    expect(decodeTime(hex('00000000001e'), 0)).toBeUndefined(); // day 0
    expect(decodeTime(hex('0000001f0218'), 0)).toBeUndefined(); // 31 February
    expect(decodeTime(hex('3c0000010118'), 0)).toBeUndefined(); // second 60
    expect(decodeTime(hex('000000010100'), 0)).toBe(Date.UTC(1999, 11, 31, 16)); // 2000-01-01 00:00 CST
  });
});

describe('GB/T 26875.3 stream splitter', () => {
  it('reassembles a frame split at every byte', () => {
    for (let cut = 1; cut < EXAMPLE.length; cut++) {
      const s = new FrameSplitter();
      s.push(EXAMPLE.subarray(0, cut));
      expect(drain(s)).toEqual([]);
      s.push(EXAMPLE.subarray(cut));
      expect(kinds(drain(s))).toEqual(['frame']);
      expect(s.pending()).toBe(0);
    }
  });

  it('splits coalesced frames ("粘包") and frames delivered a byte at a time', () => {
    const s = new FrameSplitter();
    s.push(Buffer.concat([EXAMPLE, CONFIRM, EXAMPLE]));
    expect(kinds(drain(s))).toEqual(['frame', 'frame', 'frame']);
    const t = new FrameSplitter();
    const out: SplitItem[] = [];
    for (const b of Buffer.concat([CONFIRM, EXAMPLE])) { t.push(Buffer.from([b])); out.push(...drain(t)); }
    expect(kinds(out)).toEqual(['frame', 'frame']);
  });

  it('skips garbage between frames, keeping a trailing 0x40 that may start one', () => {
    const s = new FrameSplitter();
    s.push(Buffer.concat([hex('0102 0304 2323 40'), EXAMPLE.subarray(1), Buffer.from('GET / HTTP/1.1\r\n'), CONFIRM]));
    const items = drain(s);
    expect(kinds(items)).toEqual(['garbage', 'frame', 'garbage', 'frame']);
    expect(items[0]).toMatchObject({ kind: 'garbage', length: 6 });
    expect(items[2]).toMatchObject({ kind: 'garbage', length: 16 });
  });

  it('finds frames by @@ and length, not by ##: ## and @@ inside the data are data', () => {
    const desc = Buffer.from('##@@##@@', 'latin1');
    const adu = encodeComponentStates([{ sysType: 1, sysAddr: 0x23, compType: 0x40, compAddr: 0x23234040, state: 3, description: desc, at: EVENT_AT }]);
    const frame = encodeFrame({ serial: 0x2323, time: EVENT_AT, source: '404040232323', destination: CENTRE, command: CMD.send, adu });
    const s = new FrameSplitter();
    s.push(Buffer.concat([frame, frame.subarray(0, 40)]));
    s.push(frame.subarray(40));
    const items = drain(s);
    expect(kinds(items)).toEqual(['frame', 'frame']);
    const first = items[0]!;
    if (first.kind !== 'frame') throw new Error('not a frame');
    expect(first.frame.source).toBe('404040232323');
    const decoded = decodeAdu(first.frame.adu);
    expect(isAduError(decoded) ? undefined : decoded).toMatchObject({ type: 2, objects: [{ sysAddr: 0x23, compType: 0x40, compAddr: 0x23234040, description: '##@@##@@' }] });
  });

  it('a damaged frame (checksum) is dropped whole; the next frame is still found', () => {
    const bad = Buffer.from(EXAMPLE);
    bad[40] = bad[40]! ^ 0xff;
    const s = new FrameSplitter();
    s.push(Buffer.concat([bad, CONFIRM]));
    const items = drain(s);
    expect(kinds(items)).toEqual(['bad:checksum', 'frame']);
    expect(items[0]).toMatchObject({ header: { serial: 1, source: DEVICE } });
  });

  it('a truncated frame followed by a good one: wrong end marker, then resync on the next @@', () => {
    const s = new FrameSplitter();
    // the example loses its last 20 bytes; its "length" then reaches into the two confirms behind it
    s.push(Buffer.concat([EXAMPLE.subarray(0, 58), CONFIRM, CONFIRM]));
    const items = drain(s);
    expect(kinds(items)).toEqual(['bad:end_marker', 'frame', 'frame']);
    expect(items[0]).toMatchObject({ header: { serial: 1 } });
  });

  it('an incomplete frame waiting for bytes that never come is dropped on demand, and the stream rescanned', () => {
    const s = new FrameSplitter();
    // a false @@ claiming 1000 bytes of ADU, then a real frame: the real one sits behind it
    const falseStart = Buffer.concat([hex('4040'), Buffer.alloc(22), hex('e803'), hex('02')]);
    s.push(Buffer.concat([falseStart, CONFIRM]));
    expect(drain(s)).toEqual([]);
    expect(s.pending()).toBe(57);
    expect(s.dropIncomplete()).toMatchObject({ kind: 'bad', code: 'truncated', header: { length: 1000 } });
    expect(kinds(drain(s))).toEqual(['frame']);
    expect(s.pending()).toBe(0);
  });

  it('refuses an oversized length (> 1024) at once, without waiting for its bytes', () => {
    const big = Buffer.from(EXAMPLE);
    big.writeUInt16LE(1025, 24);
    const s = new FrameSplitter();
    s.push(big.subarray(0, 27));
    const items = drain(s);
    expect(kinds(items)).toEqual(['bad:length']);
    expect(items[0]).toMatchObject({ header: { serial: 1, length: 1025 } });
  });

  it('refuses an unknown command byte (0, 7–127 reserved, 128–255 user-defined) with its header', () => {
    for (const cmd of [0, 7, 128, 255]) {
      const f = encodeFrame({ serial: 9, time: EVENT_AT, source: DEVICE, destination: CENTRE, command: cmd });
      expect(checkFrame(f)).toMatchObject({ ok: false, code: 'command', header: { serial: 9 } });
    }
  });

  it('holds at most one incomplete frame however much garbage arrives', () => {
    const s = new FrameSplitter();
    let items = 0;
    for (let i = 0; i < 40; i++) {
      s.push(Buffer.alloc(4096, i % 2 ? 0x40 : 0x23));
      for (let it = s.next(); it; it = s.next()) items++;
      expect(s.pending()).toBeLessThanOrEqual(1054);
    }
    expect(items).toBeGreaterThan(0);
  });
});

describe('GB/T 26875.3 application data units', () => {
  it('decodes a GB18030 description, trimming NULs and spaces', () => {
    expect(decodeText(Buffer.concat([iconv.encode('  三层 东侧 楼梯间　', 'gb18030'), Buffer.alloc(4)]))).toBe('三层 东侧 楼梯间');
    expect(decodeText(Buffer.alloc(31))).toBe('');
    // text after the first NUL is padding garbage, not part of the name
    expect(decodeText(Buffer.concat([iconv.encode('一层走廊', 'gb18030'), hex('00 41 42')]))).toBe('一层走廊');
  });

  it('decodes type 2 of the example', () => {
    const r = checkFrame(EXAMPLE);
    if (!r.ok) throw new Error('no');
    expect(decodeAdu(r.frame.adu)).toEqual({
      type: 2,
      objects: [{ sysType: 1, sysAddr: 1, compType: 42, compAddr: 0x102, state: 3, description: '一层走廊', at: EVENT_AT }],
    });
  });

  it('decodes types 1, 4 and 21; keeps an unknown type; refuses a size that does not add up', () => {
    expect(decodeAdu(encodeSystemStates([{ sysType: 1, sysAddr: 2, state: 0x0301, at: EVENT_AT }]))).toEqual({ type: 1, objects: [{ sysType: 1, sysAddr: 2, state: 0x0301, at: EVENT_AT }] });
    expect(decodeAdu(encodeOperations([{ sysType: 1, sysAddr: 2, flags: 1, operator: 7, at: EVENT_AT }]))).toEqual({ type: 4, objects: [{ sysType: 1, sysAddr: 2, flags: 1, operator: 7, at: EVENT_AT }] });
    expect(decodeAdu(hex('1501 01 090807060518'))).toEqual({ type: 21, objects: [{ state: 1, at: EVENT_AT }] });
    expect(decodeAdu(hex('1c01 090807060518'))).toEqual({ type: 28, objects: [{ at: EVENT_AT }] });
    expect(decodeAdu(hex('1901 0102'))).toMatchObject({ type: 25, unknown: true, count: 1 });
    expect(decodeAdu(hex('1502 01 090807060518'))).toMatchObject({ error: 'object_size' });
    expect(decodeAdu(hex('15'))).toMatchObject({ error: 'empty' });
  });
});

describe('GB/T 26875.3 states → fire_panel payloads', () => {
  const component = (state: number, extra: Partial<{ compAddr: number; description: Buffer; compType: number }> = {}) =>
    decodeAdu(encodeComponentStates([{ sysType: 1, sysAddr: 1, compType: extra.compType ?? 42, compAddr: extra.compAddr ?? 0x102, state, description: extra.description ?? iconv.encode('一层走廊', 'gb18030'), at: EVENT_AT }]));
  const map = (adu: ReturnType<typeof decodeAdu>, memory = new StateMemory(), o: Partial<MapOptions> = {}) => {
    if (isAduError(adu)) throw new Error(adu.message);
    const m = mapAdu(adu, memory, opts(o));
    memory.commit(m.updates);
    return m;
  };

  it('the example is a fire alarm in 一层走廊 from a point photoelectric smoke detector', () => {
    expect(map(component(0x0003)).events).toEqual([{ type: 'fire_alarm', ts: EVENT_AT, zone: '一层走廊', point: '258', component: '点型光电感烟火灾探测器' }]);
  });

  it('bit0 = 0 is a test unless the model ignores the test bit (vendors sending fire as 0x0002)', () => {
    expect(map(component(0x0002)).events).toEqual([expect.objectContaining({ type: 'fire_alarm', test: true })]);
    expect(map(component(0x0002), new StateMemory(), { ignoreTestBit: true }).events[0]).not.toHaveProperty('test');
  });

  it('maps fault, disabled and supervisory; power fault is a fault with a code; start / feedback raise nothing', () => {
    expect(map(component(0x0001 | 0x04 | 0x08 | 0x10)).events.map((e) => e.type)).toEqual(['fault', 'disabled', 'supervisory']);
    expect(map(component(0x0101)).events).toEqual([expect.objectContaining({ type: 'fault', code: 'power' })]);
    const memory = new StateMemory();
    map(component(0x0001), memory); // known clear
    const linkage = map(component(0x0061), memory); // 启动 + 反馈
    expect(linkage.events).toEqual([]);
    expect(linkage.ignored).toBe(1);
  });

  it('restored: after a state, and for a clear state whose previous one is unknown; not for clear after clear', () => {
    const memory = new StateMemory();
    expect(map(component(0x0005), memory).events.map((e) => e.type)).toEqual(['fault']);
    expect(map(component(0x0001), memory).events).toEqual([{ type: 'restored', ts: EVENT_AT, zone: '一层走廊', point: '258', component: '点型光电感烟火灾探测器' }]);
    expect(map(component(0x0001), memory).events).toEqual([]);
    expect(map(component(0x0001, { compAddr: 7 }), memory).events.map((e) => e.type)).toEqual(['restored']);
  });

  it('the memory is only the caller\'s to commit: a retransmission after a failed store maps to the same events', () => {
    const memory = new StateMemory();
    map(component(0x0005), memory);
    const adu = component(0x0001);
    if (isAduError(adu)) throw new Error('no');
    const first = mapAdu(adu, memory, opts());
    const again = mapAdu(adu, memory, opts());
    expect(again.events).toEqual(first.events);
    expect(first.events.map((e) => e.type)).toEqual(['restored']);
  });

  it('a component without a description is named by its coordinates; unknown types by number', () => {
    const e = map(component(0x0003, { description: Buffer.alloc(0), compType: 200, compAddr: 0x00010002 })).events[0];
    expect(e).toMatchObject({ zone: '系统1-1/部件65538', point: '65538', component: '部件类型200' });
    expect(componentTypeName(21)).toBe('探测回路');
    expect(componentTypeName(41)).toBe('点型离子感烟火灾探测器');
  });

  it('type 1: power telemetry, system alarms and 复位 → reset of the whole panel', () => {
    const m = map(decodeAdu(encodeSystemStates([{ sysType: 1, sysAddr: 1, state: 0x0001 | 0x0100 | 0x0002 | 0x2000, at: EVENT_AT }])));
    expect(m.telemetry).toEqual([{ ts: EVENT_AT, mainPowerOk: false, backupPowerOk: true }]);
    expect(m.events).toEqual([
      { type: 'fire_alarm', ts: EVENT_AT, zone: '系统1-1', component: '火灾报警系统' },
      { type: 'reset', ts: EVENT_AT },
    ]);
    const test = map(decodeAdu(encodeSystemStates([{ sysType: 1, sysAddr: 1, state: 0x0200, at: EVENT_AT }])));
    expect(test.telemetry).toEqual([{ ts: EVENT_AT, test: true, mainPowerOk: true, backupPowerOk: false }]);
  });

  it('type 4 复位 is a reset, 手动报警 a fire alarm; other operations are ignored', () => {
    expect(map(decodeAdu(encodeOperations([{ sysType: 1, sysAddr: 1, flags: 0x01, operator: 1, at: EVENT_AT }]))).events).toEqual([{ type: 'reset', ts: EVENT_AT }]);
    expect(map(decodeAdu(encodeOperations([{ sysType: 1, sysAddr: 1, flags: 0x04, operator: 1, at: EVENT_AT }]))).events[0]).toMatchObject({ type: 'fire_alarm', component: '手动报警' });
    expect(map(decodeAdu(encodeOperations([{ sysType: 1, sysAddr: 1, flags: 0x02, operator: 1, at: EVENT_AT }])))).toMatchObject({ events: [], ignored: 1 });
  });

  it('type 21 is a heartbeat; the UITD\'s own faults are a fault of zone 用户信息传输装置; its fire bit raises nothing', () => {
    const memory = new StateMemory();
    const normal = map(decodeAdu(encodeUitdState(0x01, EVENT_AT)), memory);
    expect(normal.heartbeat).toBe(true);
    expect(normal.events.map((e) => e.type)).toEqual(['restored']); // nothing known yet
    expect(map(decodeAdu(encodeUitdState(0x01, EVENT_AT)), memory).events).toEqual([]);
    const link = map(decodeAdu(encodeUitdState(0x01 | 0x40 | 0x08, EVENT_AT)), memory);
    expect(link.events).toEqual([{ type: 'fault', ts: EVENT_AT, zone: '用户信息传输装置', component: '用户信息传输装置', code: 'main_power,panel_link' }]);
    expect(map(decodeAdu(encodeUitdState(0x01 | 0x02, EVENT_AT)), memory).events.map((e) => e.type)).toEqual(['restored']);
    expect(map(decodeAdu(encodeUitdState(0x01 | 0x02, EVENT_AT)), memory)).toMatchObject({ events: [], ignored: 1 });
  });

  it('type 3 analog values are ignored; a time label outside the plausible window becomes the receive time', () => {
    expect(map(decodeAdu(hex('0301 01 01 1f 01000000 03 e800 090807060518')))).toMatchObject({ events: [], telemetry: [], ignored: 1 });
    const stale = map(component(0x0003), new StateMemory(), { now: EVENT_AT + 30 * 86_400_000 });
    expect(stale.events[0]).not.toHaveProperty('ts');
  });

  it('the state memory is bounded', () => {
    const m = new StateMemory(3);
    for (let i = 0; i < 10; i++) m.commit(new Map([[`k${i}`, 1]]));
    expect(m.size).toBe(3);
    expect(m.get('k9')).toBe(1);
    expect(m.get('k0')).toBeUndefined();
  });
});

describe('GB/T 26875.3 settings', () => {
  it('every field has a default: the server is off', () => {
    const s = gb26875SettingsSchema.parse({});
    expect(s.port).toBeUndefined();
    expect(s).toMatchObject({ host: '0.0.0.0', centreAddress: CENTRE, idleTimeoutMs: 3 * 3600_000, models: {} });
    expect(gb26875SettingsSchema.parse({ centreAddress: 'FFFFFFFFFFFF', models: { 'DG-1': {} } })).toMatchObject({ centreAddress: 'ffffffffffff', models: { 'DG-1': { ignoreTestBit: false } } });
    expect(gb26875SettingsSchema.safeParse({ centreAddress: '00' }).success).toBe(false);
  });
});
