// Rectification orders (整改通知): the list of the orders in the caller's scope, filtered by state
// and overdue, with the ledger's export (台账, CSV / Excel); an issue form for the parties that issue
// them (target picked by name, its site, the due date); an order's detail with its history and
// attachments, and the actions the gateway says this caller may take now (allowedActions): the
// target's reply with files, the supervising party's return (复查不合格), close (销号) and refer (移交).
// The labels live here in both languages (getLang), Chinese first.
import { getLang } from './i18n.js';
import { deadlineEl, formatTime, h } from './dom.js';
import { download, upload } from './api.js';
import { errorText, formDialog, field, input, saveBlob, select, statusLine, table, toast, todayISO, values } from './forms.js';

const TEXT = {
  zh: {
    title: '整改通知',
    count: '共 {n} 条',
    empty: '没有符合条件的整改通知。',
    stateFilter: '状态',
    all: '全部',
    open: '未销号',
    overdueOnly: '只看逾期',
    exportCsv: '导出台账 CSV',
    exportXlsx: '导出台账 Excel',
    exportFailed: '导出失败：{msg}',
    issue: '下发整改通知',
    issueSubmit: '下发',
    issued: '已下发整改通知「{title}」。',
    target: '整改对象',
    site: '小区',
    siteAny: '（不指定小区）',
    device: '设备',
    alert: '关联告警',
    issuer: '下发单位',
    supervising: '监管单位',
    issuedAt: '下发时间',
    dueAt: '整改期限',
    dueHint: '当天 24 时前整改完毕',
    state: '状态',
    overdue: '已逾期',
    escalatedTo: '已升级至',
    orderTitle: '标题',
    description: '整改要求',
    company: '物业',
    unit: '维保',
    back: '返回列表',
    history: '处理记录',
    noTargets: '您的范围内没有可下发整改通知的单位。',
    'state.issued': '已下发',
    'state.replied': '已回复',
    'state.returned': '复查不合格',
    'state.overdue': '已逾期',
    'state.closed': '已销号',
    'action.issued': '下发',
    'action.replied': '回复',
    'action.returned': '退回（复查不合格）',
    'action.closed': '销号',
    'action.referred': '移交',
    'action.overdue': '逾期',
    'action.reassigned': '随小区移交新物业',
    referredTo: '由 {from} 移交 {to}',
    escalated: '升级至 {to}',
    reassigned: '由 {from} 转至 {to}',
    reply: '整改回复',
    replyNote: '整改情况',
    files: '附件（照片、PDF）',
    filesHint: 'JPEG、PNG 或 PDF',
    replySubmit: '提交回复',
    review: '复查',
    reviewNote: '复查意见',
    returnButton: '退回（复查不合格）',
    closeButton: '销号',
    refer: '移交',
    referTo: '移交给',
    referName: '街道 / 社区名称',
    referNote: '移交说明',
    referSubmit: '移交',
    noteRequired: '请填写说明。',
    nameRequired: '请填写街道或社区名称。',
    done: '已{action}。',
    uploading: '正在上传附件…',
    system: '系统',
    'party.admin': '市级平台',
    'party.market-supervision': '市场监督管理局',
    'party.fire-service': '消防救援机构',
    'party.street': '{name}（街道）',
    'party.community': '{name}（社区）',
    'kind.street': '街道',
    'kind.community': '社区',
  },
  en: {
    title: 'Rectification orders',
    count: '{n} in all',
    empty: 'No orders match.',
    stateFilter: 'State',
    all: 'All',
    open: 'Not closed',
    overdueOnly: 'Overdue only',
    exportCsv: 'Export ledger (CSV)',
    exportXlsx: 'Export ledger (Excel)',
    exportFailed: 'Export failed: {msg}',
    issue: 'Issue an order',
    issueSubmit: 'Issue',
    issued: 'Order "{title}" issued.',
    target: 'Target',
    site: 'Site',
    siteAny: '(no particular site)',
    device: 'Device',
    alert: 'Alert',
    issuer: 'Issued by',
    supervising: 'Supervising party',
    issuedAt: 'Issued',
    dueAt: 'Due',
    dueHint: 'by the end of that day',
    state: 'State',
    overdue: 'Overdue',
    escalatedTo: 'Escalated to',
    orderTitle: 'Title',
    description: 'What must be rectified',
    company: 'property',
    unit: 'maintenance',
    back: 'Back to the list',
    history: 'History',
    noTargets: 'There is nobody in your scope you may issue orders to.',
    'state.issued': 'Issued',
    'state.replied': 'Replied',
    'state.returned': 'Returned',
    'state.overdue': 'Overdue',
    'state.closed': 'Closed',
    'action.issued': 'Issued',
    'action.replied': 'Replied',
    'action.returned': 'Returned (re-check failed)',
    'action.closed': 'Closed',
    'action.referred': 'Referred',
    'action.overdue': 'Overdue',
    'action.reassigned': 'Moved with the site to the new company',
    referredTo: 'from {from} to {to}',
    escalated: 'escalated to {to}',
    reassigned: 'from {from} to {to}',
    reply: 'Reply',
    replyNote: 'What was done',
    files: 'Attachments (photos, PDF)',
    filesHint: 'JPEG, PNG or PDF',
    replySubmit: 'Send reply',
    review: 'Re-check',
    reviewNote: 'Findings',
    returnButton: 'Return (re-check failed)',
    closeButton: 'Close',
    refer: 'Refer',
    referTo: 'Refer to',
    referName: 'Street / community name',
    referNote: 'Why',
    referSubmit: 'Refer',
    noteRequired: 'Write a note.',
    nameRequired: 'Give the street or community name.',
    done: '{action}: done.',
    uploading: 'Uploading attachments…',
    system: 'System',
    'party.admin': 'City (admin)',
    'party.market-supervision': 'Market supervision',
    'party.fire-service': 'Fire service',
    'party.street': '{name} (street)',
    'party.community': '{name} (community)',
    'kind.street': 'Street',
    'kind.community': 'Community',
  },
};

