/**
 * Hostile payloads on the ingest path. Against a real gateway: nesting, width and bulk that would
 * make recursive work (JSON.stringify, the device's error message) overflow the stack or grow
 * without bound, and values at the edges of the number and date ranges. Each must end as a bounded
 * dead letter with a coded reason while the gateway stays up, acknowledges the device and keeps
 * storing its good readings, also across a restart. Unit tests pin the byte scanner, the bounded
 * copies and the line-protocol encoding of extreme floats (checked by a real InfluxDB when installed).
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { z } from 'zod';
import { connectDevice, publish, registerDevice, startTestGateway, waitFor, type TestGateway } from './harness/gateway.js';
import { startInfluxd } from '../bench/influxd.js';
import { sampleTelemetry, sampleEvent } from '../simulators/samples.js';
import { boundIssues, boundedJson, depthExceededAt, formatPath, MAX_ISSUES } from '../ingest/json-limits.js';
import { encodeTags, toLine, type Point } from '../ingest/points.js';
import { DEVICE_KINDS, KIND_CONTRACTS, KIND_SCHEMAS } from '../ingest/schemas/kinds.js';
import { loadConfig } from '../gateway/config.js';

/** The default ingest.maxDepth: these tests also pin the documented default. */
const MAX_DEPTH = 16;
const PAYLOAD_HEAD = 512;

interface Letter { topic: string; reason: string; message: string; issues: Array<{ path: string; message: string }>; index?: number; payload: string }
interface ErrorMessage { reason: string; message: string; issues: unknown[]; index?: number }

let t: TestGateway;
// large enough limits that width and bulk reach the parser instead of stopping at too_large
beforeAll(async () => { t = await startTestGateway({ ingest: { maxPayloadBytes: 4 * 1024 * 1024 }, mqtt: { maxPacketBytes: 8 * 1024 * 1024 } }); });
afterAll(async () => { await t?.dispose(); });

async function letters(deviceId: string): Promise<Letter[]> {
  return (await t.api('GET', `/api/v1/dead-letters?deviceId=${deviceId}&limit=1000`)).body.items;
}

