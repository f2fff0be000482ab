/**
 * The `notifications.channels` settings: where each channel sends and with which credentials. Every
 * field has a default, so `{}` parses to "nothing configured" and no sender is made.
 *
 * - `robots`: group robots by name (the name is what a contact's rules and a recipient's address
 *   use). `url` is the whole webhook URL as the robot's settings page shows it, key or access token
 *   included, so it is a secret like `secret` (DingTalk 加签 / Feishu 签名校验).
 * - `sms`, `voice`: one provider each (Aliyun or Tencent Cloud), with that provider's block required.
 *   `endpoint` overrides the provider's public endpoint (tests, a private cloud, a proxy).
 * - `email`: one SMTP server. Port 465 is implicit TLS (`secure` defaults to true there); on any other
 *   port the connection is upgraded with STARTTLS, and `requireTls` (default true) refuses to log in
 *   over a connection that could not be upgraded, so the password never crosses the network in clear.
 * - `timeoutMs`: the longest one attempt may take (HTTP request or SMTP conversation step).
 *
 * Secrets come from the config file or the environment and are never logged; `CHANNEL_SECRET_PATHS`
 * lists them for the placeholder check.
 */
import { z } from 'zod';
import { durationSchema } from '../../core/duration.js';

const text = z.string().trim().min(1);
const httpUrl = z.url({ protocol: /^https?$/ });

export const ROBOT_KINDS = ['wecom', 'dingtalk', 'feishu'] as const;
export type RobotKind = (typeof ROBOT_KINDS)[number];

export const robotSchema = z.object({
  kind: z.enum(ROBOT_KINDS),
  /** The whole webhook URL, e.g. `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`. A secret. */
  url: httpUrl,
  /** DingTalk 加签 secret (`SEC…`) or Feishu 签名校验 secret; absent when the robot is not set to sign. */
  secret: text.optional(),
}).superRefine((robot, ctx) => {
  const url = new URL(robot.url);
  if (robot.kind === 'wecom' && !url.searchParams.get('key')) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: '企业微信机器人的地址须带 key 参数 / a WeCom robot URL carries its key: …/cgi-bin/webhook/send?key=…' });
  }
  if (robot.kind === 'dingtalk' && !url.searchParams.get('access_token')) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: '钉钉机器人的地址须带 access_token 参数 / a DingTalk robot URL carries its access_token: …/robot/send?access_token=…' });
  }
  if (robot.kind === 'feishu' && !/\/open-apis\/bot\/v2\/hook\/[^/]+$/.test(url.pathname)) {
    ctx.addIssue({ code: 'custom', path: ['url'], message: '飞书机器人的地址形如 …/open-apis/bot/v2/hook/<token> / a Feishu robot URL looks like …/open-apis/bot/v2/hook/<token>' });
  }
  if (robot.kind === 'wecom' && robot.secret !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['secret'], message: '企业微信群机器人没有签名密钥 / WeCom group robots do not sign: remove secret' });
  }
});
export type RobotSettings = z.output<typeof robotSchema>;

const playTimes = z.number().int().min(1).max(3).default(2);

export const aliyunSmsSchema = z.object({
  accessKeyId: text,
  accessKeySecret: text,
  /** 短信签名, as approved in the console. */
  signName: text,
  /** 短信模板 code (`SMS_…`): its variables are the notice's `params`. */
  templateCode: text,
  /** Mainland regions use the central endpoint dysmsapi.aliyuncs.com; others `dysmsapi.<region>.aliyuncs.com`. */
  regionId: text.default('cn-hangzhou'),
});

export const aliyunVoiceSchema = z.object({
  accessKeyId: text,
  accessKeySecret: text,
  /** 语音通知 TTS 模板 ID (`TTS_…`): its variables are the notice's `params`. */
  ttsCode: text,
  /** 被叫显号: a number bought in the voice console. */
  calledShowNumber: text,
  regionId: text.default('cn-hangzhou'),
  playTimes,
});

export const tencentSmsSchema = z.object({
  secretId: text,
  secretKey: text,
  sdkAppId: text,
  signName: text,
  templateId: text,
  region: text.default('ap-guangzhou'),
});

export const tencentVoiceSchema = z.object({
  secretId: text,
  secretKey: text,
  /** 语音通知模板 ID: its variables are the notice's `params`, in order. */
  templateId: text,
  voiceSdkAppId: text,
  playTimes,
  region: text.default('ap-guangzhou'),
});

