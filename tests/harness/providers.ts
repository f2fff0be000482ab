/**
 * Local stand-ins for the notification providers, one HTTP server (port 0) and one SMTP server, each
 * implementing the provider's documented API including its authentication, so a sender that signs
 * wrongly is refused here as it would be there:
 *
 * - WeCom group robot     POST /cgi-bin/webhook/send?key=K              key only; markdown ≤ 4096 bytes
 * - DingTalk robot (加签)  POST /robot/send?access_token=T&timestamp=&sign=
 *                          sign = urlencode(base64(HMAC-SHA256(secret, ts + "\n" + secret))), ts ±1 h
 * - Feishu bot (签名校验)  POST /open-apis/bot/v2/hook/:token, body {timestamp, sign, …}
 *                          sign = base64(HMAC-SHA256(key = ts + "\n" + secret, msg = "")), ts ±1 h
 * - Aliyun (dysmsapi SendSms, dyvmsapi SingleCallByTts)  POST / with x-acs-action: signature V3
 *                          (ACS3-HMAC-SHA256), x-acs-date ±15 min, nonce used once
 * - Tencent Cloud (sms SendSms, vms SendTtsVoice)        POST / with X-TC-Action: TC3-HMAC-SHA256,
 *                          X-TC-Timestamp ±5 min
 * - SMTP                   AUTH PLAIN/LOGIN checked; the message decoded (MIME) for the tests
 *
 * The verification here is written from the providers' documents, on purpose not by calling the
 * gateway's signing functions: a wrong recipe must not be able to pass on both sides.
 *
 * `failNext(provider, n, how)` makes the next n requests that pass authentication fail: with an HTTP
 * status (and Retry-After), with a provider code (throttling, …), or by never answering ('hang').
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export type FakeProvider = 'wecom' | 'dingtalk' | 'feishu' | 'aliyun' | 'tencent' | 'smtp';

export interface ParsedMail {
  headers: Record<string, string>;
  subject: string;
  from: string;
  to: string;
  text?: string;
  html?: string;
}

export interface ReceivedRequest {
  provider: FakeProvider;
  /** Aliyun / Tencent action (`SendSms`, `SingleCallByTts`, `SendTtsVoice`). */
  action?: string;
  /** The JSON body (robots, Tencent), the API parameters from the query (Aliyun), the decoded mail (SMTP). */
  body: unknown;
  /** The raw request body / message. */
  raw: string;
  headers: Record<string, string | string[] | undefined>;
  query: Record<string, string>;
  /** SMTP: the envelope and the authenticated user. */
  envelope?: { from: string; to: string[]; user?: string | undefined };
  at: number;
}

export interface Rejection { provider: FakeProvider; code: string | number; reason: string }

export type Failure = { status?: number; code?: string | number; message?: string; retryAfter?: string } | 'hang';

export interface ProviderCredentials {
  wecomKey: string;
  dingtalk: { accessToken: string; secret: string };
  feishu: { token: string; secret: string };
  aliyun: { accessKeyId: string; accessKeySecret: string };
  tencent: { secretId: string; secretKey: string };
  smtp: { user: string; pass: string };
}

export interface FakeProviders {
  /** `http://127.0.0.1:<port>`: each provider's endpoint / webhook host. */
  url: string;
  smtpPort: number;
  credentials: ProviderCredentials;
  /** Requests that passed authentication, in arrival order. */
  received: ReceivedRequest[];
  /** Requests refused (authentication or validation), with the provider's code. */
  rejected: Rejection[];
  failNext(provider: FakeProvider, n: number, how: Failure): void;
  close(): Promise<void>;
}

export interface ProviderOptions extends Partial<ProviderCredentials> {
  /** The providers' clock (skew checks). */
  now?: () => number;
}

const DEFAULTS: ProviderCredentials = {
  wecomKey: 'wecom-key-0123456789',
  dingtalk: { accessToken: 'dt-access-token-0123', secret: 'SECdingtalk0123456789abcdef' },
  feishu: { token: 'feishu-hook-token-0123', secret: 'feishu-secret-0123456789' },
  aliyun: { accessKeyId: 'LTAI5tTestAccessKeyId', accessKeySecret: 'aliyun-secret-0123456789' },
  tencent: { secretId: 'AKIDtestSecretId0123', secretKey: 'tencent-secret-0123456789' },
  smtp: { user: 'alerts@example.com', pass: 'smtp-pass-0123456789' },
};

