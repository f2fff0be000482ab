/**
 * The channel senders: one per provider, each a `ChannelSender` that never throws and never puts a
 * secret or a full phone number in its outcome. `createSenders` makes the ones the settings configure:
 * a robot channel when at least one robot of its kind is named, `sms`, `voice`, `email` when their
 * section is present.
 *
 * Signatures (exported so the tests check them against the providers' published examples):
 * DingTalk 加签 (HMAC-SHA256, key = secret), Feishu 签名校验 (HMAC-SHA256, key = timestamp\nsecret,
 * empty message), Aliyun signature V3 (ACS3-HMAC-SHA256), Tencent Cloud TC3-HMAC-SHA256.
 */
import type { ChannelName, ChannelSender } from '../model.js';
import { AliyunSmsSender, AliyunVoiceSender } from './aliyun.js';
import type { ChannelsSettings, RobotKind } from './config.js';
import { DingtalkSender } from './dingtalk.js';
import { EmailSender } from './email.js';
import { FeishuSender } from './feishu.js';
import type { HttpDeps } from './http.js';
import { TencentSmsSender, TencentVoiceSender } from './tencent.js';
import { WecomSender } from './wecom.js';

export {
  channelsSettingsSchema, channelSecrets, CHANNEL_SECRET_PATHS, ROBOT_KINDS,
  type ChannelsSettings, type ChannelsSettingsInput, type RobotKind, type RobotSettings,
} from './config.js';
export { maskEmail, maskPhone } from './mask.js';
export { parsePhone, type PhoneNumber } from './phone.js';
export { truncateUtf8 } from './http.js';
export { dingtalkSign, dingtalkUrl } from './dingtalk.js';
export { feishuSign } from './feishu.js';
export { WECOM_MARKDOWN_MAX_BYTES } from './wecom.js';
export { aliyunAcs3Sign, acsDate, rfc3986, type Acs3Input, type Acs3Signed } from './aliyun.js';
export { tencentTc3Sign, tc3Date, type Tc3Input } from './tencent.js';
export { emailHtml, escapeHtml } from './email.js';

export interface SenderOptions {
  /** Signature timestamps, Retry-After dates (tests). */
  now?: () => number;
  /** Reserved for jittered choices; the senders themselves do not draw today. */
  random?: () => number;
  /** The HTTP client (tests may wrap it). */
  fetch?: typeof fetch;
}

/** One sender per configured channel. */
export function createSenders(settings: ChannelsSettings, opts: SenderOptions = {}): Map<ChannelName, ChannelSender> {
  const deps: HttpDeps = { fetch: opts.fetch ?? globalThis.fetch, now: opts.now ?? Date.now, timeoutMs: settings.timeoutMs };
  const senders = new Map<ChannelName, ChannelSender>();
  const kinds = new Set<RobotKind>(Object.values(settings.robots).map((r) => r.kind));
  if (kinds.has('wecom')) senders.set('wecom', new WecomSender(settings.robots, deps));
  if (kinds.has('dingtalk')) senders.set('dingtalk', new DingtalkSender(settings.robots, deps));
  if (kinds.has('feishu')) senders.set('feishu', new FeishuSender(settings.robots, deps));
  const sms = settings.sms;
  if (sms?.provider === 'aliyun' && sms.aliyun) senders.set('sms', new AliyunSmsSender(sms.aliyun, sms.endpoint, deps));
  if (sms?.provider === 'tencent' && sms.tencent) senders.set('sms', new TencentSmsSender(sms.tencent, sms.endpoint, deps));
  const voice = settings.voice;
  if (voice?.provider === 'aliyun' && voice.aliyun) senders.set('voice', new AliyunVoiceSender(voice.aliyun, voice.endpoint, deps));
  if (voice?.provider === 'tencent' && voice.tencent) senders.set('voice', new TencentVoiceSender(voice.tencent, voice.endpoint, deps));
  if (settings.email) senders.set('email', new EmailSender(settings.email, settings.timeoutMs));
  return senders;
}