const tr = (key, params) => {
  let s = TEXT[getLang()]?.[key] ?? TEXT.zh[key] ?? key;
  if (params) for (const [k, v] of Object.entries(params)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
};

const STATES = ['issued', 'replied', 'returned', 'overdue', 'closed'];
const ISSUERS = ['admin', 'market-supervision', 'fire-service', 'street', 'community'];
const ATTACHMENT_TYPES = ['image/jpeg', 'image/png', 'application/pdf'];
const enc = encodeURIComponent;

/** A party key (`street:南山街道`, `market-supervision`) as people read it, in the page's language. */
function partyName(key) {
  if (!key) return '—';
  const colon = key.indexOf(':');
  if (colon < 0) return tr(`party.${key}`);
  return tr(`party.${key.slice(0, colon)}`, { name: key.slice(colon + 1) });
}

/** The date input's day as the API reads it: a date is the end of that day in the installation's zone. */
const tomorrowISO = () => { const d = new Date(); d.setDate(d.getDate() + 1); return d.toISOString().slice(0, 10); };

export function createOrdersView(ctx) {
  const { root } = ctx;
  const fresh = () => ({ mounted: false, id: null, items: null, error: null, stateFilter: '', overdueOnly: false, detail: null, detailError: null, result: null, busy: false });
  let state = fresh();

  const me = () => ctx.me();
  const issues = () => ISSUERS.includes(me()?.role);

  function query() {
    const q = new URLSearchParams();
    if (state.stateFilter) q.set('state', state.stateFilter);
    if (state.overdueOnly) q.set('overdue', 'true');
    return q;
  }

  async function load() {
    const who = me();
    try {
      const answer = await ctx.api('GET', `/api/v1/orders?${query()}`);
      if (me() !== who) return;
      state.items = answer.items;
      state.error = null;
    } catch (err) {
      if (ctx.fail(err)) return;
      state.error = err.message;
    }
    render();
  }

  async function loadDetail(id) {
    try {
      const o = await ctx.api('GET', `/api/v1/orders/${enc(id)}`);
      if (state.id !== id) return;
      state.detail = o;
      state.detailError = null;
    } catch (err) {
      if (ctx.fail(err) || state.id !== id) return;
      state.detail = null;
      state.detailError = err.message;
    }
    render();
  }

  async function exportLedger(format) {
    try {
      const q = query();
      q.set('format', format);
      const { blob, filename } = await download(`/api/v1/orders/export?${q}`, `orders.${format}`);
      saveBlob(blob, filename);
    } catch (err) {
      if (ctx.fail(err)) return;
      toast(tr('exportFailed', { msg: err.message }));
    }
  }

  // ---- issuing ----

  async function issueForm() {
    let targets;
    try {
      targets = (await ctx.api('GET', '/api/v1/orders/targets')).targets;
    } catch (err) {
      if (!ctx.fail(err)) toast(errorText(err));
      return;
    }
    if (targets.length === 0) { toast(tr('noTargets')); return; }
    const key = (x) => `${x.targetType}:${x.targetId}`;
    const target = select(targets.map((x) => [key(x), `${x.name}（${tr(x.targetType === 'company' ? 'company' : 'unit')}）`]), { placeholder: '' });
    const site = select([], { placeholder: tr('siteAny') });
    const fillSites = () => {
      const chosen = targets.find((x) => key(x) === target.value);
      site.replaceChildren(h('option', { value: '' }, tr('siteAny')), ...(chosen?.sites ?? []).map((s) => h('option', { value: s.id }, s.name)));
    };
    target.addEventListener('change', fillSites);
    const due = input({ type: 'date', min: todayISO(), value: tomorrowISO() });
    const description = h('textarea', { rows: 4, maxlength: '5000' });
    formDialog({
      id: 'order-form',
      title: tr('issue'),
      submitKey: tr('issueSubmit'),
      fields: [
        field('targetId', 'order-target', tr('target'), target, { required: true }),
        field('siteId', 'order-site', tr('site'), site),
        field('title', 'order-new-title', tr('orderTitle'), input({ maxlength: '200' }), { required: true }),
        field('description', 'order-new-description', tr('description'), description, { required: true }),
        field('dueAt', 'order-due', tr('dueAt'), due, { required: true, hint: tr('dueHint') }),
      ],
      submit: (form) => {
        const v = values(form);
        const [targetType, ...rest] = String(v.targetId ?? '').split(':');
        const body = { targetType, targetId: rest.join(':'), title: v.title ?? '', description: v.description ?? '', dueAt: v.dueAt };
        if (v.siteId) body.siteId = v.siteId;
        return ctx.api('POST', '/api/v1/orders', body);
      },
      done: (order) => {
        toast(tr('issued', { title: order.title }));
        location.hash = `#/orders/${order.id}`;
        load();
      },
    });
  }

  // ---- acting ----

  async function act(action, body) {
    const id = state.id;
    state.busy = true;
    state.result = null;
    render();
    try {
      await ctx.api('POST', `/api/v1/orders/${enc(id)}/${action}`, body);
      state.result = { ok: true, text: tr('done', { action: tr(`action.${{ reply: 'replied', return: 'returned', close: 'closed', refer: 'referred' }[action]}`) }) };
      load();
      await loadDetail(id);
    } catch (err) {
      if (ctx.fail(err)) return;
      state.result = { ok: false, text: errorText(err) };
    } finally {
      state.busy = false;
      render();
    }
  }

  async function reply(form) {
    const note = form.querySelector('#order-reply-note').value.trim();
    if (!note) { state.result = { ok: false, text: tr('noteRequired') }; render(); return; }
    const files = [...form.querySelector('#order-reply-files').files];
    state.busy = true;
    state.result = { ok: true, text: files.length > 0 ? tr('uploading') : '' };
    render();
    const ids = [];
    try {
      for (const f of files) {
        const type = ATTACHMENT_TYPES.includes(f.type) ? f.type : 'application/octet-stream';
        ids.push((await upload(`/api/v1/attachments?name=${enc(f.name)}`, f, type)).id);
      }
    } catch (err) {
      state.busy = false;
      if (ctx.fail(err)) return;
      state.result = { ok: false, text: errorText(err) };
      render();
      return;
    }
    await act('reply', { note, ...(ids.length > 0 ? { attachments: ids } : {}) });
  }

  async function openAttachment(a) {
    try {
      const { blob, filename } = await download(`/api/v1/attachments/${a.id}`, a.name);
      saveBlob(blob, filename);
    } catch (err) {
      if (!ctx.fail(err)) toast(errorText(err));
    }
  }

  // ---- rendering ----

  const stateBadge = (o) => h(`span.state-badge.order-state.state-${o.state}`, { dataset: { state: o.state } }, tr(`state.${o.state}`));
  const overdueBadge = (o) => (o.overdue ? h('span.badge.emergency.overdue-badge', null, tr('overdue')) : null);
  const waitsForTarget = (o) => o.state === 'issued' || o.state === 'returned' || o.state === 'overdue';
  const dueCell = (o) => [formatTime(o.dueAt), ' ', o.state === 'closed' ? null : deadlineEl(o.dueAt, waitsForTarget(o) ? null : o.repliedAt)];

  function renderList() {
    const stateSelect = select([['', tr('all')], ['open', tr('open')], ...STATES.map((s) => [s, tr(`state.${s}`)])], { value: state.stateFilter, id: 'orders-state', 'aria-label': tr('stateFilter') });
    stateSelect.addEventListener('change', () => { state.stateFilter = stateSelect.value; load(); });
    const overdue = h('input#orders-overdue', { type: 'checkbox', checked: state.overdueOnly });
    overdue.addEventListener('change', () => { state.overdueOnly = overdue.checked; load(); });
    const head = h('div.panel-head', h('h2', null, tr('title')),
      state.items ? h('span.muted.count', null, tr('count', { n: state.items.length })) : null,
      stateSelect,
      h('label.inline-check', null, overdue, ' ', tr('overdueOnly')),
      h('div.head-actions', null,
        h('button#orders-export-csv', { type: 'button', onclick: () => exportLedger('csv') }, tr('exportCsv')),
        h('button#orders-export-xlsx', { type: 'button', onclick: () => exportLedger('xlsx') }, tr('exportXlsx')),
        issues() ? h('button.primary#order-new', { type: 'button', onclick: issueForm }, tr('issue')) : null));
    if (!state.items) return [head, statusLine(state.error)];
    if (state.items.length === 0) return [head, h('p.empty', null, tr('empty'))];
    const rows = state.items.map((o) => h('tr.order-row', { dataset: { id: String(o.id), state: o.state } },
      h('td', { 'data-label': tr('orderTitle') }, h('a.order-link', { href: `#/orders/${o.id}` }, o.title)),
      h('td', { 'data-label': tr('target') }, o.targetName),
      h('td', { 'data-label': tr('site') }, o.siteName ?? '—'),
      h('td', { 'data-label': tr('supervising') }, partyName(o.supervising)),
      h('td', { 'data-label': tr('dueAt') }, dueCell(o)),
      h('td', { 'data-label': tr('state') }, stateBadge(o), ' ', overdueBadge(o))));
    const heads = ['orderTitle', 'target', 'site', 'supervising', 'dueAt', 'state'];
    // forms.js's table() takes label keys of the shared dictionary: these are ours, so the header is built here
    const wrap = table('orders', [], rows);
    wrap.querySelector('thead tr').replaceChildren(...heads.map((k) => h('th', { scope: 'col' }, tr(k))));
    return [head, wrap];
  }

  function historyDetail(e) {
    const d = e.detail;
    if (!d) return null;
    if (e.action === 'referred') return tr('referredTo', { from: partyName(d.from), to: partyName(d.to) });
    if (e.action === 'overdue' && Array.isArray(d.escalatedTo) && d.escalatedTo.length > 0) return tr('escalated', { to: d.escalatedTo.map(partyName).join('、') });
    if (e.action === 'reassigned') return tr('reassigned', { from: d.fromCompanyName ?? d.fromCompanyId, to: d.toCompanyName ?? d.toCompanyId });
    return null;
  }

  function renderHistory(o) {
    return h('section#order-history', null, h('h3', null, tr('history')),
      h('ol.history', null, o.history.map((e) => h('li.history-entry', { dataset: { action: e.action } },
        h('time', { datetime: new Date(e.at).toISOString() }, formatTime(e.at)), ' ',
        h('span.history-action', null, tr(`action.${e.action}`)), ' ',
        h('span.history-actor', null, e.actor === 'system' ? tr('system') : e.actor),
        historyDetail(e) ? h('div.history-note', null, historyDetail(e)) : null,
        e.note ? h('div.history-note', null, e.note) : null,
        // buttons, not a nested list: the history's list items draw the timeline
        e.attachments.length > 0 ? h('div.buttons.attachments', null, e.attachments.map((a) =>
          h('button.ghost.attachment-link', { type: 'button', dataset: { id: String(a.id) }, onclick: () => openAttachment(a) }, a.name))) : null))));
  }

  function renderActions(o) {
    const allowed = new Set(o.allowedActions ?? []);
    const parts = [];
    if (allowed.has('reply')) {
      const form = h('form#order-reply-form.actions', { novalidate: true },
        h('h3', null, tr('reply')),
        h('label', { for: 'order-reply-note' }, tr('replyNote')),
        h('textarea#order-reply-note', { rows: 3, maxlength: '5000' }),
        h('label', { for: 'order-reply-files' }, tr('files')),
        h('input#order-reply-files', { type: 'file', multiple: true, accept: ATTACHMENT_TYPES.join(',') }),
        h('small.hint', null, tr('filesHint')),
        h('div.buttons', null, h('button.primary#order-reply-submit', { type: 'submit', disabled: state.busy }, tr('replySubmit'))));
      form.addEventListener('submit', (e) => { e.preventDefault(); reply(form); });
      parts.push(form);
    }
    if (allowed.has('return') || allowed.has('close')) {
      const note = h('textarea#order-review-note', { rows: 3, maxlength: '5000' });
      const review = (action) => {
        const text = note.value.trim();
        if (!text) { state.result = { ok: false, text: tr('noteRequired') }; render(); return; }
        act(action, { note: text });
      };
      parts.push(h('div#order-review.actions', null,
        h('h3', null, tr('review')),
        h('label', { for: 'order-review-note' }, tr('reviewNote')), note,
        h('div.buttons', null,
          allowed.has('return') ? h('button#order-return', { type: 'button', disabled: state.busy, onclick: () => review('return') }, tr('returnButton')) : null,
          allowed.has('close') ? h('button.primary#order-close', { type: 'button', disabled: state.busy, onclick: () => review('close') }, tr('closeButton')) : null)));
    }
    if (allowed.has('refer')) {
      const kinds = [['market-supervision', tr('party.market-supervision')], ['fire-service', tr('party.fire-service')], ['street', tr('kind.street')], ['community', tr('kind.community')]]
        .filter(([k]) => k !== o.supervising);
      const kind = select(kinds, { id: 'order-refer-kind' });
      const name = input({ id: 'order-refer-name', maxlength: '100' });
      const nameField = h('div.field', null, h('label', { for: 'order-refer-name' }, tr('referName')), name);
      const showName = () => { nameField.hidden = kind.value !== 'street' && kind.value !== 'community'; };
      kind.addEventListener('change', showName);
      showName();
      const note = h('textarea#order-refer-note', { rows: 2, maxlength: '5000' });
      const form = h('form#order-refer-form.actions', { novalidate: true },
        h('h3', null, tr('refer')),
        h('label', { for: 'order-refer-kind' }, tr('referTo')), kind, nameField,
        h('label', { for: 'order-refer-note' }, tr('referNote')), note,
        h('div.buttons', null, h('button#order-refer-submit', { type: 'submit', disabled: state.busy }, tr('referSubmit'))));
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const area = kind.value === 'street' || kind.value === 'community';
        if (area && !name.value.trim()) { state.result = { ok: false, text: tr('nameRequired') }; render(); return; }
        const to = area ? `${kind.value}:${name.value.trim()}` : kind.value;
        act('refer', { to, ...(note.value.trim() ? { note: note.value.trim() } : {}) });
      });
      parts.push(form);
    }
    return parts;
  }

  function renderDetail() {
    const back = h('a.back-link', { href: '#/orders' }, `← ${tr('back')}`);
    const o = state.detail;
    if (!o || String(o.id) !== state.id) return [back, statusLine(state.detailError)];
    const fact = (k, v) => [h('dt', null, tr(k)), h('dd', { dataset: { fact: k } }, v ?? '—')];
    return [
      back,
      h('div.panel-head', h('h2#order-title', null, o.title), stateBadge(o), overdueBadge(o)),
      h('dl.facts', null,
        fact('target', `${o.targetName}（${tr(o.targetType === 'company' ? 'company' : 'unit')}）`),
        fact('site', o.siteName),
        o.deviceLabel ? fact('device', o.deviceLabel) : [],
        o.alertId ? fact('alert', h('a', { href: `#/alerts/${o.alertId}` }, `#${o.alertId}`)) : [],
        fact('issuer', partyName(o.issuer)),
        fact('supervising', partyName(o.supervising)),
        fact('issuedAt', formatTime(o.issuedAt)),
        fact('dueAt', dueCell(o)),
        o.escalatedTo.length > 0 ? fact('escalatedTo', o.escalatedTo.map(partyName).join('、')) : [],
        fact('description', o.description)),
      renderHistory(o),
      ...renderActions(o),
      state.result?.text ? h(`p#order-result.${state.result.ok ? 'ok' : 'error'}`, { role: 'status' }, state.result.text) : null,
    ];
  }

  function render() {
    if (!state.mounted) return;
    root.replaceChildren(...(state.id ? renderDetail() : renderList()).filter(Boolean));
  }

  return {
    show(parts) {
      const id = parts[0] ? decodeURIComponent(parts[0]) : null;
      const first = !state.mounted;
      state.mounted = true;
      if (id !== state.id) {
        state.id = id;
        state.result = null;
        if (id) loadDetail(id);
      }
      render();
      if (first || !id) load();
    },
    render,
    hide() { state.result = null; },
    reset() { state = fresh(); root.replaceChildren(); },
  };
}