// --- independent crypto helpers (from the documents, not from notifications/channels) ---------------

const hmacSha256 = (key: string | Buffer, message: string) => createHmac('sha256', key).update(Buffer.from(message, 'utf8')).digest();
const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** RFC 3986 percent-encoding byte by byte: unreserved A-Z a-z 0-9 - _ . ~ kept, the rest %XX upper-case. */
function rfc3986Bytes(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// --- MIME, enough to read what nodemailer writes ----------------------------------------------------

function decodeQuotedPrintable(text: string): Buffer {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const c = soft[i]!;
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

/** RFC 2047 encoded words (`=?UTF-8?B?…?=`, `=?UTF-8?Q?…?=`), adjacent ones joined. */
export function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, _charset: string, enc: string, data: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')).toString('utf8'));
}

function splitHead(raw: string): { headers: Record<string, string>; body: string } {
  const at = raw.indexOf('\r\n\r\n');
  const head = at < 0 ? raw : raw.slice(0, at);
  const body = at < 0 ? '' : raw.slice(at + 4);
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function readParts(raw: string, into: ParsedMail): void {
  const { headers, body } = splitHead(raw);
  const type = headers['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    const sections = body.split(`--${boundary}`);
    for (const section of sections.slice(1)) {
      if (section.startsWith('--')) break;
      readParts(section.replace(/^\r\n/, ''), into);
    }
    return;
  }
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const content = encoding === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
    : encoding === 'quoted-printable' ? decodeQuotedPrintable(body).toString('utf8') : body;
  if (/^text\/html/i.test(type)) into.html = content;
  else if (/^text\/plain/i.test(type)) into.text = content;
}

export function parseMail(raw: string): ParsedMail {
  const { headers } = splitHead(raw);
  const mail: ParsedMail = { headers, subject: decodeWords(headers.subject ?? ''), from: decodeWords(headers.from ?? ''), to: decodeWords(headers.to ?? '') };
  readParts(raw, mail);
  if (mail.text !== undefined) mail.text = mail.text.replace(/\r\n/g, '\n');
  if (mail.html !== undefined) mail.html = mail.html.replace(/\r\n/g, '\n');
  return mail;
}

// --- the servers ------------------------------------------------------------------------------------

class Refused extends Error {
  constructor(readonly status: number, readonly body: unknown, readonly code: string | number, reason: string) {
    super(reason);
  }
}

function firstHeader(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function startProviders(opts: ProviderOptions = {}): Promise<FakeProviders> {
  const creds: ProviderCredentials = {
    wecomKey: opts.wecomKey ?? DEFAULTS.wecomKey,
    dingtalk: opts.dingtalk ?? DEFAULTS.dingtalk,
    feishu: opts.feishu ?? DEFAULTS.feishu,
    aliyun: opts.aliyun ?? DEFAULTS.aliyun,
    tencent: opts.tencent ?? DEFAULTS.tencent,
    smtp: opts.smtp ?? DEFAULTS.smtp,
  };
  const now = opts.now ?? Date.now;
  const received: ReceivedRequest[] = [];
  const rejected: Rejection[] = [];
  const failures = new Map<FakeProvider, Failure[]>();
  const usedNonces = new Set<string>();
  const hanging = new Set<ServerResponse>();
  let counter = 0;
  const requestId = () => `req-${process.pid}-${++counter}`;

  const takeFailure = (provider: FakeProvider): Failure | undefined => failures.get(provider)?.shift();

  // --- per provider: authenticate, validate, answer ----------------------------------------------

  function wecom(url: URL, body: Record<string, unknown>): unknown {
    if (url.searchParams.get('key') !== creds.wecomKey) throw new Refused(200, { errcode: 93000, errmsg: 'invalid webhook url' }, 93000, 'unknown key');
    if (body.msgtype === 'markdown') {
      const content = (body.markdown as { content?: unknown } | undefined)?.content;
      if (typeof content !== 'string' || content === '') throw new Refused(200, { errcode: 44004, errmsg: 'empty content' }, 44004, 'empty markdown');
      if (Buffer.byteLength(content, 'utf8') > 4096) {
        throw new Refused(200, { errcode: 40058, errmsg: 'markdown.content exceed max length 4096' }, 40058, 'markdown over 4096 bytes');
      }
    } else if (body.msgtype !== 'text') {
      throw new Refused(200, { errcode: 40008, errmsg: 'invalid message type' }, 40008, `msgtype ${String(body.msgtype)}`);
    }
    return { errcode: 0, errmsg: 'ok' };
  }

  function dingtalk(url: URL, body: Record<string, unknown>): unknown {
    if (url.searchParams.get('access_token') !== creds.dingtalk.accessToken) {
      throw new Refused(200, { errcode: 300001, errmsg: 'token is not exist' }, 300001, 'unknown access_token');
    }
    const timestamp = url.searchParams.get('timestamp') ?? '';
    const sign = url.searchParams.get('sign') ?? '';
    if (!/^\d{13}$/.test(timestamp) || Math.abs(now() - Number(timestamp)) > 3_600_000) {
      throw new Refused(200, { errcode: 310000, errmsg: 'invalid timestamp' }, 310000, `timestamp ${timestamp} not within an hour`);
    }
    const expected = hmacSha256(creds.dingtalk.secret, `${timestamp}\n${creds.dingtalk.secret}`).toString('base64');
    if (!sameText(sign, expected)) throw new Refused(200, { errcode: 310000, errmsg: 'sign not match' }, 310000, 'sign not match');
    if (body.msgtype === 'markdown') {
      const md = body.markdown as { title?: unknown; text?: unknown } | undefined;
      if (typeof md?.title !== 'string' || md.title === '' || typeof md.text !== 'string' || md.text === '') {
        throw new Refused(200, { errcode: 40035, errmsg: 'markdown.title and markdown.text required' }, 40035, 'markdown incomplete');
      }
    } else if (body.msgtype !== 'text') {
      throw new Refused(200, { errcode: 40035, errmsg: 'invalid msgtype' }, 40035, `msgtype ${String(body.msgtype)}`);
    }
    return { errcode: 0, errmsg: 'ok' };
  }

  function feishu(token: string, body: Record<string, unknown>, raw: Buffer): unknown {
    if (token !== creds.feishu.token) {
      throw new Refused(200, { code: 19001, data: {}, msg: 'param invalid: incoming webhook access token invalid' }, 19001, 'unknown token');
    }
    if (raw.length > 20 * 1024) throw new Refused(200, { code: 19001, data: {}, msg: 'param invalid: body over 20KB' }, 19001, 'body over 20 KB');
    const timestamp = body.timestamp;
    const fail = { code: 19021, data: {}, msg: 'sign match fail or timestamp is not within one hour from current time' };
    if (typeof timestamp !== 'string' || !/^\d{10}$/.test(timestamp) || Math.abs(now() / 1000 - Number(timestamp)) > 3600) {
      throw new Refused(200, fail, 19021, `timestamp ${String(timestamp)}`);
    }
    const expected = hmacSha256(`${timestamp}\n${creds.feishu.secret}`, '').toString('base64');
    if (typeof body.sign !== 'string' || !sameText(body.sign, expected)) throw new Refused(200, fail, 19021, 'sign mismatch');
    if (body.msg_type === 'interactive') {
      const card = body.card as { elements?: unknown } | undefined;
      if (!Array.isArray(card?.elements) || card.elements.length === 0) {
        throw new Refused(200, { code: 11246, data: {}, msg: 'card elements required' }, 11246, 'card without elements');
      }
    } else if (body.msg_type !== 'text' && body.msg_type !== 'post') {
      throw new Refused(200, { code: 19002, data: {}, msg: 'params error, msg_type need' }, 19002, `msg_type ${String(body.msg_type)}`);
    }
    return { StatusCode: 0, StatusMessage: 'success', code: 0, data: {}, msg: 'success' };
  }

  const ALIYUN_ACTIONS: Readonly<Record<string, readonly string[]>> = {
    SendSms: ['PhoneNumbers', 'SignName', 'TemplateCode'],
    SingleCallByTts: ['CalledShowNumber', 'CalledNumber', 'TtsCode'],
  };

  /** Aliyun signature V3, verified from "V3版本请求体&签名机制". Returns the API parameters. */
  function aliyunVerify(req: IncomingMessage, url: URL, raw: Buffer): Record<string, string> {
    const refuse = (status: number, code: string, reason: string): never => {
      throw new Refused(status, { RequestId: requestId(), HostId: url.host, Code: code, Message: reason }, code, reason);
    };
    const auth = firstHeader(req, 'authorization') ?? '';
    const m = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return refuse(400, 'IncompleteSignature', 'The request signature does not conform to Aliyun standards.');
    const [, keyId, signedList, signature] = m as unknown as [string, string, string, string];
    if (keyId !== creds.aliyun.accessKeyId) return refuse(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
    const signedNames = signedList.split(';');
    const mustSign = Object.keys(req.headers).filter((h) => h.startsWith('x-acs-') || h === 'host' || h === 'content-type');
    for (const name of ['host', 'x-acs-action', 'x-acs-version', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256', ...mustSign]) {
      if (!signedNames.includes(name)) return refuse(400, 'IncompleteSignature', `header ${name} is not signed`);
    }
    if ([...signedNames].sort().join(';') !== signedList) return refuse(400, 'IncompleteSignature', 'SignedHeaders not sorted');
    if (firstHeader(req, 'x-acs-content-sha256') !== sha256Hex(raw)) return refuse(400, 'IncompleteSignature', 'x-acs-content-sha256 does not match the body');
    const date = firstHeader(req, 'x-acs-date') ?? '';
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(date) || Math.abs(now() - Date.parse(date)) > 15 * 60_000) {
      return refuse(400, 'InvalidTimeStamp.Expired', `x-acs-date ${date} is not within 15 minutes`);
    }
    // canonical query: every parameter decoded, then re-encoded per RFC 3986 and sorted by encoded name
    const rawQuery = url.search.startsWith('?') ? url.search.slice(1) : url.search;
    const params: Record<string, string> = {};
    const pairs: Array<[string, string]> = [];
    for (const piece of rawQuery === '' ? [] : rawQuery.split('&')) {
      const eq = piece.indexOf('=');
      const name = decodeURIComponent(eq < 0 ? piece : piece.slice(0, eq));
      const value = eq < 0 ? '' : decodeURIComponent(piece.slice(eq + 1));
      params[name] = value;
      pairs.push([rfc3986Bytes(name), rfc3986Bytes(value)]);
    }
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    const canonicalQuery = pairs.map(([k, v]) => `${k}=${v}`).join('&');
    const canonicalHeaders = signedNames.map((name) => `${name}:${(firstHeader(req, name) ?? '').trim()}\n`).join('');
    const canonicalRequest = `${req.method}\n/\n${canonicalQuery}\n${canonicalHeaders}\n${signedList}\n${sha256Hex(raw)}`;
    const expected = createHmac('sha256', creds.aliyun.accessKeySecret).update(`ACS3-HMAC-SHA256\n${sha256Hex(canonicalRequest)}`).digest('hex');
    if (!sameText(signature, expected)) return refuse(400, 'SignatureDoesNotMatch', 'Specified signature is not matched with our calculation.');
    const nonce = firstHeader(req, 'x-acs-signature-nonce') ?? '';
    if (usedNonces.has(nonce)) return refuse(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
    usedNonces.add(nonce);
    if (firstHeader(req, 'x-acs-version') !== '2017-05-25') return refuse(400, 'InvalidVersion', 'Specified parameter Version is not valid.');
    return params;
  }

  function aliyun(req: IncomingMessage, url: URL, raw: Buffer): { action: string; params: Record<string, string> } {
    const params = aliyunVerify(req, url, raw);
    const action = firstHeader(req, 'x-acs-action') ?? '';
    const required = ALIYUN_ACTIONS[action];
    if (!required) throw new Refused(404, { Code: 'InvalidAction.NotFound', Message: 'Specified api is not found' }, 'InvalidAction.NotFound', action);
    for (const name of required) {
      if (!params[name]) throw new Refused(400, { Code: 'MissingParameter', Message: `${name} is mandatory for this action.` }, 'MissingParameter', name);
    }
    const json = params.TemplateParam ?? params.TtsParam;
    if (json !== undefined) {
      try {
        const parsed: unknown = JSON.parse(json);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      } catch {
        throw new Refused(200, { Code: 'isv.INVALID_JSON_PARAM', Message: 'JSON参数不合法，只接受字符串值' }, 'isv.INVALID_JSON_PARAM', 'template params');
      }
    }
    const number = params.PhoneNumbers ?? params.CalledNumber ?? '';
    if (!/^(?:1[3-9]\d{9}|0\d{9,11}|[1-9]\d{7,14})$/.test(number)) {
      throw new Refused(200, { Code: 'isv.MOBILE_NUMBER_ILLEGAL', Message: '非法手机号' }, 'isv.MOBILE_NUMBER_ILLEGAL', 'number');
    }
    return { action, params };
  }

  const TENCENT_ACTIONS: Readonly<Record<string, { service: string; version: string }>> = {
    SendSms: { service: 'sms', version: '2021-01-11' },
    SendTtsVoice: { service: 'vms', version: '2020-09-02' },
  };

  /** TC3-HMAC-SHA256, verified from Tencent Cloud's "签名方法 v3". */
  function tencent(req: IncomingMessage, raw: Buffer, body: Record<string, unknown>): { action: string; answer: Record<string, unknown> } {
    const refuse = (code: string, message: string): never => {
      throw new Refused(200, { Response: { Error: { Code: code, Message: message }, RequestId: requestId() } }, code, message);
    };
    const action = firstHeader(req, 'x-tc-action') ?? '';
    const spec = TENCENT_ACTIONS[action];
    if (!spec) return refuse('InvalidAction', `action ${action} not found`);
    const auth = firstHeader(req, 'authorization') ?? '';
    const m = /^TC3-HMAC-SHA256 Credential=([^/]+)\/(\d{4}-\d{2}-\d{2})\/([a-z]+)\/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) return refuse('AuthFailure.InvalidAuthorization', 'Authorization header format error');
    const [, secretId, date, service, signedList, signature] = m as unknown as [string, string, string, string, string, string];
    if (secretId !== creds.tencent.secretId) return refuse('AuthFailure.SecretIdNotFound', 'The SecretId is not found');
    const timestamp = firstHeader(req, 'x-tc-timestamp') ?? '';
    if (!/^\d+$/.test(timestamp) || Math.abs(now() / 1000 - Number(timestamp)) > 300) {
      return refuse('AuthFailure.SignatureExpire', 'Signature expired, the timestamp differs from the server time by more than 5 minutes');
    }
    if (date !== new Date(Number(timestamp) * 1000).toISOString().slice(0, 10)) return refuse('AuthFailure.SignatureFailure', 'credential date is not the UTC date of X-TC-Timestamp');
    if (service !== spec.service) return refuse('AuthFailure.SignatureFailure', `credential service ${service} is not ${spec.service}`);
    const signedNames = signedList.split(';');
    if (!signedNames.includes('content-type') || !signedNames.includes('host')) return refuse('AuthFailure.SignatureFailure', 'content-type and host must be signed');
    const canonicalHeaders = signedNames.map((name) => `${name}:${(firstHeader(req, name) ?? '').trim().toLowerCase()}\n`).join('');
    const canonicalRequest = `POST\n/\n\n${canonicalHeaders}\n${signedList}\n${sha256Hex(raw)}`;
    const stringToSign = `TC3-HMAC-SHA256\n${timestamp}\n${date}/${service}/tc3_request\n${sha256Hex(canonicalRequest)}`;
    const kDate = hmacSha256(`TC3${creds.tencent.secretKey}`, date);
    const kService = hmacSha256(kDate, service);
    const kSigning = hmacSha256(kService, 'tc3_request');
    const expected = createHmac('sha256', kSigning).update(stringToSign).digest('hex');
    if (!sameText(signature, expected)) return refuse('AuthFailure.SignatureFailure', 'The provided credentials could not be validated.');
    if (firstHeader(req, 'x-tc-version') !== spec.version) return refuse('InvalidParameter', `version must be ${spec.version}`);
    if (!/^application\/json/.test(firstHeader(req, 'content-type') ?? '')) return refuse('InvalidParameter', 'content-type must be application/json');
    const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (action === 'SendSms') {
      const set = body.PhoneNumberSet;
      if (!strings(set) || (set as string[]).length === 0) return refuse('MissingParameter', 'PhoneNumberSet');
      if (!(set as string[]).every((n) => /^\+[1-9]\d{7,14}$/.test(n))) return refuse('InvalidParameterValue.IncorrectPhoneNumber', 'phone number format error');
      for (const name of ['SmsSdkAppId', 'SignName', 'TemplateId']) if (typeof body[name] !== 'string') return refuse('MissingParameter', name);
      if (body.TemplateParamSet !== undefined && !strings(body.TemplateParamSet)) return refuse('InvalidParameterValue.TemplateParameterFormatError', 'TemplateParamSet');
      return { action, answer: { SendStatusSet: (set as string[]).map((n, i) => ({ SerialNo: `serial-${counter}-${i}`, PhoneNumber: n, Fee: 1, SessionContext: '', Code: 'Ok', Message: 'send success', IsoCode: 'CN' })) } };
    }
    if (typeof body.CalledNumber !== 'string' || !/^\+86\d{10,12}$/.test(body.CalledNumber)) return refuse('InvalidParameterValue.IncorrectPhoneNumber', 'CalledNumber');
    for (const name of ['TemplateId', 'VoiceSdkAppid']) if (typeof body[name] !== 'string') return refuse('MissingParameter', name);
    if (!strings(body.TemplateParamSet)) return refuse('InvalidParameterValue', 'TemplateParamSet');
    if (body.PlayTimes !== undefined && !(Number.isInteger(body.PlayTimes) && (body.PlayTimes as number) >= 1 && (body.PlayTimes as number) <= 3)) return refuse('InvalidParameterValue', 'PlayTimes');
    return { action, answer: { SendStatus: { CallId: `call-${counter}`, SessionContext: '' } } };
  }

  // --- failure injection: what a provider says when told to fail -----------------------------------

  function failureAnswer(provider: FakeProvider, how: Exclude<Failure, 'hang'>, action: string | undefined): { status: number; body: unknown } {
    const message = how.message ?? 'injected failure';
    switch (provider) {
      case 'wecom': case 'dingtalk':
        return { status: how.status ?? 200, body: how.code !== undefined ? { errcode: how.code, errmsg: message } : { errmsg: message } };
      case 'feishu':
        return { status: how.status ?? 200, body: how.code !== undefined ? { code: how.code, data: {}, msg: message } : { msg: message } };
      case 'aliyun':
        return { status: how.status ?? 200, body: { RequestId: requestId(), Code: how.code ?? 'ServiceUnavailable', Message: message } };
      case 'tencent': {
        const code = String(how.code ?? 'InternalError');
        if (action === 'SendSms' && code.startsWith('LimitExceeded.PhoneNumber')) {
          return { status: how.status ?? 200, body: { Response: { SendStatusSet: [{ Code: code, Message: message, SerialNo: '', Fee: 0 }], RequestId: requestId() } } };
        }
        return { status: how.status ?? 200, body: { Response: { Error: { Code: code, Message: message }, RequestId: requestId() } } };
      }
      default:
        return { status: how.status ?? 500, body: { message } };
    }
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8', ...headers });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    let provider: FakeProvider;
    const feishuPath = /^\/open-apis\/bot\/v2\/hook\/([^/]+)$/.exec(url.pathname);
    if (req.method !== 'POST') return send(res, 405, 'method not allowed');
    if (url.pathname === '/cgi-bin/webhook/send') provider = 'wecom';
    else if (url.pathname === '/robot/send') provider = 'dingtalk';
    else if (feishuPath) provider = 'feishu';
    else if (url.pathname === '/' && req.headers['x-acs-action']) provider = 'aliyun';
    else if (url.pathname === '/' && req.headers['x-tc-action']) provider = 'tencent';
    else return send(res, 404, 'not found');

    let text: string;
    try {
      text = strictUtf8.decode(raw);
    } catch {
      rejected.push({ provider, code: 400, reason: 'body is not valid UTF-8' });
      return send(res, 400, 'body is not valid UTF-8');
    }
    try {
      let body: Record<string, unknown> = {};
      if (provider !== 'aliyun') {
        const parsed: unknown = JSON.parse(text);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Refused(400, 'JSON object expected', 400, 'not a JSON object');
        body = parsed as Record<string, unknown>;
        if (text.includes('\uFFFD')) throw new Refused(400, 'replacement character in body', 400, 'a character was broken before sending');
      }
      let answer: unknown;
      let action: string | undefined;
      let recordedBody: unknown = body;
      switch (provider) {
        case 'wecom': answer = wecom(url, body); break;
        case 'dingtalk': answer = dingtalk(url, body); break;
        case 'feishu': answer = feishu(feishuPath![1]!, body, raw); break;
        case 'aliyun': {
          const ok = aliyun(req, url, raw);
          action = ok.action;
          recordedBody = ok.params;
          answer = ok.action === 'SendSms'
            ? { RequestId: requestId(), Code: 'OK', Message: 'OK', BizId: `biz-${counter}` }
            : { RequestId: requestId(), Code: 'OK', Message: 'OK', CallId: `call-${counter}` };
          break;
        }
        case 'tencent': {
          const ok = tencent(req, raw, body);
          action = ok.action;
          answer = { Response: { ...ok.answer, RequestId: requestId() } };
          break;
        }
        default: return send(res, 404, 'not found');
      }
      const failure = takeFailure(provider);
      if (failure === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      if (failure) {
        const out = failureAnswer(provider, failure, action);
        return send(res, out.status, out.body, failure.retryAfter !== undefined ? { 'retry-after': failure.retryAfter } : {});
      }
      received.push({
        provider, action, body: recordedBody, raw: text, headers: { ...req.headers },
        query: Object.fromEntries(url.searchParams), at: now(),
      });
      return send(res, 200, answer);
    } catch (err) {
      if (err instanceof Refused) {
        rejected.push({ provider, code: err.code, reason: err.message });
        return send(res, err.status, err.body);
      }
      rejected.push({ provider, code: 400, reason: String(err) });
      return send(res, 400, 'bad request');
    }
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, String(err));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;

  // --- SMTP -------------------------------------------------------------------------------------

  const pendingSmtp = new Set<() => void>();
  const smtp = new SMTPServer({
    logger: false,
    banner: 'fake provider',
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    // a plain local socket: the test client is told not to require TLS
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    closeTimeout: 100,
    onAuth(auth, _session, callback) {
      if (auth.username === creds.smtp.user && auth.password === creds.smtp.pass) return callback(null, { user: auth.username });
      rejected.push({ provider: 'smtp', code: 535, reason: 'authentication failed' });
      const err = Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 });
      return callback(err);
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const failure = takeFailure('smtp');
        if (failure === 'hang') {
          pendingSmtp.add(() => callback(null));
          return;
        }
        if (failure) {
          const code = typeof failure.code === 'number' ? failure.code : 451;
          return callback(Object.assign(new Error(failure.message ?? 'injected failure'), { responseCode: code }));
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const mail = parseMail(raw);
        received.push({
          provider: 'smtp', body: mail, raw, headers: mail.headers, query: {},
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            user: typeof session.user === 'string' ? session.user : undefined,
          },
          at: now(),
        });
        callback(null);
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const smtpPort = (smtp.server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    smtpPort,
    credentials: creds,
    received,
    rejected,
    failNext(provider, n, how) {
      const list = failures.get(provider) ?? [];
      for (let i = 0; i < n; i++) list.push(how);
      failures.set(provider, list);
    },
    async close() {
      for (const res of hanging) res.destroy();
      hanging.clear();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      for (const release of pendingSmtp) release();
      pendingSmtp.clear();
      await new Promise<void>((resolve) => smtp.close(() => resolve()));
    },
  };
}
