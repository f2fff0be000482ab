/**
 * Notifications to people (SPEC 13): the shapes the parts share. Alerts reach agencies' systems
 * through queues; this capability reaches the people on duty by group robot, SMS, voice and e-mail.
 *
 * - channels/: one sender per provider (WeCom, DingTalk, Feishu robots; Aliyun and Tencent Cloud SMS
 *   and voice; SMTP), each a `ChannelSender`, each tested against a local server that implements the
 *   provider's documented API, signature included.
 * - contacts/: the people of each party (a queue's owner: a property company, a maintenance unit, a
 *   street, an authority), what each wants by which channel, their quiet hours and on-call order.
 * - dispatcher.ts / outbox.ts / on-call.ts: which alert change goes to whom, merged per recipient,
 *   sent with retries from a durable outbox, logged per alert; the on-call chain when nobody acts.
 */
import type { Severity } from '../alerts/index.js';

export const CHANNELS = ['wecom', 'dingtalk', 'feishu', 'sms', 'voice', 'email'] as const;
export type ChannelName = (typeof CHANNELS)[number];
/** The group robots: their address is a robot's name in `notifications.channels.robots`. */
export const ROBOT_CHANNELS: readonly ChannelName[] = ['wecom', 'dingtalk', 'feishu'];

/** Where one message goes: a channel and an address on it. */
export interface Recipient {
  channel: ChannelName;
  /** A phone number (sms, voice: digits, optionally +86), an e-mail address, or a robot's name (its webhook and secret are in the config). */
  address: string;
  /** Who, for the delivery log and for people reading it: the contact's name, or the robot's / unit's. */
  name: string;
  /** The contact it came from; absent for the maintenance unit's 24 h phone (registry). */
  contactId?: string | undefined;
}

/**
 * One message as people read it, rendered by templates.ts in Chinese and English. A channel uses what
 * suits it: robots the markdown, SMS the template parameters (providers send only approved templates),
 * voice the short speech, e-mail the subject and text.
 */
export interface Notice {
  /** The alerts it is about (one, or several merged for one recipient). */
  alertIds: number[];
  severity: Severity;
  /** One line, Chinese then English, e.g. `【严重】阳光小区 3号楼东梯 困人 / [Critical] Sunshine … trapped passengers`. */
  subject: string;
  /** Plain text, Chinese first then English, each fact on its own line. */
  text: string;
  /** The same for robots that render Markdown (WeCom, DingTalk, Feishu). */
  markdown: string;
  /** What a voice call says (Chinese, short: TTS). */
  speech: string;
  /** SMS and voice template parameters (Aliyun `TemplateParam` / Tencent `TemplateParamSet`, in the template's order). */
  params: Record<string, string>;
  /** The alert in the console (the first one when merged). */
  url: string;
}

/** What one attempt came to. `retry`: worth trying again (network, timeout, 429, 5xx, provider throttling). */
export type SendOutcome =
  | { ok: true; providerId?: string | undefined }
  | { ok: false; retry: boolean; error: string; retryAfterMs?: number | undefined };

export interface ChannelSender {
  readonly channel: ChannelName;
  /** Never throws: every failure is an outcome. Never logs a secret or a full phone number. */
  send(to: Recipient, notice: Notice): Promise<SendOutcome>;
}

/** A rule of a contact: these alerts by these channels. */
export interface ContactRule {
  channels: ChannelName[];
  /** Alert types, or a domain prefix such as `elevator.*`; absent: every type. */
  types?: string[] | undefined;
  /** The least severe alert it wants; absent: every severity. */
  minSeverity?: Severity | undefined;
}

/** A person (or a duty desk) of a party, and how they want to hear. */
export interface Contact {
  id: string;
  /** The party: the queue its alerts are routed to (`property/co-1`, `maintenance/mu-3`, `street/南山街道`, `fire-service`, …). */
  party: string;
  name: string;
  phone?: string | undefined;
  email?: string | undefined;
  /** Robots (names in the config) this contact's rules may use for the robot channels. */
  robots: string[];
  rules: ContactRule[];
  /** No messages between these local times (`22:00`–`07:00`, the installation's time zone), except for critical alerts. */
  quietHours?: { from: string; to: string } | undefined;
  /**
   * The on-call chain: 1 is called first for a critical alert nobody acknowledges, then 2, … ; absent:
   * not on call (the contact still gets what its rules say).
   */
  onCall?: number | undefined;
  /** The account this person uses, if any (their own preferences are theirs to change). */
  accountId?: string | undefined;
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
}

/** One attempt to deliver one message, as the delivery log shows it. */
export interface DeliveryAttempt {
  id: number;
  alertId: number;
  channel: ChannelName;
  /** Masked for people reading the log: `138****5678`, `z***@example.com`, a robot's name. */
  recipient: string;
  recipientName: string;
  /** Why this message was sent: `raised`, `escalated`, `on_call`, `trapped_unit_call`, … */
  reason: string;
  attempt: number;
  /** `sent`, `failed` (will be retried), `gave_up`, `merged` (folded into another message to the same recipient), `quiet` (held back by quiet hours: not sent) */
  result: 'sent' | 'failed' | 'gave_up' | 'merged' | 'quiet';
  detail?: string | undefined;
  at: number;
}