const PROVIDERS = ['aliyun', 'tencent'] as const;

function requireProviderBlock(value: { provider: (typeof PROVIDERS)[number]; aliyun?: unknown; tencent?: unknown }, ctx: z.RefinementCtx): void {
  for (const provider of PROVIDERS) {
    if (value.provider === provider && value[provider] === undefined) {
      ctx.addIssue({ code: 'custom', path: [provider], message: `服务商为 ${provider} 时必填 / required when provider is '${provider}'` });
    }
  }
}

export const smsSchema = z.object({
  provider: z.enum(PROVIDERS),
  endpoint: httpUrl.optional(),
  aliyun: aliyunSmsSchema.optional(),
  tencent: tencentSmsSchema.optional(),
}).superRefine(requireProviderBlock);

export const voiceSchema = z.object({
  provider: z.enum(PROVIDERS),
  endpoint: httpUrl.optional(),
  aliyun: aliyunVoiceSchema.optional(),
  tencent: tencentVoiceSchema.optional(),
}).superRefine(requireProviderBlock);

export const emailSchema = z.object({
  host: text,
  port: z.number().int().min(1).max(65535).default(465),
  /** Implicit TLS; default: true on port 465, else false (STARTTLS). */
  secure: z.boolean().optional(),
  user: text.optional(),
  pass: text.optional(),
  /** The sender, e.g. `"物联网告警 Alerts" <alerts@example.com>`. */
  from: text,
  /** Refuse to send over a connection that is not TLS (no STARTTLS offered). Turn off only for a local relay. */
  requireTls: z.boolean().default(true),
  /** Check the server's certificate. Turn off only for a relay with a self-signed certificate on a trusted network. */
  rejectUnauthorized: z.boolean().default(true),
}).superRefine((email, ctx) => {
  if ((email.user === undefined) !== (email.pass === undefined)) {
    ctx.addIssue({ code: 'custom', path: [email.user === undefined ? 'user' : 'pass'], message: 'user 与 pass 须同时设置 / user and pass are set together' });
  }
}).transform((email) => ({ ...email, secure: email.secure ?? email.port === 465 }));

export const channelsSettingsSchema = z.object({
  robots: z.record(z.string().regex(/^[\w.\-\u4e00-\u9fff]{1,64}$/, '机器人名：字母、数字、汉字、_ . -，最多 64 个 / robot name: letters, digits, CJK, _ . -, up to 64'), robotSchema).default({}),
  sms: smsSchema.optional(),
  voice: voiceSchema.optional(),
  email: emailSchema.optional(),
  /** The longest one attempt may take. */
  timeoutMs: durationSchema.pipe(z.number().int().min(100).max(120_000)).prefault('10s'),
});

export type ChannelsSettings = z.output<typeof channelsSettingsSchema>;
export type ChannelsSettingsInput = z.input<typeof channelsSettingsSchema>;

/**
 * The settings that are secrets, as paths under `notifications.channels` (`*` = every robot's name),
 * for the placeholder check and for anyone redacting a config dump.
 */
export const CHANNEL_SECRET_PATHS = [
  'robots.*.url',
  'robots.*.secret',
  'sms.aliyun.accessKeySecret',
  'sms.tencent.secretKey',
  'voice.aliyun.accessKeySecret',
  'voice.tencent.secretKey',
  'email.pass',
] as const;

/** The secret values of these settings with their paths (for the placeholder check: `check(path, value)`). */
export function channelSecrets(settings: ChannelsSettings): Array<[path: string, value: string]> {
  const out: Array<[string, string]> = [];
  for (const [name, robot] of Object.entries(settings.robots)) {
    out.push([`robots.${name}.url`, robot.url]);
    if (robot.secret !== undefined) out.push([`robots.${name}.secret`, robot.secret]);
  }
  if (settings.sms?.aliyun) out.push(['sms.aliyun.accessKeySecret', settings.sms.aliyun.accessKeySecret]);
  if (settings.sms?.tencent) out.push(['sms.tencent.secretKey', settings.sms.tencent.secretKey]);
  if (settings.voice?.aliyun) out.push(['voice.aliyun.accessKeySecret', settings.voice.aliyun.accessKeySecret]);
  if (settings.voice?.tencent) out.push(['voice.tencent.secretKey', settings.voice.tencent.secretKey]);
  if (settings.email?.pass !== undefined) out.push(['email.pass', settings.email.pass]);
  return out;
}
