/**
 * A fast path for the kinds' zod schemas (kinds.ts), compiled once from the schemas themselves at
 * module load, so they stay the single source of truth.
 *
 * Why: zod's `safeParse` builds a context, a payload and an issue list per field of every message;
 * on the ingest hot path that was the largest cost of validation (docs/performance.md). The
 * compiled check walks a plain array of field checks and builds only the output object.
 *
 * The contract: `check(value)` returns exactly what `schema.safeParse(value).data` would (the same
 * keys in the same order, the same values) when it can prove the value valid, and `undefined`
 * otherwise: for an invalid value, or one it does not handle (an ISO date string `ts`), the caller
 * asks zod, which decides and explains. So the accepted set, the output and every rejection's issue
 * paths and messages are zod's. The compiler handles only what the kinds use (objects that strip
 * unknown keys, optional, number with bounds and `.int()`, boolean, enum, literal, string with
 * length bounds, unions); a schema with anything else gets no fast path at all.
 * bench/validator-equivalence.ts compares the two on random and mutated payloads.
 */
import type { z } from 'zod';

/** The validated output, or undefined: not proven valid here (ask zod). */
export type FastCheck = (value: unknown) => Record<string, unknown> | undefined;

/** A field's check: the value to store, or NO. */
type Check = (value: unknown) => unknown;
const NO = Symbol('no');

interface Def { type: string; checks?: Array<{ _zod: { def: CheckDef } }>; [k: string]: unknown }
interface CheckDef { check: string; value?: number; inclusive?: boolean; format?: string; minimum?: number; maximum?: number }

const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

/** Thrown at compile time for a construct the fast path does not cover: that schema keeps zod only. */
class Unsupported extends Error {}

function compileNumber(def: Def): Check {
  let int = false, min = -Infinity, minIncl = true, max = Infinity, maxIncl = true;
  for (const c of def.checks ?? []) {
    const d = c._zod.def;
    if (d.check === 'number_format' && d.format === 'safeint') int = true;
    else if (d.check === 'greater_than' && typeof d.value === 'number') {
      if (d.value > min || (d.value === min && !d.inclusive)) { min = d.value; minIncl = d.inclusive === true; }
    } else if (d.check === 'less_than' && typeof d.value === 'number') {
      if (d.value < max || (d.value === max && !d.inclusive)) { max = d.value; maxIncl = d.inclusive === true; }
    } else throw new Unsupported(`number check ${d.check}`);
  }
  return (v) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return NO;
    if (int && !Number.isSafeInteger(v)) return NO;
    if (minIncl ? v < min : v <= min) return NO;
    if (maxIncl ? v > max : v >= max) return NO;
    return v;
  };
}

function compileString(def: Def): Check {
  let min = 0, max = Infinity;
  for (const c of def.checks ?? []) {
    const d = c._zod.def;
    if (d.check === 'min_length' && typeof d.minimum === 'number') min = Math.max(min, d.minimum);
    else if (d.check === 'max_length' && typeof d.maximum === 'number') max = Math.min(max, d.maximum);
    else throw new Unsupported(`string check ${d.check}`);
  }
  // z.iso.datetime() and other formats are strings with a format: not covered
  if (def.format !== undefined || def.coerce) throw new Unsupported('string format');
  return (v) => (typeof v === 'string' && v.length >= min && v.length <= max ? v : NO);
}

function compile(schema: unknown): { check: Check; optional: boolean } {
  const def = defOf(schema);
  if (def.checks && def.checks.length > 0 && def.type !== 'number' && def.type !== 'string') throw new Unsupported(`checks on ${def.type}`);
  switch (def.type) {
    case 'optional': return { check: compile(def.innerType).check, optional: true };
    case 'number':
      if (def.coerce) throw new Unsupported('coerce');
      return { check: compileNumber(def), optional: false };
    case 'string': return { check: compileString(def), optional: false };
    case 'boolean':
      if (def.coerce) throw new Unsupported('coerce');
      return { check: (v) => (typeof v === 'boolean' ? v : NO), optional: false };
    case 'enum': {
      const values = new Set(Object.values(def.entries as Record<string, unknown>));
      return { check: (v) => (values.has(v) ? v : NO), optional: false };
    }
    case 'literal': {
      const values = new Set(def.values as unknown[]);
      return { check: (v) => (values.has(v) ? v : NO), optional: false };
    }
    case 'union': return { check: compileUnion(def), optional: false };
    case 'object': return { check: compileObject(def), optional: false };
    default: throw new Unsupported(def.type);
  }
}

/**
 * zod returns the first option that passes. An option not covered here (an ISO date string) stops
 * the search: an option after it may pass here, but zod could have taken the earlier one.
 * (A discriminated union is a union whose options differ in a literal: at most one can pass.)
 */
function compileUnion(def: Def): Check {
  const options = (def.options as unknown[]).map((o) => {
    try { return compile(o).check; } catch (err) { if (err instanceof Unsupported) return undefined; throw err; }
  });
  if (options.every((o) => o === undefined)) throw new Unsupported('union of unsupported options');
  return (v) => {
    for (let i = 0; i < options.length; i++) {
      const check = options[i];
      if (check === undefined) return NO;
      const out = check(v);
      if (out !== NO) return out;
    }
    return NO;
  };
}

/** An object that strips unknown keys: the output has the shape's keys in the shape's order, those present only. */
function compileObject(def: Def): Check {
  if (def.catchall !== undefined) throw new Unsupported('object with catchall (strict / passthrough)');
  const shape = def.shape as Record<string, unknown>;
  const keys = Object.keys(shape);
  const fields = keys.map((k) => compile(shape[k]));
  const checks = fields.map((f) => f.check);
  const optional = fields.map((f) => f.optional);
  return (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return NO;
    const input = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const value = input[key];
      if (value === undefined) {
        if (!optional[i]) return NO;
        // zod keeps a key that is present with the value undefined (JSON never makes one)
        if (key in input) out[key] = undefined;
        continue;
      }
      const r = checks[i]!(value);
      if (r === NO) return NO;
      out[key] = r;
    }
    return out;
  };
}

/** The fast path of a schema, or a check that always defers to zod when the schema is not covered. */
export function compileSchema(schema: z.ZodType): FastCheck {
  let check: Check;
  try {
    check = compile(schema).check;
  } catch (err) {
    if (err instanceof Unsupported) return () => undefined;
    throw err;
  }
  return (value) => {
    const out = check(value);
    return out === NO ? undefined : out as Record<string, unknown>;
  };
}