async function rejectedTotal(reason: string): Promise<number> {
  const text = await fetch(t.httpUrl + '/metrics').then((r) => r.text());
  const m = new RegExp(`^gateway_rejected_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

async function storedCount(deviceId: string): Promise<number> {
  return (await t.api('GET', `/api/v1/devices/${deviceId}/telemetry?from=0&limit=100000`)).body.count;
}

/** A device with its errors topic subscribed. */
async function device(id: string): Promise<{ client: MqttClient; secret: string; errors: ErrorMessage[]; errorBytes: number[] }> {
  const secret = await registerDevice(t, { id, kind: 'elevator' });
  const client = await connectDevice(t, id, secret);
  const errors: ErrorMessage[] = [];
  const errorBytes: number[] = [];
  await client.subscribeAsync(`devices/${id}/errors`, { qos: 0 });
  client.on('message', (_topic, payload) => { errorBytes.push(payload.length); errors.push(JSON.parse(payload.toString())); });
  return { client, secret, errors, errorBytes };
}

const nestedArrays = (depth: number, inner = '') => '['.repeat(depth) + inner + ']'.repeat(depth);
const nestedObjects = (depth: number, inner = '1') => '{"a":'.repeat(depth) + inner + '}'.repeat(depth);
const reading = (seq: number) => JSON.stringify(sampleTelemetry('elevator', seq));
/** A valid reading whose extra field nests so the whole payload is `depth` deep. */
const readingNested = (seq: number, depth: number) => reading(seq).slice(0, -1) + ',"diag":' + nestedObjects(depth - 1) + '}';

describe('nesting depth (ingest.maxDepth)', () => {
  const shapes: Array<{ name: string; payload: string }> = [
    { name: '6,000 nested arrays', payload: nestedArrays(6000) },
    { name: '6,000 nested objects {"a":{"a":...}}', payload: nestedObjects(6000) },
    { name: 'a valid reading with a 6,000-deep diagnostics field', payload: readingNested(1, 6000) },
    { name: 'a batch of a valid reading and a 6,000-deep array', payload: `[${reading(2)},${nestedArrays(6000)}]` },
    { name: 'alternating arrays and objects 3,000 deep', payload: '[{"a":'.repeat(3000) + '1' + '}]'.repeat(3000) },
    { name: '100,000 nested arrays (200 KB)', payload: nestedArrays(100_000) },
    { name: 'one level past the limit', payload: readingNested(3, MAX_DEPTH + 1) },
    { name: 'a batch of 1,000 arrays, one nested past the limit', payload: `[${Array.from({ length: 1000 }, (_, i) => nestedArrays(i === 999 ? MAX_DEPTH : 3, '1')).join(',')}]` },
  ];

  it.each(shapes)('$name: acknowledged, ONE too_deep dead letter, the next reading is stored', async ({ payload }) => {
    const id = `deep-${Math.random().toString(36).slice(2, 10)}`;
    const { client, errors, errorBytes } = await device(id);
    const before = await rejectedTotal('too_deep');
    await publish(client, `devices/${id}/telemetry`, payload); // resolves on PUBACK
    const [letter, ...others] = await waitFor(async () => { const l = await letters(id); return l.length > 0 && l; });
    expect(others).toEqual([]);
    expect(letter).toMatchObject({ reason: 'too_deep', issues: [] });
    expect(letter!.index).toBeUndefined();
    expect(Buffer.byteLength(letter!.payload)).toBeLessThanOrEqual(PAYLOAD_HEAD);
    expect(await rejectedTotal('too_deep')).toBe(before + 1);
    const err = await waitFor(() => errors[0]);
    expect(err.reason).toBe('too_deep');
    expect(errorBytes[0]).toBeLessThan(4096);
    // the gateway is up and the same device's data flows again; nothing of the deep message was stored
    await publish(client, `devices/${id}/telemetry`, reading(10));
    expect(await waitFor(async () => (await storedCount(id)) === 1)).toBe(true);
    expect((await fetch(t.httpUrl + '/healthz')).status).toBe(200);
    await client.endAsync();
  }, 20_000);

  it('nesting up to the limit, and brackets inside strings, are not too deep', async () => {
    const id = 'deep-ok';
    const { client } = await device(id);
    const brackets = { ...sampleTelemetry('elevator', 20), note: '[[[[{{{{'.repeat(1000), quoted: '\\"[[[[\\"{{{{'.repeat(1000), esc: '\\\\' };
    await publish(client, `devices/${id}/telemetry`, JSON.stringify(brackets));
    await publish(client, `devices/${id}/telemetry`, readingNested(21, MAX_DEPTH));
    await publish(client, `devices/${id}/telemetry`, `[${readingNested(22, MAX_DEPTH - 1)}]`);
    expect(await waitFor(async () => (await storedCount(id)) === 3)).toBe(true);
    expect(await letters(id)).toEqual([]);
    await client.endAsync();
  });
});

describe('width and bulk', () => {
  it('a 100,000-key object: a bad one is a bounded schema dead letter, a good one is stored', async () => {
    const id = 'wide';
    const { client, errorBytes } = await device(id);
    const wide: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i++) wide[`k${i}`] = i;
    await publish(client, `devices/${id}/telemetry`, JSON.stringify({ ...wide, ...sampleTelemetry('elevator', 1), running: 'yes' }));
    await publish(client, `devices/${id}/telemetry`, JSON.stringify([{ ...wide, ...sampleTelemetry('elevator', 2), door: 'x'.repeat(200) }]));
    await publish(client, `devices/${id}/telemetry`, JSON.stringify({ ...wide, ...sampleTelemetry('elevator', 3) }));
    const items = await waitFor(async () => { const l = await letters(id); return l.length === 2 && l; });
    for (const l of items) {
      expect(l.reason).toBe('schema');
      expect(Buffer.byteLength(l.payload)).toBeLessThanOrEqual(PAYLOAD_HEAD);
      expect(l.message.length).toBeLessThan(4096);
      expect(l.issues.length).toBeLessThanOrEqual(20);
    }
    expect(items.map((l) => l.index)).toEqual([0, undefined]);
    expect(await waitFor(async () => (await storedCount(id)) === 1)).toBe(true);
    await waitFor(() => errorBytes.length === 2);
    for (const n of errorBytes) expect(n).toBeLessThan(4096);
    await client.endAsync();
  });

  it('a batch of 1,000 objects each with a 200-character bad field: 1,000 bounded dead letters', async () => {
    const id = 'bulk-bad';
    const { client, errorBytes } = await device(id);
    const bad = { ...sampleTelemetry('elevator', 1), mode: 'x'.repeat(200), door: 'y'.repeat(200), [`z${'z'.repeat(200)}`]: 'z'.repeat(200) };
    const before = await rejectedTotal('schema');
    await publish(client, `devices/${id}/telemetry`, JSON.stringify(Array.from({ length: 1000 }, () => bad)));
    expect(await rejectedTotal('schema')).toBe(before + 1000);
    const items = await letters(id);
    expect(items.length).toBe(1000);
    for (const l of items) {
      expect(l.reason).toBe('schema');
      expect(Buffer.byteLength(l.payload)).toBeLessThanOrEqual(PAYLOAD_HEAD);
      expect(l.message.length).toBeLessThan(4096);
      expect(l.issues.map((i) => i.path).sort()).toEqual([`[${l.index}].door`, `[${l.index}].mode`]);
    }
    await waitFor(() => errorBytes.length > 0);
    for (const n of errorBytes) expect(n).toBeLessThan(4096);
    await client.endAsync();
  });

  it('a 60,000-character foreign topic: the dead letter and the error message keep a bounded copy of it', async () => {
    const id = 'long-topic';
    const { client, errorBytes } = await device(id);
    await publish(client, `devices/${id}/${'x'.repeat(60_000)}`, reading(1));
    const [letter] = await waitFor(async () => { const l = await letters(id); return l.length > 0 && l; });
    expect(letter!.reason).toBe('topic_not_allowed');
    expect(letter!.topic.length).toBeLessThanOrEqual(257);
    expect(letter!.message.length).toBeLessThan(4096);
    await waitFor(() => errorBytes.length > 0);
    expect(errorBytes[0]).toBeLessThan(4096);
    await client.endAsync();
  });

  it('huge arrays of nested arrays: one bounded not_object dead letter per element', async () => {
    const id = 'bulk-arrays';
    const { client } = await device(id);
    const before = await rejectedTotal('not_object');
    const big = Array.from({ length: 50_000 }, (_, i) => i);
    await publish(client, `devices/${id}/telemetry`, JSON.stringify([big, [[big]], [[[[[[[[1]]]]]]]]]));
    await publish(client, `devices/${id}/telemetry`, `[${Array.from({ length: 997 }, () => nestedArrays(MAX_DEPTH - 1, '"' + 'x'.repeat(200) + '"')).join(',')}]`);
    expect(await rejectedTotal('not_object')).toBe(before + 1000);
    const items = await letters(id);
    expect(items.length).toBe(1000);
    for (const l of items) {
      expect(l.reason).toBe('not_object');
      expect(Buffer.byteLength(l.payload)).toBeLessThanOrEqual(PAYLOAD_HEAD);
    }
    await client.endAsync();
  });
});

it('restarts with too_deep dead letters on disk and stores the same device again', async () => {
  const id = 'deep-restart';
  const dev = await device(id);
  let client = dev.client;
  await publish(client, `devices/${id}/telemetry`, nestedArrays(6000));
  await client.endAsync();
  await t.stop();
  await t.restart();
  const items = await letters(id);
  expect(items.map((l) => l.reason)).toEqual(['too_deep']);
  client = await connectDevice(t, id, dev.secret);
  await publish(client, `devices/${id}/telemetry`, nestedArrays(6000));
  await publish(client, `devices/${id}/telemetry`, reading(5));
  expect(await waitFor(async () => (await storedCount(id)) === 1)).toBe(true);
  expect((await letters(id)).map((l) => l.reason)).toEqual(['too_deep', 'too_deep']);
  await client.endAsync();
}, 30_000);

it('a ts past the Date range is a schema dead letter, not a crash while explaining it', async () => {
  const id = 'ts-range';
  const { client, errors } = await device(id);
  await publish(client, `devices/${id}/telemetry`, { ...sampleTelemetry('elevator', 1), ts: 9_000_000_000_000_000 });
  const [letter] = await waitFor(async () => { const l = await letters(id); return l.length > 0 && l; });
  expect(letter).toMatchObject({ reason: 'schema', issues: [{ path: 'ts' }] });
  expect((await waitFor(() => errors[0])).reason).toBe('schema');
  await publish(client, `devices/${id}/telemetry`, reading(2));
  expect(await waitFor(async () => (await storedCount(id)) === 1)).toBe(true);
  await client.endAsync();
}, 20_000);

describe('depthExceededAt (the byte scanner)', () => {
  const at = (text: string, max: number) => depthExceededAt(Buffer.from(text, 'utf8'), max);

  it('finds the first bracket past the limit, arrays and objects alike', () => {
    expect(at('[]', 1)).toBe(-1);
    expect(at('[[]]', 1)).toBe(1);
    expect(at('{"a":{"b":1}}', 2)).toBe(-1);
    expect(at('{"a":{"b":{}}}', 2)).toBe(10);
    expect(at('[{"a":[1]},{"b":[2]}]', 3)).toBe(-1);
    expect(at('[{"a":[1]},{"b":[[2]]}]', 3)).toBe(17);
    expect(at('[' + '[]'.repeat(10_000) + ']', 2)).toBe(-1); // wide is not deep
    expect(at('1', 0)).toBe(-1);
    expect(at('', 2)).toBe(-1);
  });

  it('does not count brackets inside strings, also after escaped quotes and backslashes', () => {
    expect(at('{"a":"[[[[{{{{"}', 1)).toBe(-1);
    expect(at('{"[[[[":"}}}}]]]]"}', 1)).toBe(-1);
    expect(at(String.raw`{"a":"\"[[[[\""}`, 1)).toBe(-1);
    expect(at(String.raw`{"a":"\\"}`, 1)).toBe(-1);
    // the string ends at the quote after an escaped backslash, so these brackets are structural
    expect(at(String.raw`["\\",[[1]]]`, 2)).toBe(7);
    expect(at(String.raw`["\\\"[[[",[1]]`, 2)).toBe(-1);
    expect(at(String.raw`["\u005b\u005b[[",[1]]`, 2)).toBe(-1);
    expect(at('{"a":"火[[[🔥{{{"}', 1)).toBe(-1);
  });

  it('agrees with the depth JSON.parse builds, on random JSON', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const gen = (d: number): unknown => {
      const r = rand();
      if (d > 6 || r < 0.3) return rand() < 0.5 ? '"]}\\' + '['.repeat(Math.floor(rand() * 4)) : Math.floor(rand() * 100);
      if (r < 0.65) return Array.from({ length: Math.floor(rand() * 3) }, () => gen(d + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rand() * 3) }, (_, i) => [`k${i}{"`, gen(d + 1)]));
    };
    const depthOf = (v: unknown): number => (v && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
    for (let i = 0; i < 2000; i++) {
      const v = gen(0);
      const text = JSON.stringify(v);
      const depth = depthOf(JSON.parse(text));
      expect(at(text, depth)).toBe(-1);
      if (depth > 0) expect(at(text, depth - 1)).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('bounded copies for dead letters', () => {
  it('boundedJson stays within its budget for deep, wide and long values and never throws', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const wide: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) wide[`k${i}`] = i;
    const values: unknown[] = [deep, wide, 'x'.repeat(1e6), { ['k'.repeat(1e5)]: 1 }, [undefined, () => 1, Symbol('s'), NaN, -Infinity, 10n]];
    for (const v of values) {
      const text = boundedJson(v, 512);
      expect(text.length).toBeGreaterThan(0);
      expect(text.length).toBeLessThanOrEqual(512);
    }
    expect(boundedJson({ a: [1, 'x', null, true], b: { c: 2 } }, 512)).toBe('{"a":[1,"x",null,true],"b":{"c":2}}');
    expect(boundedJson({ a: 1 }, 0)).toBe('');
    const hostile = new Proxy({}, { ownKeys() { throw new Error('boom'); } });
    expect(boundedJson(hostile, 512)).toBe('(unprintable)');
  });

  it(`keeps at most ${MAX_ISSUES} issues per object, counts the rest, and bounds each path`, () => {
    const schema = z.object(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, z.number()])));
    const result = schema.safeParse({});
    expect(result.success).toBe(false);
    const { issues, omitted } = boundIssues(result.error!.issues, 3);
    expect(issues.length).toBe(MAX_ISSUES);
    expect(omitted).toBe(50 - MAX_ISSUES);
    expect(issues[0]!.path).toBe('[3].f0');
    expect(formatPath(undefined, [])).toBe('(root)');
    expect(formatPath(0, Array.from({ length: 10_000 }, (_, i) => (i % 2 ? i : 'k'.repeat(100)))).length).toBeLessThanOrEqual(201);
  });
});

