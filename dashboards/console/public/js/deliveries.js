// An alert's delivery log (通知记录): every attempt to tell a person of it by robot, SMS, voice or
// e-mail (`GET /api/v1/alerts/{id}/deliveries`, notifications/model.ts `DeliveryAttempt`), with the
// recipient masked by the gateway. A gateway without notifications, or an account that may not read
// the log, answers 404 / 403: the section is not shown at all.
import { getLang } from './i18n.js';
import { formatTime, h } from './dom.js';
import { channelName } from './contacts.js';

const STRINGS = {
  zh: {
    title: '通知记录',
    empty: '尚未向任何人发送通知。',
    failed: '通知记录加载失败：{msg}',
    channel: '渠道',
    recipient: '接收人',
    reason: '原因',
    attempt: '第几次',
    result: '结果',
    at: '时间',
    'result.sent': '已发送',
    'result.failed': '失败，将重试',
    'result.gave_up': '已放弃',
    'result.merged': '已合并发送',
    'result.quiet': '免打扰，未发送',
    'reason.raised': '告警产生',
    'reason.repeated': '重复发生',
    'reason.escalated': '告警升级',
    'reason.acknowledged': '已确认',
    'reason.dispatched': '已派单',
    'reason.resolved': '已处置',
    'reason.closed': '已销号',
    'reason.cleared': '已自动恢复',
    'reason.confirmed': '已核实为火警',
    'reason.forwarded': '超时未核实，已转消防',
    'reason.on_call': '无人确认，值班呼叫',
    'reason.trapped_unit_call': '困人，呼叫维保单位',
    'reason.test': '测试',
  },
  en: {
    title: 'Notifications sent',
    empty: 'Nobody has been notified yet.',
    failed: 'Could not load the notifications: {msg}',
    channel: 'Channel',
    recipient: 'Recipient',
    reason: 'Reason',
    attempt: 'Attempt',
    result: 'Result',
    at: 'Time',
    'result.sent': 'Sent',
    'result.failed': 'Failed, will retry',
    'result.gave_up': 'Gave up',
    'result.merged': 'Merged into another message',
    'result.quiet': 'Quiet hours: not sent',
    'reason.raised': 'Raised',
    'reason.repeated': 'Repeated',
    'reason.escalated': 'Escalated',
    'reason.acknowledged': 'Acknowledged',
    'reason.dispatched': 'Dispatched',
    'reason.resolved': 'Resolved',
    'reason.closed': 'Closed',
    'reason.cleared': 'Cleared',
    'reason.confirmed': 'Confirmed as fire',
    'reason.forwarded': 'Forwarded unverified',
    'reason.on_call': 'Nobody acknowledged: on-call call',
    'reason.trapped_unit_call': 'Trapped passengers: call to the maintenance unit',
    'reason.test': 'Test',
  },
};

function s(key, params) {
  let text = (STRINGS[getLang()] ?? STRINGS.zh)[key] ?? STRINGS.zh[key];
  if (text === undefined) return undefined;
  if (params) for (const [k, v] of Object.entries(params)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

/** A code the page has no label for (a new reason) is shown as the gateway names it. */
const label = (prefix, code) => s(`${prefix}.${code}`) ?? code;

/**
 * The section for the alert detail. `log`: `{ alertId, items }` once read, `{ alertId, error }` when
 * the read failed otherwise; null or another alert's: nothing (not read yet, or not offered: 404/403).
 */
export function deliverySection(log, alertId) {
  if (!log || log.alertId !== alertId) return null;
  const head = h('h3', null, s('title'));
  if (log.error) return h('section.deliveries#deliveries', null, head, h('p.muted', null, s('failed', { msg: log.error })));
  if (log.items.length === 0) return h('section.deliveries#deliveries', null, head, h('p.muted.empty-log', null, s('empty')));
  const cols = ['channel', 'recipient', 'reason', 'attempt', 'result', 'at'];
  const rows = log.items.map((d) => h('tr.delivery-row', { dataset: { channel: d.channel, result: d.result, id: String(d.id ?? '') } },
    h('td', { 'data-label': s('channel') }, channelName(d.channel)),
    h('td', { 'data-label': s('recipient') }, d.recipientName && d.recipientName !== d.recipient
      ? [d.recipientName, ' ', h('small.id', null, d.recipient)] : d.recipient),
    h('td', { 'data-label': s('reason') }, label('reason', d.reason)),
    h('td.num', { 'data-label': s('attempt') }, String(d.attempt)),
    h('td', { 'data-label': s('result') }, h('span.delivery-result', { class: `result-${d.result}`, title: d.detail ?? '' }, label('result', d.result)),
      d.detail && d.result !== 'sent' ? h('small.muted.delivery-detail', null, ` ${d.detail}`) : null),
    h('td', { 'data-label': s('at') }, h('time', { datetime: new Date(d.at).toISOString() }, formatTime(d.at)))));
  return h('section.deliveries#deliveries', null, head, h('div.table-wrap', null, h('table.deliveries.stack', null,
    h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col' }, s(k))))), h('tbody', null, rows))));
}
