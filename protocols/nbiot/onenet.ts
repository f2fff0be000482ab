/**
 * China Mobile OneNET pushes, both generations (research notes §1, §2):
 * - legacy HTTP推送 (多协议接入 / NB-IoT 套件): `{msg: {…}|[…], msg_signature, nonce}` or
 *   `{enc_msg, msg_signature, nonce}` (安全模式, AES-256-CBC);
 * - Studio 数据推送: `{msg: "<JSON text or base64 ciphertext>", signature, nonce, time, id}`.
 * Both sign `base64(md5(token + nonce + msg))`; legacy over the `msg` JSON text exactly as sent (we
 * hash the raw substring of the body: re-serialising breaks on `42.0`), Studio over the `msg` string.
 * Pure functions: parsing, signatures, AES, and the mapping onto PlatformMessage.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { dedupeKey, sha1 } from './dedupe.js';
import { epochMs, imeiOf, isRecord, rawText, type PlatformMessage } from './messages.js';
import type { OneNetDialect, OneNetInstance } from './config.js';

/** `base64(md5(token + nonce + msg))` over UTF-8: the raw 16-byte digest, not its hex. */
export function onenetSignature(token: string, nonce: string, msg: string): string {
  return createHash('md5').update(token + nonce + msg, 'utf8').digest('base64');
}

/**
 * Whether `signature` is the token's. A `+` that reached us as a space (an unescaped `+` in a
 * query string, form-decoded) is put back first: base64 has no spaces.
 */
export function verifyOnenetSignature(token: string, nonce: string, msg: string, signature: string): boolean {
  const got = Buffer.from(signature.replace(/ /g, '+'), 'utf8');
  const want = Buffer.from(onenetSignature(token, nonce, msg), 'utf8');
  return got.length === want.length && timingSafeEqual(got, want);
}

// ---------------------------------------------------------------------------------------------
// Raw JSON text of a member: what the legacy signature covers

function skipWs(t: string, i: number): number {
  while (i < t.length && (t[i] === ' ' || t[i] === '\t' || t[i] === '\n' || t[i] === '\r')) i++;
  return i;
}

function skipString(t: string, i: number): number {
  for (i++; i < t.length; i++) {
    if (t[i] === '\\') i++;
    else if (t[i] === '"') return i + 1;
  }
  return -1;
}

function skipValue(t: string, i: number): number {
  const c = t[i];
  if (c === '"') return skipString(t, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (; i < t.length; i++) {
      const d = t[i];
      if (d === '"') { i = skipString(t, i); if (i < 0) return -1; i--; }
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') { if (--depth === 0) return i + 1; }
    }
    return -1;
  }
  while (i < t.length && !',}] \t\r\n'.includes(t[i]!)) i++;
  return i;
}

/**
 * The raw text of a top-level member of a JSON object (`42.0` stays `42.0`), or undefined. Run it on
 * text JSON.parse has accepted, which it scans without re-checking; the last of duplicate keys wins,
 * as in JSON.parse.
 */
