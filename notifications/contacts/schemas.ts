/**
 * What a contact's API accepts (zod, the one source of the shapes) and the checks across fields that
 * a schema cannot make alone: they need the configured robots, and on a change the contact as it
 * will be after the change (a patch that removes the phone of a contact with an SMS rule is refused).
 *
 * Paths: the schemas' own problems are answered by the HTTP layer as `body.{field}`; the checks
 * across fields (`contactProblems`) name the field of the contact, as the registry's and the orders'
 * checks do (`rules.0.channels`, `robots.1`, `onCall`, `party`). Messages: Chinese, then English.
 */
import { z } from 'zod';
import { ALERT_TYPES, SEVERITIES } from '../../alerts/index.js';
import { idSchema, isQueueName, QUEUE_NAME_HINT } from '../../registry/index.js';
import type { RobotKind } from '../channels/config.js';
import { CHANNELS, ROBOT_CHANNELS, type ChannelName, type ContactRule } from '../model.js';

/** A robot the config knows (`notifications.channels.robots`): its name is what a contact names. */
export interface KnownRobot { name: string; kind: RobotKind }

/** At most this many contacts per party (a duty roster, not an address book). */
export const MAX_CONTACTS_PER_PARTY = 200;
export const MAX_RULES = 20;
export const MAX_ROBOTS = 10;

// ---- phones and addresses ----

/** A mainland mobile number, as stored (digits, optionally `+86` / `86` before). */
const MOBILE_RE = /^(\+?86)?1\d{10}$/;
/** A landline as stored: area code (3-4 digits with the leading 0) and a 7-8 digit number, e.g. 075512345678. */
const LANDLINE_RE = /^0[1-9]\d{8,10}$/;
/** What people type around the digits: spaces, hyphens, parentheses. */
const SEPARATORS_RE = /[\s()-]/g;

/** The stored form of a phone number: digits, with a leading + kept. */
export const normalisePhone = (s: string) => s.replace(SEPARATORS_RE, '');
export const isMobile = (stored: string) => MOBILE_RE.test(stored);
const isPhone = (s: string) => {
  const n = normalisePhone(s);
  return MOBILE_RE.test(n) || LANDLINE_RE.test(n);
};

const PHONE_HINT = '须为手机号码（如 13812345678、+86 138 1234 5678）或座机号码（如 0755-12345678） / must be a mobile number (13812345678, +86 138 1234 5678) or a landline with its area code (0755-12345678)';

/** Stored as digits with an optional leading + (`0755-1234 5678` → `075512345678`). */
export const contactPhoneSchema = z.string().trim().max(32).refine(isPhone, { error: PHONE_HINT }).transform(normalisePhone);

export const contactEmailSchema = z.string().trim().max(254).pipe(z.email({ error: '须为电子邮件地址 / must be an e-mail address' }));

// ---- rules ----

const TYPE_NAMES: ReadonlySet<string> = new Set(Object.keys(ALERT_TYPES));
/** `elevator.*`, `fire_water.*`, …: the part of a type before its dot, and the alert domains (elevator, fire, water). */
const TYPE_PREFIXES: ReadonlySet<string> = new Set([
  ...Object.keys(ALERT_TYPES).map((t) => t.slice(0, t.indexOf('.'))),
  ...Object.values(ALERT_TYPES).map((d) => d.domain),
]);
/** Whether `t` is an alert type or a prefix pattern such as `elevator.*`. */
export const isAlertTypePattern = (t: string) => TYPE_NAMES.has(t) || (t.endsWith('.*') && TYPE_PREFIXES.has(t.slice(0, -2)));
const TYPE_HINT = `须为告警类型（如 elevator.trapped）或前缀（如 elevator.*） / must be an alert type (e.g. elevator.trapped) or a prefix such as elevator.* (${[...TYPE_PREFIXES].sort().map((p) => `${p}.*`).join(', ')})`;

const unique = <T>(items: readonly T[]) => new Set(items).size === items.length;

export const contactRuleSchema = z.object({
  channels: z.array(z.enum(CHANNELS, { error: `渠道须为 ${CHANNELS.join('、')} 之一 / a channel is one of ${CHANNELS.join(', ')}` })).min(1, { error: '至少一个渠道 / at least one channel' })
    .refine(unique, { error: '渠道不能重复 / a channel is named twice' })
    .describe(`how: ${CHANNELS.join(', ')}`),
  types: z.array(z.string().refine(isAlertTypePattern, { error: TYPE_HINT })).min(1, { error: '不限类型时省略 types / leave types out for every type' }).max(100)
    .refine(unique, { error: '告警类型不能重复 / a type is named twice' }).optional()
    .describe('alert types, or prefixes such as elevator.*; absent: every type'),
  minSeverity: z.enum(SEVERITIES, { error: `须为 ${SEVERITIES.join('、')} 之一 / one of ${SEVERITIES.join(', ')}` }).optional().describe('the least severe alert wanted; absent: every severity'),
});

// ---- quiet hours ----

const HHMM_RE = /^([01]\d|2[0-3]):[0-5]\d$/;
const HHMM_HINT = '须为 HH:MM（00:00-23:59） / must be HH:MM (00:00-23:59)';
export const quietHoursSchema = z.object({
  from: z.string().regex(HHMM_RE, { error: HHMM_HINT }),
  to: z.string().regex(HHMM_RE, { error: HHMM_HINT }),
}).refine((q) => q.from !== q.to, { path: ['to'], error: '开始与结束不能相同 / from and to must differ' })
  .describe('no messages between these local times (may wrap midnight: 22:00-07:00), except for critical alerts');

