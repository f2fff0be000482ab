/**
 * The Modbus register codec, pure: how a model's registers are grouped into reads (adjacent ones
 * together, within the protocol's 125 registers / 2000 bits, areas apart, gaps only when allowed),
 * and how raw words and bits become field values (every type, both word orders, scale and offset,
 * bits of a status word, maps), checked against hand-computed words; and the settings' validation.
 */
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_MODELS, decodePoll, encodeFields, modbusSettingsSchema, planReads, requiredFields,
  type RegisterSpec, type RegisterSpecInput,
} from '../protocols/modbus/index.js';
import { KIND_SCHEMAS } from '../ingest/index.js';

/** Registers as the settings would give them (defaults applied). */
function regs(...specs: RegisterSpecInput[]): RegisterSpec[] {
  const parsed = modbusSettingsSchema.parse({ models: { m: { registers: specs } } });
  return parsed.models.m!.registers;
}

/** Decodes one register from the words of a read that starts at its address. */
function decodeOne(spec: RegisterSpecInput, words: number[] | boolean[]): unknown {
  const r = regs(spec);
  const plan = planReads(r);
  const { object, issues } = decodePoll(r, plan, [words]);
  expect(issues).toEqual([]);
  return object[r[0]!.field];
}

describe('planning the reads', () => {
  it('joins adjacent registers of an area into one read and keeps areas apart', () => {
    const r = regs(
      { field: 'a', address: 0 }, { field: 'b', address: 1 }, { field: 'c', address: 2, type: 'float32' },
      { field: 'd', area: 'input', address: 0 }, { field: 'e', area: 'coil', address: 5 }, { field: 'f', area: 'coil', address: 6 },
      { field: 'g', area: 'discrete', address: 100 },
    );
    const plan = planReads(r);
    expect(plan.map(({ area, address, length }) => ({ area, address, length }))).toEqual([
      { area: 'coil', address: 5, length: 2 },
      { area: 'discrete', address: 100, length: 1 },
      { area: 'holding', address: 0, length: 4 },
      { area: 'input', address: 0, length: 1 },
    ]);
    expect(plan[2]!.registers).toEqual([0, 1, 2]);
  });

  it('sorts by address, shares a read between bits of one status word, and splits at a gap unless maxGap allows it', () => {
    const r = regs(
      { field: 'late', address: 20 }, { field: 'fault', address: 4, bit: 0 }, { field: 'door', address: 4, bit: 2 }, { field: 'early', address: 3 },
    );
    expect(planReads(r).map((p) => [p.address, p.length, p.registers])).toEqual([[3, 2, [3, 1, 2]], [20, 1, [0]]]);
    expect(planReads(r, 15).map((p) => [p.address, p.length])).toEqual([[3, 18]]);
    expect(planReads(r, 14).map((p) => [p.address, p.length])).toEqual([[3, 2], [20, 1]]);
  });

  it('never reads more than 125 registers or 2000 bits at once, and a 32-bit value is never split', () => {
    const words = regs(...Array.from({ length: 130 }, (_, i) => ({ field: `w${i}`, address: i })));
    expect(planReads(words).map((p) => [p.address, p.length])).toEqual([[0, 125], [125, 5]]);
    const floats = regs(...Array.from({ length: 63 }, (_, i) => ({ field: `f${i}`, address: 2 * i, type: 'float32' as const })));
    // 62 floats fill 124 registers; the 63rd would need 126
    expect(planReads(floats).map((p) => [p.address, p.length])).toEqual([[0, 124], [124, 2]]);
    const coils = regs(
      ...Array.from({ length: 300 }, (_, i) => ({ field: `c${i}`, area: 'coil' as const, address: i * 10 })),
    );
    const plan = planReads(coils, 9);
    expect(plan.map((p) => [p.address, p.length])).toEqual([[0, 1991], [2000, 991]]);
    expect(plan.every((p) => p.length <= 2000)).toBe(true);
  });

  it('the built-in pump-room map is one read of ten holding registers', () => {
    const m = modbusSettingsSchema.parse({}).models['pump-plc-std']!;
    expect(planReads(m.registers).map(({ area, address, length }) => ({ area, address, length }))).toEqual([{ area: 'holding', address: 0, length: 10 }]);
  });
});