export function rawMember(text: string, name: string): string | undefined {
  let i = skipWs(text, 0);
  if (text[i] !== '{') return undefined;
  i = skipWs(text, i + 1);
  let found: string | undefined;
  while (i < text.length && text[i] !== '}') {
    const keyEnd = skipString(text, i);
    if (text[i] !== '"' || keyEnd < 0) return undefined;
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    if (text[i] !== ':') return undefined;
    i = skipWs(text, i + 1);
    const end = skipValue(text, i);
    if (end < 0) return undefined;
    if (key === name) found = text.slice(i, end);
    i = skipWs(text, end);
    if (text[i] === ',') i = skipWs(text, i + 1);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// 安全模式

function studioKey(aesKey: string): Buffer | undefined {
  const key = Buffer.from(aesKey, 'utf8');
  return key.length === 16 ? key : undefined;
}

/** Studio: AES-128-CBC, key = IV = the 16-character key, PKCS#7; `msg` is the base64 ciphertext. */
export function studioEncrypt(aesKey: string, plaintext: string): string {
  const key = studioKey(aesKey);
  if (!key) throw new Error('the Studio key is 16 bytes');
  const c = createCipheriv('aes-128-cbc', key, key);
  return Buffer.concat([c.update(plaintext, 'utf8'), c.final()]).toString('base64');
}

export function studioDecrypt(aesKey: string, ciphertext: string): string | undefined {
  const key = studioKey(aesKey);
  if (!key || !/^[A-Za-z0-9+/=\s]+$/.test(ciphertext)) return undefined;
  try {
    const d = createDecipheriv('aes-128-cbc', key, key);
    return Buffer.concat([d.update(Buffer.from(ciphertext, 'base64')), d.final()]).toString('utf8');
  } catch {
    return undefined; // wrong key or not ciphertext: bad padding
  }
}

function legacyKey(encodingAesKey: string): Buffer | undefined {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  return key.length === 32 ? key : undefined;
}

/**
 * Legacy `enc_msg` (SDK recipe, notes §1.3): AES-256-CBC with key = base64(EncodingAESKey + "="),
 * IV = key[0..16); plaintext = 16 random bytes ‖ length (u32 big-endian) ‖ msg ‖ trailer, padded
 * PKCS#7-style to 32-byte blocks.
 */
export function legacyEncrypt(encodingAesKey: string, msg: string, trailer = ''): string {
  const key = legacyKey(encodingAesKey);
  if (!key) throw new Error('the EncodingAESKey is 43 base64 characters');
  const body = Buffer.from(msg, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const plain = Buffer.concat([randomBytes(16), len, body, Buffer.from(trailer, 'utf8')]);
  const n = 32 - (plain.length % 32);
  const c = createCipheriv('aes-256-cbc', key, key.subarray(0, 16)).setAutoPadding(false);
  return Buffer.concat([c.update(Buffer.concat([plain, Buffer.alloc(n, n)])), c.final()]).toString('base64');
}

/** Padding stripped by hand (1-32 bytes: the SDKs pad to 32-byte blocks, PKCS#7 proper to 16). */
export function legacyDecrypt(encodingAesKey: string, ciphertext: string): string | undefined {
  const key = legacyKey(encodingAesKey);
  const bytes = Buffer.from(ciphertext, 'base64');
  if (!key || bytes.length === 0 || bytes.length % 16 !== 0) return undefined;
  const d = createDecipheriv('aes-256-cbc', key, key.subarray(0, 16)).setAutoPadding(false);
  const plain = Buffer.concat([d.update(bytes), d.final()]);
  const pad = plain[plain.length - 1]!;
  if (pad < 1 || pad > 32 || pad > plain.length) return undefined;
  const unpadded = plain.subarray(0, plain.length - pad);
  if (unpadded.length < 20) return undefined;
  const len = unpadded.readUInt32BE(16);
  if (20 + len > unpadded.length) return undefined;
  return unpadded.subarray(20, 20 + len).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// URL verification (GET ?msg=&nonce=&signature=)

/** The raw (still percent-encoded) parameters of a URL's query. */
export function rawQuery(url: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = url.indexOf('?');
  if (q < 0) return out;
  for (const part of url.slice(q + 1).split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    if (!out.has(name)) out.set(name, eq < 0 ? '' : part.slice(eq + 1));
  }
  return out;
}

function decode(raw: string): string | undefined {
  try { return decodeURIComponent(raw); } catch { return undefined; }
}

/**
 * A query value as the platform meant it. An unescaped `+` is most likely a `+` (OneNET does not
 * escape its base64 signatures, notes §1.1), but form encoding makes it a space: both readings.
 */
export function queryValues(raw: string | undefined): string[] {
  if (raw === undefined) return [];
  const plain = decode(raw);
  const form = raw.includes('+') ? decode(raw.replace(/\+/g, ' ')) : undefined;
  return [plain, form].filter((v): v is string => v !== undefined);
}

export type Handshake =
  | { ok: true; msg: string }
  | { ok: false; missing: boolean };

/** The URL check: the `msg` to echo if the signature is the token's. At most 4 MD5s. */
export function verifyHandshake(token: string, query: ReadonlyMap<string, string>): Handshake {
  const msgs = queryValues(query.get('msg'));
  const nonces = queryValues(query.get('nonce'));
  const signature = queryValues(query.get('signature'))[0];
  if (msgs.length === 0 || nonces.length === 0 || signature === undefined) return { ok: false, missing: true };
  for (const msg of msgs) {
    for (const nonce of nonces) if (verifyOnenetSignature(token, nonce, msg, signature)) return { ok: true, msg };
  }
  return { ok: false, missing: false };
}

// ---------------------------------------------------------------------------------------------
// Push envelopes

export type OneNetEnvelope =
  | { dialect: 'studio'; msg: string; nonce: string; signature: string; id: string | undefined; time: number | undefined }
  /** `signed`: the text the signature covers (the raw `msg` substring, or `enc_msg`). */
  | { dialect: 'legacy'; signed: string; encrypted: boolean; nonce: string; signature: string };

/** The envelope of a push body, or why it is not one. */
export function parseEnvelope(body: string, dialect: OneNetDialect): OneNetEnvelope | { error: string } {
  const text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  let env: unknown;
  try { env = JSON.parse(text); } catch { return { error: '推送内容不是 JSON / the push body is not JSON' }; }
  if (!isRecord(env)) return { error: '推送内容不是 JSON 对象 / the push body is not a JSON object' };
  const nonce = typeof env.nonce === 'string' ? env.nonce : undefined;
  const studio = dialect === 'studio' || (dialect === 'auto' && typeof env.signature === 'string' && typeof env.msg === 'string');
  if (studio) {
    if (typeof env.msg !== 'string' || typeof env.signature !== 'string' || nonce === undefined) {
      return { error: 'OneNET Studio 推送缺少 msg/nonce/signature / a OneNET Studio push needs msg, nonce and signature' };
    }
    const id = typeof env.id === 'string' || typeof env.id === 'number' ? String(env.id) : undefined;
    return { dialect: 'studio', msg: env.msg, nonce, signature: env.signature, id, time: epochMs(env.time) };
  }
  if (typeof env.msg_signature !== 'string' || nonce === undefined) {
    return { error: 'OneNET 推送缺少 msg_signature/nonce / a OneNET legacy push needs msg_signature and nonce' };
  }
  if (typeof env.enc_msg === 'string') return { dialect: 'legacy', signed: env.enc_msg, encrypted: true, nonce, signature: env.msg_signature };
  const raw = rawMember(text, 'msg');
  if (raw === undefined || !(isRecord(env.msg) || Array.isArray(env.msg))) {
    return { error: 'OneNET 推送缺少 msg / a OneNET legacy push needs msg (an object or an array)' };
  }
  return { dialect: 'legacy', signed: raw, encrypted: false, nonce, signature: env.msg_signature };
}

// ---------------------------------------------------------------------------------------------
// Messages

/** A hex value of an opaque resource may come as `bin_data` (base64) instead: hex either way. */
function paramValue(p: Record<string, unknown>): unknown {
  if (typeof p.bin_data === 'string' && (typeof p.value !== 'string' || !/^[0-9a-fA-F]+$/.test(p.value))) {
    return Buffer.from(p.bin_data, 'base64').toString('hex');
  }
  return p.value;
}

/**
 * A Studio rule-engine message (notes §2.2): thing-model properties/events → data, lifeCycle →
 * status, the rest ignored. `keys`: the push id and the message's hash (a retry with a new id is
 * still caught).
 */
export function studioMessages(msgText: string, instance: string, envelope: { id: string | undefined; time: number | undefined }): PlatformMessage[] {
  let m: unknown;
  try { m = JSON.parse(msgText); } catch { return [{ type: 'undecodable', message: 'msg 不是 JSON / msg is not JSON', raw: rawText(msgText) }]; }
  if (!isRecord(m)) return [{ type: 'undecodable', message: 'msg 不是 JSON 对象 / msg is not a JSON object', raw: rawText(msgText) }];
  const data = isRecord(m.data) ? m.data : {};
  const imei = imeiOf(m.imei, m.deviceName);
  const alias = typeof m.deviceName === 'string' ? m.deviceName : undefined;
  if (m.messageType === 'lifeCycle') {
    if (data.status !== 'online' && data.status !== 'offline') return [{ type: 'ignored', what: 'lifeCycle' }];
    return [{ type: 'status', imei, alias, online: data.status === 'online' }];
  }
  if (m.messageType !== 'notify' || !isRecord(data.params)) return [{ type: 'ignored', what: String(m.messageType ?? 'unknown') }];
  const fields: Record<string, unknown> = {};
  let ts: number | undefined;
  for (const [key, p] of Object.entries(data.params)) {
    if (!isRecord(p)) { fields[key] = p; continue; }
    const value = paramValue(p);
    fields[key] = value;
    // an event's params (and struct properties) hold their fields in `value`
    if (isRecord(value)) for (const [k, v] of Object.entries(value)) fields[k] ??= v;
    const t = epochMs(p.time);
    if (t !== undefined && (ts === undefined || t > ts)) ts = t;
  }
  ts ??= epochMs(data.time) ?? envelope.time;
  const keys = [dedupeKey('onenet', instance, 'content', sha1(msgText))];
  if (envelope.id !== undefined) keys.push(dedupeKey('onenet', instance, 'id', envelope.id));
  return [{ type: 'data', imei, alias, report: { fields, ts }, keys, raw: rawText(msgText) }];
}

/**
 * Legacy messages (notes §1.2): type 1 data points, type 2 online/offline, others ignored. Data
 * points of one device at one `at` (a batch) are one report, so a model reading several data
 * streams gets them together; its dedupe key is the points' `(dev_id, ds_id, at, sha1(value))`.
 */
export function legacyMessages(msg: unknown, instance: string, maxBatch: number): PlatformMessage[] {
  const items = Array.isArray(msg) ? msg : [msg];
  const out: PlatformMessage[] = [];
  const reports = new Map<string, Extract<PlatformMessage, { type: 'data' }>>();
  items.forEach((item, i) => {
    if (i >= maxBatch) {
      if (i === maxBatch) out.push({ type: 'undecodable', message: `一批超过 ${maxBatch} 条，其余未处理 / a batch of more than ${maxBatch} messages: the rest were not read`, raw: rawText(items.slice(maxBatch)) });
      return;
    }
    if (!isRecord(item)) { out.push({ type: 'undecodable', message: 'msg 不是 JSON 对象 / a msg is not a JSON object', raw: rawText(item) }); return; }
    const imei = imeiOf(item.imei);
    const alias = item.dev_id === undefined ? undefined : String(item.dev_id);
    if (item.type === 2) { out.push({ type: 'status', imei, alias, online: item.status === 1 }); return; }
    if (item.type !== 1) { out.push({ type: 'ignored', what: `type ${String(item.type)}` }); return; }
    if (typeof item.ds_id !== 'string') { out.push({ type: 'undecodable', message: '数据点缺少 ds_id / a data point without ds_id', raw: rawText(item) }); return; }
    const at = epochMs(item.at);
    const key = dedupeKey('onenet', instance, alias, item.ds_id, item.at as string | number | undefined, sha1(JSON.stringify(item.value) ?? ''));
    const group = `${imei ?? alias ?? i}\u0000${at ?? ''}`;
    let report = reports.get(group);
    if (!report) {
      report = { type: 'data', imei, alias, report: { fields: {}, ts: at }, keys: [], raw: '' };
      reports.set(group, report);
      out.push(report);
    }
    const fields = report.report.fields as Record<string, unknown>;
    fields[item.ds_id] = item.value;
    if (isRecord(item.value)) for (const [k, v] of Object.entries(item.value)) fields[k] ??= v;
    report.keys.push(key);
    report.raw = report.raw ? rawText(`${report.raw},${JSON.stringify(item)}`) : rawText(item);
  });
  // one key per report, from its points' keys: a retried batch is the same batch
  for (const r of reports.values()) if (r.keys.length > 1) r.keys = [dedupeKey(...r.keys.sort())];
  return out;
}

/**
 * The messages of a push whose signature verified: decrypted (安全模式) and read per dialect. A
 * Studio instance with a key still takes a plaintext `msg` (JSON text): the signature vouches for
 * it, and the console's mode may be switched before our config is.
 */
export function onenetMessages(env: OneNetEnvelope, instance: OneNetInstance, name: string, maxBatch: number, body: string): PlatformMessage[] {
  const { aesKey } = instance;
  const failed = (what: string): PlatformMessage[] => [{
    type: 'undecodable', raw: rawText(body),
    message: aesKey ? `${what} 解密失败，请核对 aesKey / cannot decrypt ${what}: check aesKey` : `加密的推送但未配置 aesKey / an encrypted push (${what}), and no aesKey configured`,
  }];
  if (env.dialect === 'studio') {
    if (env.msg.trimStart().startsWith('{')) return studioMessages(env.msg, name, env);
    const plain = aesKey?.length === 16 ? studioDecrypt(aesKey, env.msg) : undefined;
    return plain === undefined ? failed('msg') : studioMessages(plain, name, env);
  }
  if (!env.encrypted) return legacyMessages(JSON.parse(env.signed), name, maxBatch); // parsed before as part of the body
  const plain = aesKey?.length === 43 ? legacyDecrypt(aesKey, env.signed) : undefined;
  let msg: unknown;
  try { msg = plain === undefined ? undefined : JSON.parse(plain); } catch { msg = undefined; }
  if (msg === undefined) return failed('enc_msg');
  return legacyMessages(msg, name, maxBatch);
}