describe('numbers at the edges', () => {
  const EDGES = [1e21, -1e21, 1e-7, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 0, -0, 123, 0.1, 1e20, 123456789012345680000, 2 ** 53 + 2];
  const point = (value: number): Point => {
    const tags = { device: 'd1' };
    return { measurement: 'm', tags, tagText: encodeTags(tags), fields: { f: value, i: 7 }, types: { f: 'float', i: 'int' }, ts: 1_700_000_000_000 };
  };
  const fieldText = (value: number) => /^m,device=d1 f=(\S+),i=7i 1700000000000000000$/.exec(toLine(point(value)))?.[1];

  it('encodes every finite float as an InfluxDB float that reads back as the same number', () => {
    // the line protocol's float syntax: optional sign, digits, optional fraction, optional exponent
    const FLOAT = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
    for (const v of EDGES) {
      const text = fieldText(v);
      expect(text, String(v)).toMatch(FLOAT);
      expect(Number(text)).toBe(v === 0 ? 0 : v);
    }
    expect(fieldText(1e21)).toBe('1e+21');
    expect(fieldText(-1e21)).toBe('-1e+21');
    expect(fieldText(123)).toBe('123.0');
    expect(fieldText(-0)).toBe('0.0');
    expect(fieldText(1e-7)).toBe('1e-7');
  });

  it.skipIf(!existsSync('/usr/bin/influxd'))('a real InfluxDB accepts every edge value as a float', async () => {
    const influxd = await startInfluxd();
    try {
      await fetch(`${influxd.url}/query?q=${encodeURIComponent('CREATE DATABASE edges')}`, { method: 'POST' });
      for (const [i, v] of EDGES.entries()) {
        const res = await fetch(`${influxd.url}/write?db=edges&precision=ns`, { method: 'POST', body: toLine({ ...point(v), ts: 1_700_000_000_000 + i }) });
        expect(res.status, `${v}: ${await res.text()}`).toBe(204);
      }
      const res = await fetch(`${influxd.url}/query?db=edges&q=${encodeURIComponent('SELECT count(f) FROM m')}`).then((r) => r.json());
      expect(res.results[0].series[0].values[0][1]).toBe(EDGES.length);
    } finally {
      await influxd.dispose();
    }
  }, 60_000);

  type Num = z.ZodType & { def: { type: string; innerType?: Num; options?: Num[] }; minValue: number | null; maxValue: number | null };
  const numbersIn = (s: Num): Num[] => {
    while (s.def.type === 'optional' || s.def.type === 'default' || s.def.type === 'nullable') s = s.def.innerType!;
    if (s.def.type === 'number') return [s];
    if (s.def.type === 'union') return s.def.options!.flatMap(numbersIn);
    return [];
  };

  it('every number of every kind has finite bounds, and 1e21, NaN and Infinity never pass', () => {
    let checked = 0;
    for (const kind of DEVICE_KINDS) {
      const { telemetry, event } = KIND_SCHEMAS[kind];
      const eventShapes = (event as unknown as { def: { options: z.ZodObject[] } }).def.options.map((o) => o.shape);
      for (const shape of [telemetry.shape, ...eventShapes]) {
        for (const [field, schema] of Object.entries(shape as Record<string, Num>)) {
          for (const n of numbersIn(schema)) {
            checked++;
            expect(Number.isFinite(n.minValue) && Number.isFinite(n.maxValue), `${kind}.${field}`).toBe(true);
            for (const bad of [1e21, -1e21, NaN, Infinity, -Infinity]) expect(n.safeParse(bad).success, `${kind}.${field} = ${bad}`).toBe(false);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
    const elevator = KIND_CONTRACTS.elevator.telemetry;
    expect(elevator.safeParse({ ...sampleTelemetry('elevator', 1), runHours: 1e21 }).success).toBe(false);
    expect(elevator.safeParse({ ...sampleTelemetry('elevator', 1), runHours: 1_000_001 }).success).toBe(false);
    expect(elevator.safeParse({ ...sampleTelemetry('elevator', 1), runHours: 87_600 }).success).toBe(true);
    expect(KIND_CONTRACTS.elevator.event.safeParse({ ...sampleEvent('elevator'), code: 1e21 }).success).toBe(false);
    expect(KIND_CONTRACTS.elevator.event.safeParse({ ...sampleEvent('elevator'), code: 23 }).success).toBe(true);
  });
});

describe('ingest.maxDepth setting', () => {
  it('defaults to 16 and refuses a limit that would reject every batch', () => {
    expect(loadConfig({}).ingest.maxDepth).toBe(MAX_DEPTH);
    expect(loadConfig({}, { ingest: { maxDepth: 3 } }).ingest.maxDepth).toBe(3);
    expect(() => loadConfig({}, { ingest: { maxDepth: 1 } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => loadConfig({}, { ingest: { maxDepth: 100_000 } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
