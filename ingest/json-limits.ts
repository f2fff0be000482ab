/**
 * Limits that keep hostile payloads away from recursive work. JSON.parse is iterative in V8, but
 * much of what follows a parse is not: JSON.stringify, Array.prototype.toString and any walk of the
 * value recurse on the native stack, and a 12 KB payload of nested brackets is enough to overflow
 * it. So the depth is checked on the raw bytes, before anything builds or walks a value, and
 * everything a dead letter or an error message keeps of a device's value is cut to a fixed size.
 */

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \
const OPEN_ARRAY = 0x5b; // [
const CLOSE_ARRAY = 0x5d; // ]
const OPEN_OBJECT = 0x7b; // {
const CLOSE_OBJECT = 0x7d; // }

/**
 * Byte offset of the first `[` or `{` that opens a level deeper than `maxDepth`, or -1.
 *
 * One pass, no allocation: it runs on every message of the hot path. Brackets inside strings are
 * text, so strings are skipped, and a backslash skips the byte after it so an escaped quote does
 * not end one. UTF-8 continuation and lead bytes are all ≥ 0x80, so a multi-byte character can
 * never be mistaken for one of these ASCII bytes, and what this counts is exactly what JSON.parse
 * of the decoded text would nest. Invalid JSON may count oddly; it fails to parse anyway.
 */
export function depthExceededAt(payload: Uint8Array, maxDepth: number): number {
  let depth = 0;
  const n = payload.length;
  for (let i = 0; i < n; i++) {
    const c = payload[i]!;
    if (c === QUOTE) {
      for (i++; i < n; i++) {
        const s = payload[i]!;
        if (s === QUOTE) break;
        if (s === BACKSLASH) i++;
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) return i;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return -1;
}

/** Levels a dead letter's copy of a batch object shows before it writes `…` (maxDepth already bounds what arrives). */
const PREVIEW_DEPTH = 8;

/**
 * JSON text of `value`, cut to about `maxChars`: a bounded stand-in for JSON.stringify when a dead
 * letter keeps a copy of one object of a batch. It stops as soon as the budget is spent, so a
 * 100,000-key object costs as much as a small one; it never recurses deeper than PREVIEW_DEPTH;
 * and it cannot throw (getters and proxies cannot come out of JSON.parse, but the last resort
 * catches anything anyway).
 */
export function boundedJson(value: unknown, maxChars: number): string {
  if (maxChars <= 0) return '';
  const out = { text: '' };
  try {
    write(value, maxChars, 0, out);
  } catch {
    return '(unprintable)'.slice(0, maxChars);
  }
  return out.text.length > maxChars ? out.text.slice(0, maxChars) : out.text;
}

function write(value: unknown, max: number, depth: number, out: { text: string }): void {
  if (out.text.length >= max) return;
  switch (typeof value) {
    case 'string':
      out.text += JSON.stringify(value.length > max ? value.slice(0, max) : value);
      return;
    case 'number':
      out.text += Number.isFinite(value) ? String(value) : 'null';
      return;
    case 'boolean':
      out.text += value ? 'true' : 'false';
      return;
    case 'object':
      break;
    default:
      out.text += 'null';
      return;
  }
  if (value === null) { out.text += 'null'; return; }
  if (depth >= PREVIEW_DEPTH) { out.text += Array.isArray(value) ? '[…]' : '{…}'; return; }
  if (Array.isArray(value)) {
    out.text += '[';
    for (let i = 0; i < value.length; i++) {
      if (out.text.length >= max) return;
      if (i > 0) out.text += ',';
      write(value[i], max, depth + 1, out);
    }
    out.text += ']';
    return;
  }
  out.text += '{';
  let first = true;
  for (const key in value as Record<string, unknown>) {
    if (out.text.length >= max) return;
    if (!first) out.text += ',';
    first = false;
    out.text += JSON.stringify(key.length > max ? key.slice(0, max) : key) + ':';
    write((value as Record<string, unknown>)[key], max, depth + 1, out);
  }
  out.text += '}';
}

/** `s` cut to `max` characters, marked when cut. */
export function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) + '…' : s;
}

/** Issues recorded per rejected object; past it the message says how many more there were. */
export const MAX_ISSUES = 20;
const MAX_PATH_CHARS = 200;
const MAX_ISSUE_MESSAGE_CHARS = 300;

/**
 * A field path as devices read it (`[3].floor`, `ts`), with the batch index first. Bounded: a
 * path only ever comes from the kind's flat schemas today, but it is device-facing text built
 * from validation output, so it is cut rather than trusted.
 */
export function formatPath(index: number | undefined, path: ReadonlyArray<PropertyKey>): string {
  let out = index === undefined ? '' : `[${index}]`;
  for (let i = 0; i < path.length; i++) {
    if (out.length > MAX_PATH_CHARS) return out.slice(0, MAX_PATH_CHARS) + '…';
    const p = path[i]!;
    out += typeof p === 'number' ? `[${p}]` : (out ? '.' : '') + String(p);
  }
  return out.length > MAX_PATH_CHARS ? out.slice(0, MAX_PATH_CHARS) + '…' : out || '(root)';
}

/**
 * The first MAX_ISSUES validation issues as dead-letter issues, each bounded, and how many were
 * left out; the rest of a 1,000-object batch's errors then cost as much as one object's.
 */
export function boundIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, index: number | undefined):
  { issues: Array<{ path: string; message: string }>; omitted: number } {
  const n = issues.length < MAX_ISSUES ? issues.length : MAX_ISSUES;
  const out = new Array<{ path: string; message: string }>(n);
  for (let i = 0; i < n; i++) {
    const issue = issues[i]!;
    out[i] = { path: formatPath(index, issue.path), message: clip(String(issue.message), MAX_ISSUE_MESSAGE_CHARS) };
  }
  return { issues: out, omitted: issues.length - n };
}
