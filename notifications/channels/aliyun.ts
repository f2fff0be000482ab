/**
 * Aliyun SMS (dysmsapi `SendSms`) and voice notification (dyvmsapi `SingleCallByTts`), both API
 * version 2017-05-25, RPC style, signed with Aliyun's signature V3 (`ACS3-HMAC-SHA256`): Aliyun marks
 * the older RPC signature (HMAC-SHA1, `SignatureVersion=1.0`) "discontinued / not recommended" and
 * every API that takes it also takes V3 ("V3版本请求体&签名机制", help.aliyun.com/document_detail/2593177).
 *
 * V3, as documented:
 *   CanonicalRequest = METHOD \n CanonicalURI ("/" for RPC) \n CanonicalQueryString \n
 *                      CanonicalHeaders \n SignedHeaders \n HexEncode(SHA256(body))
 *   - query: parameters sorted by name, name and value percent-encoded per RFC 3986 (space %20, `*`
 *     %2A, `~` kept), joined with `=` and `&`;
 *   - headers: `host`, `content-type` and every `x-acs-*`, lower-cased, sorted, values trimmed,
 *     each `name:value\n`; SignedHeaders their names joined with `;`;
 *   StringToSign = "ACS3-HMAC-SHA256\n" + HexEncode(SHA256(CanonicalRequest))
 *   Signature    = HexEncode(HMAC-SHA256(AccessKeySecret, StringToSign))
 *   Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<…>,Signature=<…>
 * `x-acs-date` (UTC, yyyy-MM-ddTHH:mm:ssZ) must be within 15 minutes of Aliyun's clock and
 * `x-acs-signature-nonce` unique per request. The API parameters travel in the query (they are
 * `in: query` in the API metadata); the body is empty.
 *
 * Answers: `{Code: "OK", BizId | CallId, RequestId}`. Throttling (`isv.BUSINESS_LIMIT_CONTROL`, the
 * gateway's `Throttling*`), `isp.SYSTEM_ERROR`, `ServiceUnavailable` and a reused nonce are worth
 * retrying; `InvalidAccessKeyId.NotFound`, `SignatureDoesNotMatch`, template and parameter errors
 * are not.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { ChannelSender, Notice, Recipient, SendOutcome } from '../model.js';
import type { ChannelsSettings } from './config.js';
import { asRecord, failed, httpFailure, isFailed, post, retryAfterOf, type HttpAnswer, type HttpDeps, Redactor } from './http.js';
import { maskPhone } from './mask.js';
import { parsePhone } from './phone.js';

export const ALIYUN_API_VERSION = '2017-05-25';
const ALGORITHM = 'ACS3-HMAC-SHA256';

/** RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - _ . ~ (encodeURIComponent leaves ! ' ( ) * too). */
export function rfc3986(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `yyyy-MM-ddTHH:mm:ssZ` in UTC. */
export function acsDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface Acs3Input {
  method: string;
  /** The host as the Host header carries it (with the port when not the default). */
  host: string;
  action: string;
  version: string;
  query: Readonly<Record<string, string>>;
  body: string;
  date: string;
  nonce: string;
  accessKeyId: string;
  accessKeySecret: string;
  contentType?: string | undefined;
}

export interface Acs3Signed {
  /** The canonical query string, also what goes after `?` in the URL. */
  query: string;
  /** Every header to send (host excluded: fetch sets it from the URL), Authorization included. */
  headers: Record<string, string>;
  authorization: string;
}

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');

/** Aliyun signature V3 of one request (see the file comment for the recipe). */
export function aliyunAcs3Sign(input: Acs3Input): Acs3Signed {
  const query = Object.keys(input.query).sort()
    .map((name) => `${rfc3986(name)}=${rfc3986(input.query[name]!)}`).join('&');
  const payloadHash = sha256Hex(input.body);
  const signed: Record<string, string> = {
    host: input.host,
    'x-acs-action': input.action,
    'x-acs-content-sha256': payloadHash,
    'x-acs-date': input.date,
    'x-acs-signature-nonce': input.nonce,
    'x-acs-version': input.version,
  };
  if (input.contentType !== undefined) signed['content-type'] = input.contentType;
  const names = Object.keys(signed).sort();
  const canonicalHeaders = names.map((name) => `${name}:${signed[name]!.trim()}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [input.method.toUpperCase(), '/', query, canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const stringToSign = `${ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
  const signature = createHmac('sha256', input.accessKeySecret).update(stringToSign, 'utf8').digest('hex');
  const authorization = `${ALGORITHM} Credential=${input.accessKeyId},SignedHeaders=${signedHeaders},Signature=${signature}`;
  const { host: _host, ...headers } = signed;
  return { query, headers: { ...headers, authorization }, authorization };
}

const RETRY_CODES = new Set(['isv.BUSINESS_LIMIT_CONTROL', 'isp.SYSTEM_ERROR', 'ServiceUnavailable', 'InternalError', 'SignatureNonceUsed']);

function aliyunOutcome(answer: HttpAnswer, who: string, idField: 'BizId' | 'CallId', redact: Redactor, now: number): SendOutcome {
  const body = asRecord(answer.json);
  const code = typeof body?.Code === 'string' ? body.Code : undefined;
  if (code === 'OK' && answer.status < 300) {
    const id = body?.[idField];
    return { ok: true, providerId: typeof id === 'string' ? id : undefined };
  }
  const message = redact.clean(typeof body?.Message === 'string' ? body.Message : '');
  if (answer.status >= 500 || answer.status === 429 || answer.status === 408) return httpFailure(answer, now, who, code && `${code} ${message}`);
  if (code === undefined) {
    if (answer.status < 300) return failed(true, `${who}：应答无法识别 / ${who}: unrecognised answer (HTTP ${answer.status})`);
    return httpFailure(answer, now, who);
  }
  if (RETRY_CODES.has(code) || code.startsWith('Throttling')) {
    return failed(true, `${who}：限流或繁忙 ${code} ${message} / ${who}: throttled or busy: ${code} ${message}`, retryAfterOf(answer, now));
  }
  return failed(false, `${who}：拒绝 ${code} ${message} / ${who}: refused: ${code} ${message}`);
}

interface AliyunCall {
  endpoint: string;
  action: string;
  params: Record<string, string>;
  accessKeyId: string;
  accessKeySecret: string;
}

async function callAliyun(deps: HttpDeps, call: AliyunCall, redact: Redactor, who: string): Promise<HttpAnswer | ReturnType<typeof failed>> {
  const base = new URL(call.endpoint);
  const signed = aliyunAcs3Sign({
    method: 'POST', host: base.host, action: call.action, version: ALIYUN_API_VERSION, query: call.params, body: '',
    date: acsDate(deps.now()), nonce: randomBytes(16).toString('hex'), accessKeyId: call.accessKeyId, accessKeySecret: call.accessKeySecret,
  });
  return post(deps, `${base.origin}/?${signed.query}`, signed.headers, '', redact, who);
}

/** The public endpoint of a product in a region: mainland regions share the central one. */
export function aliyunEndpoint(product: 'dysmsapi' | 'dyvmsapi', regionId: string): string {
  return regionId.startsWith('cn-') ? `https://${product}.aliyuncs.com` : `https://${product}.${regionId}.aliyuncs.com`;
}

type AliyunSms = NonNullable<NonNullable<ChannelsSettings['sms']>['aliyun']>;
type AliyunVoice = NonNullable<NonNullable<ChannelsSettings['voice']>['aliyun']>;

export class AliyunSmsSender implements ChannelSender {
  readonly channel = 'sms' as const;
  private readonly endpoint: string;
  private readonly redact: Redactor;

  constructor(private readonly settings: AliyunSms, endpoint: string | undefined, private readonly deps: HttpDeps) {
    this.endpoint = endpoint ?? aliyunEndpoint('dysmsapi', settings.regionId);
    this.redact = new Redactor([settings.accessKeySecret]);
  }

  async send(to: Recipient, notice: Notice): Promise<SendOutcome> {
    const who = '阿里云短信 Aliyun SMS';
    const phone = parsePhone(to.address, { landline: false });
    if (!phone) return failed(false, `${who}：不是手机号 ${maskPhone(to.address)} / ${who}: not a mobile number: ${maskPhone(to.address)}`);
    try {
      const answer = await callAliyun(this.deps, {
        endpoint: this.endpoint, action: 'SendSms', accessKeyId: this.settings.accessKeyId, accessKeySecret: this.settings.accessKeySecret,
        params: { PhoneNumbers: phone.aliyun, SignName: this.settings.signName, TemplateCode: this.settings.templateCode, TemplateParam: JSON.stringify(notice.params) },
      }, this.redact, who);
      if (isFailed(answer)) return answer;
      return aliyunOutcome(answer, who, 'BizId', this.redact, this.deps.now());
    } catch (err) {
      return failed(false, `${who}：内部错误 / ${who}: internal error: ${this.redact.clean(String(err))}`);
    }
  }
}

export class AliyunVoiceSender implements ChannelSender {
  readonly channel = 'voice' as const;
  private readonly endpoint: string;
  private readonly redact: Redactor;

  constructor(private readonly settings: AliyunVoice, endpoint: string | undefined, private readonly deps: HttpDeps) {
    this.endpoint = endpoint ?? aliyunEndpoint('dyvmsapi', settings.regionId);
    this.redact = new Redactor([settings.accessKeySecret]);
  }

  async send(to: Recipient, notice: Notice): Promise<SendOutcome> {
    const who = '阿里云语音 Aliyun voice';
    const phone = parsePhone(to.address, { landline: true });
    if (!phone?.mainland) return failed(false, `${who}：只能呼叫中国大陆号码 ${maskPhone(to.address)} / ${who}: calls mainland China numbers only: ${maskPhone(to.address)}`);
    try {
      const answer = await callAliyun(this.deps, {
        endpoint: this.endpoint, action: 'SingleCallByTts', accessKeyId: this.settings.accessKeyId, accessKeySecret: this.settings.accessKeySecret,
        params: {
          CalledShowNumber: this.settings.calledShowNumber, CalledNumber: phone.aliyun, TtsCode: this.settings.ttsCode,
          TtsParam: JSON.stringify(notice.params), PlayTimes: String(this.settings.playTimes),
        },
      }, this.redact, who);
      if (isFailed(answer)) return answer;
      return aliyunOutcome(answer, who, 'CallId', this.redact, this.deps.now());
    } catch (err) {
      return failed(false, `${who}：内部错误 / ${who}: internal error: ${this.redact.clean(String(err))}`);
    }
  }
}