describe('decoding', () => {
  it('uint16 and int16', () => {
    expect(decodeOne({ field: 'v', address: 0 }, [65535])).toBe(65535);
    expect(decodeOne({ field: 'v', address: 0, type: 'int16' }, [65535])).toBe(-1);
    expect(decodeOne({ field: 'v', address: 0, type: 'int16' }, [0x8000])).toBe(-32768);
    expect(decodeOne({ field: 'v', address: 0, type: 'int16' }, [0x7fff])).toBe(32767);
  });

  it('uint32 and int32 in both word orders', () => {
    expect(decodeOne({ field: 'v', address: 0, type: 'uint32' }, [0x0001, 0x0002])).toBe(65538);
    expect(decodeOne({ field: 'v', address: 0, type: 'uint32', wordOrder: 'little' }, [0x0002, 0x0001])).toBe(65538);
    expect(decodeOne({ field: 'v', address: 0, type: 'uint32' }, [0xffff, 0xffff])).toBe(4_294_967_295);
    expect(decodeOne({ field: 'v', address: 0, type: 'int32' }, [0xffff, 0xfffe])).toBe(-2);
    expect(decodeOne({ field: 'v', address: 0, type: 'int32', wordOrder: 'little' }, [0xfffe, 0xffff])).toBe(-2);
    expect(decodeOne({ field: 'v', address: 0, type: 'int32' }, [0x8000, 0x0000])).toBe(-2_147_483_648);
  });

  it('float32 (IEEE 754) in both word orders, printed at float precision', () => {
    // 0.45 as float32 = 0x3EE66666
    expect(decodeOne({ field: 'v', address: 0, type: 'float32' }, [0x3ee6, 0x6666])).toBe(0.45);
    expect(decodeOne({ field: 'v', address: 0, type: 'float32', wordOrder: 'little' }, [0x6666, 0x3ee6])).toBe(0.45);
    // -12.5 = 0xC1480000
    expect(decodeOne({ field: 'v', address: 0, type: 'float32' }, [0xc148, 0x0000])).toBe(-12.5);
    expect(decodeOne({ field: 'v', address: 0, type: 'float32', scale: 0.001 }, [0x44e1, 0x0000])).toBe(1.8); // 1800 kPa → MPa
  });

  it('a float32 that is NaN or infinite is left out and reported', () => {
    const r = regs({ field: 'v', address: 0, type: 'float32' });
    const { object, issues } = decodePoll(r, planReads(r), [[0x7fc0, 0x0000]]);
    expect(object).toEqual({});
    expect(issues).toEqual([{ field: 'v', message: expect.stringMatching(/not a finite number/) }]);
  });

  it('scale and offset, without binary noise', () => {
    expect(decodeOne({ field: 'v', address: 0, scale: 0.001 }, [450])).toBe(0.45);
    expect(decodeOne({ field: 'v', address: 0, scale: 0.1 }, [7])).toBe(0.7); // 7 × 0.1 = 0.7000000000000001
    expect(decodeOne({ field: 'v', address: 0, type: 'int16', scale: 0.1 }, [0xffec])).toBe(-2); // -20 × 0.1
    expect(decodeOne({ field: 'v', address: 0, scale: 0.1, offset: -40 }, [650])).toBe(25); // 4–20 mA style offset
    expect(decodeOne({ field: 'v', address: 0, offset: 1 }, [9])).toBe(10);
  });

  it('bits of a status word, a register read as a boolean, coils and discrete inputs', () => {
    const r = regs(
      { field: 'b0', address: 4, bit: 0 }, { field: 'b2', address: 4, bit: 2 }, { field: 'b15', address: 4, bit: 15 },
      { field: 'nonzero', address: 5, type: 'bool' }, { field: 'coil', area: 'coil', address: 0 }, { field: 'di', area: 'discrete', address: 7 },
    );
    const plan = planReads(r);
    const results = plan.map((p) => (p.area === 'coil' ? [true] : p.area === 'discrete' ? [false] : [0b1000_0000_0000_0101, 3]));
    expect(decodePoll(r, plan, results)).toEqual({ object: { b0: true, b2: true, b15: true, nonzero: true, coil: true, di: false }, issues: [] });
    const off = plan.map((p) => (p.area === 'holding' ? [0b0000_0000_0000_0010, 0] : [false]));
    expect(decodePoll(r, plan, off).object).toEqual({ b0: false, b2: false, b15: false, nonzero: false, coil: false, di: false });
  });

  it('maps raw codes to values, inverts contacts, and reports a code the map does not name', () => {
    const r = regs(
      { field: 'mode', address: 0, map: { 1: 'normal', 2: 'inspection' } },
      { field: 'doorOpen', area: 'discrete', address: 0, map: { true: false, false: true } },
    );
    const plan = planReads(r);
    const results = (mode: number, contact: boolean) => plan.map((p) => (p.area === 'holding' ? [mode] : [contact]));
    expect(decodePoll(r, plan, results(2, true))).toEqual({ object: { mode: 'inspection', doorOpen: false }, issues: [] });
    const bad = decodePoll(r, plan, results(9, false));
    expect(bad.object).toEqual({ doorOpen: true });
    expect(bad.issues).toEqual([{ field: 'mode', message: expect.stringMatching(/raw value 9 is not in the map/) }]);
  });

  it('a short answer leaves its fields out instead of inventing zeros', () => {
    const r = regs({ field: 'a', address: 0 }, { field: 'b', address: 1, type: 'uint32' });
    const { object, issues } = decodePoll(r, planReads(r), [[5, 1]]);
    expect(object).toEqual({ a: 5 });
    expect(issues.map((i) => i.field)).toEqual(['b']);
  });

  it('encodeFields is the inverse of decodePoll for every type', () => {
    const r = regs(
      { field: 'u16', address: 0, scale: 0.001 }, { field: 'i16', address: 1, type: 'int16', scale: 0.1 },
      { field: 'u32', address: 2, type: 'uint32', wordOrder: 'little' }, { field: 'i32', address: 4, type: 'int32' },
      { field: 'f32', address: 6, type: 'float32', wordOrder: 'little' }, { field: 'flagA', address: 8, bit: 3 }, { field: 'flagB', address: 8, bit: 15 },
      { field: 'mode', address: 9, map: { 1: 'normal', 2: 'fire_return' } },
      { field: 'c', area: 'coil', address: 0 }, { field: 'i', area: 'input', address: 0, type: 'int32', offset: -100 },
    );
    const values = { u16: 0.45, i16: -12.3, u32: 3_000_000_000, i32: -123_456, f32: 3.14159, flagA: true, flagB: true, mode: 'fire_return', c: true, i: -50 };
    const image = encodeFields(r, values);
    expect(image.holding.get(8)).toBe(0x8008);
    const plan = planReads(r);
    const results = plan.map((p) => Array.from({ length: p.length }, (_, k) => {
      const map = image[p.area];
      const v = map.get(p.address + k);
      return p.area === 'coil' || p.area === 'discrete' ? Boolean(v) : (v as number | undefined) ?? 0;
    })) as number[][];
    expect(decodePoll(r, plan, results)).toEqual({ object: values, issues: [] });
  });
});

