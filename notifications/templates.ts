/**
 * What people read: one alert (or several merged for one recipient) as a `Notice`, Chinese first and
 * English after, with the site, the device's location, what happened, when, and the link to the alert
 * in the console. Names, never ids, where the alert has them.
 *
 * SMS and voice providers send only templates approved in advance: their parameters (`params`) are the
 * few facts such a template has slots for (site, location, what, time), each short. The suggested
 * template text is in docs/notifications.md.
 */
import { SEVERITIES, type Alert, type Severity } from '../alerts/index.js';
import type { Notice } from './model.js';

const SEVERITY_LABEL: Record<Severity, { zh: string; en: string }> = {
  critical: { zh: '紧急', en: 'Critical' },
  major: { zh: '严重', en: 'Major' },
  minor: { zh: '一般', en: 'Minor' },
  warning: { zh: '提示', en: 'Warning' },
};

/** Why a message is sent, in the words of the first line. */
export const REASON_LABEL: Record<string, { zh: string; en: string }> = {
  raised: { zh: '新告警', en: 'New alert' },
  escalated: { zh: '告警已升级（超时未处置）', en: 'Escalated: overdue' },
  on_call: { zh: '无人确认，请值班人员处置', en: 'Not acknowledged: on-call, please act' },
  trapped_unit_call: { zh: '困人告警维保单位 3 分钟未响应', en: 'Trapped passengers: the maintenance unit has not responded' },
};

export interface TemplateContext {
  /** Where the console is reached, e.g. `https://iot.example.gov.cn` (http.publicBaseUrl). */
  baseUrl: string;
  /** The installation's time zone (alerts.schedules.timezone): times are said in it. */
  timeZone: string;
}

/** The most severe of the alerts. */
export function severityOf(alerts: readonly Pick<Alert, 'severity'>[]): Severity {
  let best = SEVERITIES.length - 1;
  for (const a of alerts) best = Math.min(best, SEVERITIES.indexOf(a.severity));
  return SEVERITIES[best]!;
}

/** `05-06 07:08` in the installation's time zone. */
export function localTime(at: number, timeZone: string): string {
  return new Intl.DateTimeFormat('zh-CN', { timeZone, hour: '2-digit', minute: '2-digit', month: '2-digit', day: '2-digit', hourCycle: 'h23' }).format(at);
}

function where(a: Alert): string {
  return [a.siteName ?? a.siteId, a.location ?? a.deviceId].filter(Boolean).join(' ');
}

/** One line per alert: `阳光小区 3号楼东梯：困人 / Trapped passengers (05-06 07:08)`. */
function line(a: Alert, ctx: TemplateContext): string {
  const subject = a.subject ? `（${a.subject}）` : '';
  return `${where(a)}：${a.label.zh}${subject} / ${a.label.en} (${localTime(a.openedAt, ctx.timeZone)})`;
}

/** Markdown special characters of the robots' dialects, escaped in what comes from the registry or devices. */
function md(text: string): string {
  return text.replace(/([\\`*_[\]()#>|~<])/g, '\\$1');
}

/**
 * The notice for `alerts` (the first is the one the message is about; others were merged in), sent
 * for `reason` (`raised`, `escalated`, `on_call`, `trapped_unit_call`).
 */
export function render(alerts: readonly Alert[], reason: string, ctx: TemplateContext): Notice {
  const first = alerts[0]!;
  const severity = severityOf(alerts);
  const sev = SEVERITY_LABEL[severity];
  const why = REASON_LABEL[reason] ?? { zh: reason, en: reason };
  const url = `${ctx.baseUrl.replace(/\/+$/, '')}/#/alerts/${first.id}`;
  const moreZh = alerts.length > 1 ? ` 等 ${alerts.length} 条` : '';
  const moreEn = alerts.length > 1 ? ` (+${alerts.length - 1} more)` : '';
  const subject = `【${sev.zh}】${where(first)} ${first.label.zh}${moreZh} / [${sev.en}] ${first.label.en}${moreEn}`;
  const lines = alerts.map((a) => line(a, ctx));
  const text = [
    `${why.zh} / ${why.en}`,
    ...lines,
    alerts.length === 1 && first.maintenanceUnitName ? `维保单位 / Maintenance unit: ${first.maintenanceUnitName}` : undefined,
    `查看 / Open: ${url}`,
  ].filter((l): l is string => l !== undefined).join('\n');
  const markdown = [
    `**${md(`【${sev.zh}】${why.zh}`)}** / ${md(`[${sev.en}] ${why.en}`)}`,
    ...lines.map((l) => `- ${md(l)}`),
    `[查看告警 / Open the alert](${url})`,
  ].join('\n');
  const speech = `${why.zh}。${where(first)}，${first.label.zh}${first.subject ? `，${first.subject}` : ''}。${alerts.length > 1 ? `另有 ${alerts.length - 1} 条告警。` : ''}请立即处置。`;
  // short facts for the providers' approved templates (each slot is limited, e.g. 35 characters on Aliyun)
  const params = {
    site: clip(first.siteName ?? first.siteId, 20),
    location: clip(first.location ?? first.deviceId, 20),
    alert: clip(first.label.zh + (alerts.length > 1 ? `等${alerts.length}条` : ''), 20),
    time: localTime(first.openedAt, ctx.timeZone),
  };
  return { alertIds: alerts.map((a) => a.id), severity, subject, text, markdown, speech, params, url };
}

function clip(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : chars.slice(0, max - 1).join('') + '…';
}
