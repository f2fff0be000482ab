/**
 * Tencent Cloud SMS (`sms.tencentcloudapi.com`, `SendSms`, version 2021-01-11) and voice messages
 * (`vms.tencentcloudapi.com`, `SendTtsVoice`, version 2020-09-02), both API 3.0 signed with
 * `TC3-HMAC-SHA256` (Tencent Cloud "签名方法 v3", as tencentcloud-sdk-nodejs src/common/sign.ts does):
 *   CanonicalRequest = "POST\n/\n\n" + CanonicalHeaders + "\n" + SignedHeaders + "\n" + hex(SHA256(payload))
 *     CanonicalHeaders: `name:value\n` for each signed header, names lower-cased and sorted (content-type
 *     and host at least; we also sign x-tc-action as the current documentation recommends)
 *   StringToSign = "TC3-HMAC-SHA256\n" + timestamp + "\n" + date/service/tc3_request + "\n" + hex(SHA256(CanonicalRequest))
 *     date: the UTC date of the timestamp; service: `sms` or `vms`
 *   SecretDate = HMAC("TC3" + SecretKey, date); SecretService = HMAC(SecretDate, service);
 *   SecretSigning = HMAC(SecretService, "tc3_request"); Signature = hex(HMAC(SecretSigning, StringToSign))
 *   Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/<service>/tc3_request, SignedHeaders=<…>, Signature=<…>
 * with X-TC-Action, X-TC-Version, X-TC-Timestamp (seconds, within 5 minutes of Tencent's clock) and
 * X-TC-Region headers.
 *
 * Answers are HTTP 200: `{Response: {…, RequestId}}`, or `{Response: {Error: {Code, Message}}}`.
 * `RequestLimitExceeded*`, `LimitExceeded.*` (also as an SMS number's status code) and
 * `InternalError*` are worth retrying; `AuthFailure.*`, `InvalidParameter*`, `FailedOperation.*`
 * (template, signature, balance) are not.
 */
import { createHash, createHmac } from 'node:crypto';
import type { ChannelSender, Notice, Recipient, SendOutcome } from '../model.js';
import type { ChannelsSettings } from './config.js';
import { asRecord, failed, httpFailure, isFailed, post, type HttpAnswer, type HttpDeps, Redactor } from './http.js';
import { maskPhone } from './mask.js';
import { parsePhone } from './phone.js';

const ALGORITHM = 'TC3-HMAC-SHA256';
const CONTENT_TYPE = 'application/json; charset=utf-8';

export interface Tc3Input {
  secretId: string;
  secretKey: string;
  /** `sms`, `vms`, `cvm`: the product, as in its domain name. */
  service: string;
  /** The signed headers, names lower-case: content-type and host at least. */
  headers: Readonly<Record<string, string>>;
  payload: string;
  timestampSec: number;
}

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** UTC `yyyy-mm-dd` of a timestamp in seconds. */
export function tc3Date(timestampSec: number): string {
  return new Date(timestampSec * 1000).toISOString().slice(0, 10);
}