describe('settings', () => {
  it('parse({}) gives the built-in pump-room model and no targets', () => {
    const s = modbusSettingsSchema.parse({});
    expect(s.targets).toEqual([]);
    expect(s.models['pump-plc-std']).toMatchObject({ kind: 'water_pump', intervalMs: 10_000, timeoutMs: 3_000, maxGap: 0 });
    expect(s.reconnect).toEqual({ minDelayMs: 1000, maxDelayMs: 60_000 });
  });

  it('the built-in map fills every required water_pump field, and its fields exist in the schema', () => {
    const fields = (BUILTIN_MODELS['pump-plc-std']!.registers ?? []).map((r) => r.field);
    expect(requiredFields('water_pump').filter((f) => !fields.includes(f))).toEqual([]);
    const shape = KIND_SCHEMAS.water_pump.telemetry.shape as Record<string, unknown>;
    expect(fields.filter((f) => !(f in shape))).toEqual([]);
  });

  it('a setting overrides a built-in model field by field and adds models of its own', () => {
    const s = modbusSettingsSchema.parse({
      models: {
        'pump-plc-std': { intervalMs: '2s' },
        'fw-plc': { kind: 'fire_water', timeoutMs: 500, registers: [{ field: 'pressure', address: 0, type: 'float32' }, { field: 'tankLevel', address: 2, type: 'float32' }] },
      },
      targets: [{ device: 'pump-1', host: '10.0.0.5' }],
    });
    expect(s.models['pump-plc-std']!.intervalMs).toBe(2000);
    expect(s.models['pump-plc-std']!.registers).toHaveLength(13);
    expect(s.models['fw-plc']).toMatchObject({ kind: 'fire_water', intervalMs: 10_000, timeoutMs: 500 });
    expect(s.targets).toEqual([{ device: 'pump-1', host: '10.0.0.5', port: 502, unitId: 1 }]);
  });

  it('reports every problem with its path', () => {
    const r = modbusSettingsSchema.safeParse({
      models: {
        nomap: {},
        short: { kind: 'fire_water', registers: [{ field: 'pressure', address: 0 }] },
        twice: { registers: [{ field: 'a', address: 0 }, { field: 'a', address: 1 }] },
        bad: { registers: [
          { field: 'x', area: 'coil', address: 0, type: 'uint16' }, { field: 'y', address: 0, type: 'float32', bit: 3 },
          { field: 'z', address: 65535, type: 'uint32' }, { field: 'ts', address: 1 }, { field: 'w', address: 2, bit: 16 },
          { field: 'v', address: 3, bit: 1, scale: 2 },
        ] },
      },
      targets: [{ device: 'a', host: 'h' }, { device: 'a', host: 'h', port: 503 }, { device: 'b', host: 'h' }],
      reconnect: { minDelayMs: '10s', maxDelayMs: '1s' },
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(paths).toEqual(expect.arrayContaining([
      expect.stringMatching(/^models\.bad\.registers\.0\.type: .*must be bool/),
      expect.stringMatching(/^models\.bad\.registers\.1\.bit: /),
      expect.stringMatching(/^models\.bad\.registers\.2\.address: /),
      expect.stringMatching(/^models\.bad\.registers\.3\.field: /),
      expect.stringMatching(/^models\.bad\.registers\.4\.bit: /),
      expect.stringMatching(/^models\.bad\.registers\.5\.scale: /),
      expect.stringMatching(/^reconnect\.maxDelayMs: /),
      expect.stringMatching(/^targets\.1\.device: device a is polled twice/),
      expect.stringMatching(/^targets\.2: h:502:1 is polled for two devices/),
    ]));
    // the per-model checks run after each register is valid; a second parse without the bad model shows them
    const r2 = modbusSettingsSchema.safeParse({
      models: { nomap: {}, short: { kind: 'fire_water', registers: [{ field: 'pressure', address: 0 }] }, twice: { registers: [{ field: 'a', address: 0 }, { field: 'a', address: 1 }] } },
    });
    const paths2 = r2.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    expect(paths2).toEqual(expect.arrayContaining([
      expect.stringMatching(/^models\.nomap\.registers: /),
      expect.stringMatching(/^models\.short\.registers: a fire_water map must fill tankLevel/),
      expect.stringMatching(/^models\.twice\.registers\.1\.field: field a is mapped twice/),
    ]));
  });
});