// ---- contacts ----

const ON_CALL_HINT = '值班顺序须为 1-20 的整数 / onCall is an integer from 1 to 20';

const fields = {
  name: z.string().trim().min(1, { error: '姓名不能为空 / the name is empty' }).max(64, { error: '姓名最多 64 个字符 / a name has at most 64 characters' }).describe('a person or a duty desk (值班室)'),
  phone: contactPhoneSchema.describe('mobile (SMS and voice) or landline (voice only)'),
  email: contactEmailSchema,
  robots: z.array(z.string().trim().min(1).max(64)).max(MAX_ROBOTS, { error: `最多 ${MAX_ROBOTS} 个机器人 / at most ${MAX_ROBOTS} robots` }).refine(unique, { error: '机器人不能重复 / a robot is named twice' })
    .describe('names of robots in notifications.channels.robots that this contact\'s robot rules use'),
  rules: z.array(contactRuleSchema).max(MAX_RULES, { error: `最多 ${MAX_RULES} 条规则 / at most ${MAX_RULES} rules` }).describe('what this contact wants by which channels; none: only the on-call chain reaches them'),
  quietHours: quietHoursSchema,
  onCall: z.number({ error: ON_CALL_HINT }).int({ error: ON_CALL_HINT }).min(1, { error: ON_CALL_HINT }).max(20, { error: ON_CALL_HINT }).describe('place in the on-call chain (1 is called first); absent: not on call'),
  accountId: idSchema.describe('the account this person uses'),
  disabled: z.boolean().describe('kept, but sent nothing'),
};

export const contactInputSchema = z.object({
  party: z.string().refine(isQueueName, { error: QUEUE_NAME_HINT }).optional()
    .describe('the party (its alert queue): required for an admin; for anyone else their own, and the default'),
  name: fields.name,
  phone: fields.phone.optional(),
  email: fields.email.optional(),
  robots: fields.robots.default([]),
  rules: fields.rules.default([]),
  quietHours: fields.quietHours.optional(),
  onCall: fields.onCall.optional(),
  accountId: fields.accountId.optional(),
  disabled: fields.disabled.optional(),
});
export type ContactInput = z.output<typeof contactInputSchema>;

/** A change: the fields given replace the contact's; `null` removes an optional one. The party cannot change. */
export const contactPatchSchema = z.object({
  party: z.string().optional().describe('cannot change: accepted only as the contact\'s own'),
  name: fields.name.optional(),
  phone: fields.phone.nullable().optional(),
  email: fields.email.nullable().optional(),
  robots: fields.robots.optional(),
  rules: fields.rules.optional(),
  quietHours: fields.quietHours.nullable().optional(),
  onCall: fields.onCall.nullable().optional(),
  accountId: fields.accountId.nullable().optional(),
  disabled: fields.disabled.optional(),
});
export type ContactPatch = z.output<typeof contactPatchSchema>;

/** The fields of a contact that `contactProblems` looks at. */
export interface ContactFields {
  phone?: string | undefined;
  email?: string | undefined;
  robots: readonly string[];
  rules: readonly ContactRule[];
  onCall?: number | undefined;
}

export interface Problem { path: string; message: string }

const ROBOT_LABELS: Record<RobotKind, string> = { wecom: '企业微信', dingtalk: '钉钉', feishu: '飞书' };

/**
 * What is wrong across the fields of a contact (as it will be stored), with paths: every problem at
 * once. A channel needs its address: SMS a mobile number, voice a phone, e-mail an address, a robot
 * channel one of the contact's robots of that kind; each robot must be configured; the on-call chain
 * ends in a voice call, so a contact on call needs a phone.
 */
export function contactProblems(c: ContactFields, robots: readonly KnownRobot[]): Problem[] {
  const problems: Problem[] = [];
  const known = new Map(robots.map((r) => [r.name, r.kind]));
  c.robots.forEach((name, i) => {
    if (!known.has(name)) problems.push({ path: `robots.${i}`, message: `未配置的机器人 ${name} / robot ${name} is not configured (notifications.channels.robots)` });
  });
  const kinds = new Set(c.robots.map((n) => known.get(n)).filter((k) => k !== undefined));
  c.rules.forEach((rule, i) => {
    const path = `rules.${i}.channels`;
    for (const channel of rule.channels as readonly ChannelName[]) {
      if (channel === 'sms' && (c.phone === undefined || !isMobile(c.phone))) {
        problems.push({ path, message: c.phone === undefined
          ? '短信需要手机号码（phone） / sms needs a mobile number (phone)'
          : '短信需要手机号码，座机不能接收短信 / sms needs a mobile number: a landline cannot receive it' });
      } else if (channel === 'voice' && c.phone === undefined) {
        problems.push({ path, message: '语音电话需要电话号码（phone） / voice needs a phone number (phone)' });
      } else if (channel === 'email' && c.email === undefined) {
        problems.push({ path, message: '电子邮件需要邮箱地址（email） / email needs an e-mail address (email)' });
      } else if (ROBOT_CHANNELS.includes(channel) && !kinds.has(channel as RobotKind)) {
        const label = ROBOT_LABELS[channel as RobotKind];
        problems.push({ path, message: `${label}渠道需要在 robots 中指定一个${label}机器人 / ${channel} needs a ${channel} robot in robots` });
      }
    }
  });
  if (c.onCall !== undefined && c.phone === undefined) {
    problems.push({ path: 'onCall', message: '值班呼叫以电话结束，需要电话号码（phone） / the on-call chain ends in a voice call: a contact on call needs a phone' });
  }
  return problems;
}