/** The Authorization header of a TC3-HMAC-SHA256 signed POST to `/` (see the file comment). */
export function tencentTc3Sign(input: Tc3Input): string {
  const names = Object.keys(input.headers).map((n) => n.toLowerCase()).sort();
  const lower: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers)) lower[name.toLowerCase()] = value;
  const canonicalHeaders = names.map((name) => `${name}:${lower[name]!.trim().toLowerCase()}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = ['POST', '/', '', canonicalHeaders, signedHeaders, sha256Hex(input.payload)].join('\n');
  const date = tc3Date(input.timestampSec);
  const scope = `${date}/${input.service}/tc3_request`;
  const stringToSign = [ALGORITHM, String(input.timestampSec), scope, sha256Hex(canonicalRequest)].join('\n');
  const signing = hmac(hmac(hmac(`TC3${input.secretKey}`, date), input.service), 'tc3_request');
  const signature = createHmac('sha256', signing).update(stringToSign, 'utf8').digest('hex');
  return `${ALGORITHM} Credential=${input.secretId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
}

interface TencentCall {
  endpoint: string;
  service: 'sms' | 'vms';
  action: string;
  version: string;
  region: string;
  secretId: string;
  secretKey: string;
  body: Record<string, unknown>;
}

async function callTencent(deps: HttpDeps, call: TencentCall, redact: Redactor, who: string): Promise<HttpAnswer | ReturnType<typeof failed>> {
  const url = new URL(call.endpoint);
  const payload = JSON.stringify(call.body);
  const timestampSec = Math.floor(deps.now() / 1000);
  const authorization = tencentTc3Sign({
    secretId: call.secretId, secretKey: call.secretKey, service: call.service, payload, timestampSec,
    headers: { 'content-type': CONTENT_TYPE, host: url.host, 'x-tc-action': call.action },
  });
  return post(deps, `${url.origin}/`, {
    authorization, 'content-type': CONTENT_TYPE, 'x-tc-action': call.action, 'x-tc-version': call.version,
    'x-tc-timestamp': String(timestampSec), 'x-tc-region': call.region,
  }, payload, redact, who);
}

function retryable(code: string): boolean {
  return code.startsWith('RequestLimitExceeded') || code.startsWith('LimitExceeded') || code.startsWith('InternalError');
}

function codeOutcome(code: string, message: string, who: string): SendOutcome {
  if (retryable(code)) return failed(true, `${who}：限流或繁忙 ${code} ${message} / ${who}: throttled or busy: ${code} ${message}`);
  return failed(false, `${who}：拒绝 ${code} ${message} / ${who}: refused: ${code} ${message}`);
}

/** The `Response` object of a 200 answer, or the outcome that ends the attempt (HTTP failure, `Response.Error`). */
function tencentResponse(answer: HttpAnswer, who: string, redact: Redactor, now: number): { response: Record<string, unknown> } | { outcome: SendOutcome } {
  if (answer.status < 200 || answer.status >= 300) return { outcome: httpFailure(answer, now, who) };
  const response = asRecord(asRecord(answer.json)?.Response);
  if (!response) return { outcome: failed(true, `${who}：应答无法识别 / ${who}: unrecognised answer`) };
  const error = asRecord(response.Error);
  if (error) return { outcome: codeOutcome(String(error.Code ?? ''), redact.clean(String(error.Message ?? '')), who) };
  return { response };
}

type TencentSms = NonNullable<NonNullable<ChannelsSettings['sms']>['tencent']>;
type TencentVoice = NonNullable<NonNullable<ChannelsSettings['voice']>['tencent']>;

export class TencentSmsSender implements ChannelSender {
  readonly channel = 'sms' as const;
  private readonly endpoint: string;
  private readonly redact: Redactor;

  constructor(private readonly settings: TencentSms, endpoint: string | undefined, private readonly deps: HttpDeps) {
    this.endpoint = endpoint ?? 'https://sms.tencentcloudapi.com';
    this.redact = new Redactor([settings.secretKey]);
  }

  async send(to: Recipient, notice: Notice): Promise<SendOutcome> {
    const who = '腾讯云短信 Tencent Cloud SMS';
    const phone = parsePhone(to.address, { landline: false });
    if (!phone) return failed(false, `${who}：不是手机号 ${maskPhone(to.address)} / ${who}: not a mobile number: ${maskPhone(to.address)}`);
    try {
      const answer = await callTencent(this.deps, {
        endpoint: this.endpoint, service: 'sms', action: 'SendSms', version: '2021-01-11', region: this.settings.region,
        secretId: this.settings.secretId, secretKey: this.settings.secretKey,
        body: {
          PhoneNumberSet: [phone.e164], SmsSdkAppId: this.settings.sdkAppId, SignName: this.settings.signName,
          TemplateId: this.settings.templateId, TemplateParamSet: Object.values(notice.params),
        },
      }, this.redact, who);
      if (isFailed(answer)) return answer;
      const decided = tencentResponse(answer, who, this.redact, this.deps.now());
      if ('outcome' in decided) return decided.outcome;
      const status = asRecord((Array.isArray(decided.response.SendStatusSet) ? decided.response.SendStatusSet[0] : undefined));
      if (!status) return failed(true, `${who}：应答缺少发送状态 / ${who}: answer without a send status`);
      if (status.Code === 'Ok') return { ok: true, providerId: typeof status.SerialNo === 'string' ? status.SerialNo : undefined };
      return codeOutcome(String(status.Code ?? ''), this.redact.clean(String(status.Message ?? '')), who);
    } catch (err) {
      return failed(false, `${who}：内部错误 / ${who}: internal error: ${this.redact.clean(String(err))}`);
    }
  }
}

export class TencentVoiceSender implements ChannelSender {
  readonly channel = 'voice' as const;
  private readonly endpoint: string;
  private readonly redact: Redactor;

  constructor(private readonly settings: TencentVoice, endpoint: string | undefined, private readonly deps: HttpDeps) {
    this.endpoint = endpoint ?? 'https://vms.tencentcloudapi.com';
    this.redact = new Redactor([settings.secretKey]);
  }

  async send(to: Recipient, notice: Notice): Promise<SendOutcome> {
    const who = '腾讯云语音 Tencent Cloud voice';
    const phone = parsePhone(to.address, { landline: true });
    if (!phone?.mainland) return failed(false, `${who}：只能呼叫中国大陆号码 ${maskPhone(to.address)} / ${who}: calls mainland China numbers only: ${maskPhone(to.address)}`);
    try {
      const answer = await callTencent(this.deps, {
        endpoint: this.endpoint, service: 'vms', action: 'SendTtsVoice', version: '2020-09-02', region: this.settings.region,
        secretId: this.settings.secretId, secretKey: this.settings.secretKey,
        body: {
          TemplateId: this.settings.templateId, TemplateParamSet: Object.values(notice.params), CalledNumber: phone.e164,
          VoiceSdkAppid: this.settings.voiceSdkAppId, PlayTimes: this.settings.playTimes,
        },
      }, this.redact, who);
      if (isFailed(answer)) return answer;
      const decided = tencentResponse(answer, who, this.redact, this.deps.now());
      if ('outcome' in decided) return decided.outcome;
      const callId = asRecord(decided.response.SendStatus)?.CallId;
      if (typeof callId !== 'string') return failed(true, `${who}：应答缺少 CallId / ${who}: answer without a CallId`);
      return { ok: true, providerId: callId };
    } catch (err) {
      return failed(false, `${who}：内部错误 / ${who}: internal error: ${this.redact.clean(String(err))}`);
    }
  }
}
