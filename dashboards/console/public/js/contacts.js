// Notification contacts (通知联系人): the people (or duty desks) of the caller's party who hear of its
// alerts by group robot, SMS, voice or e-mail, what each wants by which channel, their quiet hours
// and their place in the on-call chain (notifications/model.ts `Contact`). A party's accounts
// manage their own party's contacts; an admin manages everyone's and names the party of a new one.
// The gateway decides and validates (`/api/v1/contacts`); its field errors are shown under the
// fields they name, down to one rule's channels.
import { getLang, t } from './i18n.js';
import { h } from './dom.js';
import { isAdmin } from './access.js';
import { ApiError } from './api.js';
import { clearErrors, confirmDialog, errorText, formDialog, formError, named, statusLine, toast } from './forms.js';

export const CHANNELS = ['wecom', 'dingtalk', 'feishu', 'sms', 'voice', 'email'];
const SEVERITIES = ['critical', 'major', 'minor', 'warning'];
const enc = encodeURIComponent;

const STRINGS = {
  zh: {
    title: '通知联系人',
    intro: '告警发生、升级或无人确认时，网关按下列联系人的规则通过群机器人、短信、语音电话或邮件通知值班人员。免打扰时段内只发送紧急告警。',
    party: '所属单位',
    partyHint: '告警推送的队列，如 property/co-1、maintenance/mu-3、street/南山街道、fire-service',
    ownParty: '本单位：{party}',
    count: '共 {n} 人',
    empty: '还没有通知联系人。',
    add: '添加联系人',
    addTitle: '添加通知联系人',
    editTitle: '编辑联系人：{name}',
    name: '姓名',
    phone: '手机号',
    phoneHint: '短信和语音电话使用，如 13800138000',
    email: '邮箱',
    robots: '群机器人',
    robotsHint: '网关配置中的机器人名称，多个用逗号分隔',
    rules: '通知规则',
    rulesHint: '每条规则：哪些告警、用哪些渠道。没有规则的联系人只在值班呼叫时被通知。',
    disabledField: '停用（保留联系人，但不发送任何通知）',
    rule: '规则 {n}',
    channels: '渠道',
    types: '告警类型',
    typesHint: '如 elevator.trapped 或 elevator.*，多个用逗号分隔；留空为全部类型',
    minSeverity: '最低级别',
    anySeverity: '全部级别',
    atLeast: '{sev}及以上',
    addRule: '添加规则',
    removeRule: '删除此规则',
    quietHours: '免打扰时段',
    quietFrom: '开始',
    quietTo: '结束',
    quietHint: '此时段内只发送紧急告警；两项都填或都不填',
    quietBoth: '请同时填写开始和结束时间。',
    onCall: '值班顺序',
    onCallHint: '紧急告警无人确认时依次呼叫：1 最先；留空表示不参与值班呼叫',
    none: '—',
    allTypes: '全部类型',
    disabled: '已停用',
    actions: '操作',
    edit: '编辑',
    remove: '删除',
    removeTitle: '删除通知联系人',
    removeConfirm: '确定删除「{name}」吗？删除后将不再通知此人。',
    created: '已添加联系人 {name}。',
    saved: '已保存。',
    removed: '已删除联系人 {name}。',
    channelRequired: '请至少选择一个渠道。',
    'channel.wecom': '企业微信',
    'channel.dingtalk': '钉钉',
    'channel.feishu': '飞书',
    'channel.sms': '短信',
    'channel.voice': '语音',
    'channel.email': '邮件',
  },
  en: {
    title: 'Notification contacts',
    intro: 'When an alert is raised, escalated or left unacknowledged, the gateway tells these people by group robot, SMS, voice call or e-mail, as their rules say. During quiet hours only critical alerts are sent.',
    party: 'Party',
    partyHint: 'The queue its alerts go to, e.g. property/co-1, maintenance/mu-3, street/南山街道, fire-service',
    ownParty: 'Your party: {party}',
    count: '{n} in total',
    empty: 'No notification contacts yet.',
    add: 'Add contact',
    addTitle: 'Add a notification contact',
    editTitle: 'Edit contact: {name}',
    name: 'Name',
    phone: 'Mobile',
    phoneHint: 'For SMS and voice calls, e.g. 13800138000',
    email: 'E-mail',
    robots: 'Group robots',
    robotsHint: 'Robot names from the gateway\'s configuration, separated by commas',
    rules: 'Rules',
    rulesHint: 'Each rule: which alerts, by which channels. A contact without rules hears only from the on-call chain.',
    disabledField: 'Disabled (kept, but sent nothing)',
    rule: 'Rule {n}',
    channels: 'Channels',
    types: 'Alert types',
    typesHint: 'e.g. elevator.trapped or elevator.*, separated by commas; empty: every type',
    minSeverity: 'Least severity',
    anySeverity: 'Every severity',
    atLeast: '{sev} and above',
    addRule: 'Add rule',
    removeRule: 'Remove this rule',
    quietHours: 'Quiet hours',
    quietFrom: 'From',
    quietTo: 'To',
    quietHint: 'Only critical alerts are sent in this period; fill in both or neither',
    quietBoth: 'Fill in both the start and the end.',
    onCall: 'On-call order',
    onCallHint: 'Called in turn when nobody acknowledges a critical alert: 1 first; empty: not on call',
    none: '—',
    allTypes: 'Every type',
    disabled: 'Disabled',
    actions: 'Actions',
    edit: 'Edit',
    remove: 'Delete',
    removeTitle: 'Delete notification contact',
    removeConfirm: 'Delete "{name}"? They will no longer be notified.',
    created: 'Contact {name} added.',
    saved: 'Saved.',
    removed: 'Contact {name} deleted.',
    channelRequired: 'Choose at least one channel.',
    'channel.wecom': 'WeCom',
    'channel.dingtalk': 'DingTalk',
    'channel.feishu': 'Feishu',
    'channel.sms': 'SMS',
    'channel.voice': 'Voice call',
    'channel.email': 'E-mail',
  },
};

/** This page's label in the console's language (Chinese unless switched). */
export function s(key, params) {
  let text = (STRINGS[getLang()] ?? STRINGS.zh)[key] ?? STRINGS.zh[key] ?? key;
  if (params) for (const [k, v] of Object.entries(params)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

export const channelName = (c) => (STRINGS.zh[`channel.${c}`] ? s(`channel.${c}`) : c);

let uid = 0;

/**
 * A labelled control with its own error line, in forms.js's markup (`.field[data-field]`), so
 * `clearErrors` finds it; `name` is the API path it edits (`rules.0.channels`).
 */
function fieldBox(name, label, control, { hint, required } = {}) {
  const id = control.id || `contact-f${++uid}`;
  control.id = id;
  const error = h('p.field-error', { id: `${id}-error`, role: 'alert', hidden: true });
  control.setAttribute('aria-describedby', error.id);
  if (required) control.required = true;
  return h('div.field', { dataset: { field: name } },
    h('label', { for: id }, label, required ? h('span.req', { 'aria-hidden': 'true' }, ' *') : null),
    control, hint ? h('small.hint', null, hint) : null, error);
}

const text = (props = {}) => h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', ...props });
const list = (v) => v.split(/[,，、\s]+/).map((x) => x.trim()).filter(Boolean);

/** `['body', 'rules', 0, 'channels']`, `/rules/0/channels`, `body.rules.0.channels` → `['rules', '0', 'channels']`. */
function pathOf(path) {
  const parts = (Array.isArray(path) ? path.map(String) : String(path ?? '').split(/[./]/)).filter((p) => p !== '');
  if (['body', 'querystring', 'params'].includes(parts[0])) parts.shift();
  return parts;
}

/** An error under the field its path names, or under the nearest field that holds it (`rules.0` for `rules.0.types.2`). */
function showAt(form, path, message) {
  const parts = pathOf(path);
  for (let n = parts.length; n > 0; n--) {
    const name = parts.slice(0, n).join('.');
    const f = [...form.querySelectorAll('.field')].find((el) => el.dataset.field === name && !el.hidden);
    if (!f) continue;
    const e = f.querySelector(':scope > .field-error');
    e.textContent = e.hidden ? message : `${e.textContent} ${message}`;
    e.hidden = false;
    f.querySelector('input, select, textarea')?.setAttribute('aria-invalid', 'true');
    return true;
  }
  return false;
}

/** The gateway's 400: each `details[]` under its field; the rest in the form's error line. */
function showErrors(form, err) {
  clearErrors(form);
  const details = err instanceof ApiError && Array.isArray(err.details) ? err.details : [];
  let unmatched = details.length === 0;
  for (const d of details) if (!d || typeof d.message !== 'string' || !showAt(form, d.path, d.message)) unmatched = true;
  formError(form, unmatched ? errorText(err) : t('form.checkFields'));
}

function ruleText(r) {
  const sev = r.minSeverity ? s('atLeast', { sev: t(`severity.${r.minSeverity}`) }) : s('anySeverity');
  const types = r.types && r.types.length > 0 ? r.types.join(', ') : s('allTypes');
  return `${r.channels.map(channelName).join(getLang() === 'en' ? ', ' : '、')}：${types} · ${sev}`.replace('：', getLang() === 'en' ? ': ' : '：');
}

export function createContactsView(ctx) {
  const { root } = ctx;
  const blank = () => ({ mounted: false, items: null, error: null });
  let state = blank();
  let loads = 0;

  async function load() {
    const mine = ++loads;
    try {
      const answer = await ctx.api('GET', '/api/v1/contacts');
      if (mine !== loads) return;
      state.items = Array.isArray(answer) ? answer : answer.items ?? [];
      state.error = null;
    } catch (err) {
      if (ctx.fail(err) || mine !== loads) return;
      state.error = errorText(err);
    }
    render();
  }

  /** One rule's editor; `i` is its place in `rules` (the API's path). */
  function ruleBox(rule, i, onRemove) {
    const checks = CHANNELS.map((c) => h('label.channel-choice', null,
      h('input', { type: 'checkbox', name: 'channel', value: c, checked: rule.channels.includes(c) }), ' ', channelName(c)));
    const channels = h('fieldset.channels', { id: `contact-rule-${i}-channels`, tabindex: '-1' }, h('legend', null, s('channels')), checks);
    const channelsError = h('p.field-error', { id: `contact-rule-${i}-channels-error`, role: 'alert', hidden: true });
    channels.setAttribute('aria-describedby', channelsError.id);
    const types = text({ id: `contact-rule-${i}-types`, name: 'types', value: (rule.types ?? []).join(', '), maxlength: '500' });
    const sev = h('select', { id: `contact-rule-${i}-severity`, name: 'minSeverity' },
      h('option', { value: '' }, s('anySeverity')),
      SEVERITIES.map((v) => h('option', { value: v, selected: rule.minSeverity === v }, s('atLeast', { sev: t(`severity.${v}`) }))));
    return h('div.field.contact-rule', { dataset: { field: `rules.${i}` } },
      h('div.rule-head', null, h('strong', null, s('rule', { n: i + 1 })),
        h('button.remove-rule', { type: 'button', onclick: onRemove, title: s('removeRule') }, s('removeRule'))),
      h('div.field', { dataset: { field: `rules.${i}.channels` } }, channels, channelsError),
      fieldBox(`rules.${i}.types`, s('types'), types, { hint: s('typesHint') }),
      fieldBox(`rules.${i}.minSeverity`, s('minSeverity'), sev),
      h('p.field-error', { role: 'alert', hidden: true }));
  }

  /** The rules' editor: rules added and removed in place (the drafts survive). */
  function rulesEditor(initial) {
    let rules = initial.map((r) => ({ ...r, channels: [...r.channels] }));
    const holder = h('div.rules');
    const read = () => [...holder.querySelectorAll('.contact-rule')].map((box) => ({
      channels: [...box.querySelectorAll('input[name="channel"]:checked')].map((c) => c.value),
      types: list(box.querySelector('input[name="types"]').value),
      minSeverity: box.querySelector('select[name="minSeverity"]').value || undefined,
    }));
    const draw = () => holder.replaceChildren(...rules.map((r, i) => ruleBox(r, i, () => { rules = read(); rules.splice(i, 1); draw(); })));
    draw();
    const add = h('button.add-rule#contact-add-rule', { type: 'button', onclick: () => { rules = [...read(), { channels: [] }]; draw(); } }, s('addRule'));
    const box = h('div.field.contact-rules', { dataset: { field: 'rules' } },
      h('span.label', null, s('rules')),
      h('small.hint', null, s('rulesHint')), holder, add,
      h('p.field-error', { id: 'contact-rules-error', role: 'alert', hidden: true }));
    return { box, read };
  }

  /** The form's body for POST (`creating`) or PATCH: a PATCH clears a field that was emptied (null). */
  function body(form, rules, creating) {
    const v = (name) => form.querySelector(`[name="${name}"]`)?.value.trim() ?? '';
    const out = {};
    const opt = (key, value) => { if (value !== '' && value !== undefined) out[key] = value; else if (!creating) out[key] = null; };
    if (creating && isAdmin(ctx.me())) out.party = v('party');
    out.name = v('name');
    opt('phone', v('phone'));
    opt('email', v('email'));
    out.robots = list(v('robots'));
    out.rules = rules.read().map((r) => ({
      channels: r.channels, ...(r.types.length > 0 ? { types: r.types } : {}), ...(r.minSeverity ? { minSeverity: r.minSeverity } : {}),
    }));
    const from = v('quietFrom');
    const to = v('quietTo');
    opt('quietHours', from || to ? { from, to } : '');
    opt('onCall', v('onCall') === '' ? '' : Number(v('onCall')));
    const disabled = form.querySelector('[name="disabled"]');
    if (disabled) out.disabled = disabled.checked;
    return out;
  }

  /** What the page can tell before asking: a rule with no channel, half of the quiet hours. */
  function check(form, b) {
    clearErrors(form);
    let ok = true;
    b.rules.forEach((r, i) => { if (r.channels.length === 0) { showAt(form, `rules.${i}.channels`, s('channelRequired')); ok = false; } });
    if (b.quietHours && (!b.quietHours.from || !b.quietHours.to)) { showAt(form, 'quietHours', s('quietBoth')); ok = false; }
    if (!ok) {
      formError(form, t('form.checkFields'));
      const err = new Error('checked in the page');
      err.local = true;
      throw err;
    }
  }

  function openForm(c) {
    const creating = !c;
    const admin = isAdmin(ctx.me());
    const rules = rulesEditor(c ? c.rules : [{ channels: ['sms'], minSeverity: 'critical' }]);
    const fields = [
      creating && admin ? fieldBox('party', s('party'), text({ id: 'contact-party', name: 'party', maxlength: '200' }), { required: true, hint: s('partyHint') }) : null,
      fieldBox('name', s('name'), text({ id: 'contact-name', name: 'name', maxlength: '100', value: c?.name ?? '' }), { required: true }),
      fieldBox('phone', s('phone'), text({ id: 'contact-phone', name: 'phone', type: 'tel', maxlength: '32', value: c?.phone ?? '' }), { hint: s('phoneHint') }),
      fieldBox('email', s('email'), text({ id: 'contact-email', name: 'email', type: 'email', maxlength: '200', value: c?.email ?? '' })),
      fieldBox('robots', s('robots'), text({ id: 'contact-robots', name: 'robots', maxlength: '500', value: (c?.robots ?? []).join(', ') }), { hint: s('robotsHint') }),
      h('div.field.quiet-hours', { dataset: { field: 'quietHours' } },
        h('span.label', null, s('quietHours')),
        h('div.quiet-row', null,
          h('div.field', { dataset: { field: 'quietHours.from' } },
            h('label', { for: 'contact-quiet-from' }, s('quietFrom')),
            h('input#contact-quiet-from', { type: 'time', name: 'quietFrom', value: c?.quietHours?.from ?? '' }),
            h('p.field-error', { role: 'alert', hidden: true })),
          h('div.field', { dataset: { field: 'quietHours.to' } },
            h('label', { for: 'contact-quiet-to' }, s('quietTo')),
            h('input#contact-quiet-to', { type: 'time', name: 'quietTo', value: c?.quietHours?.to ?? '' }),
            h('p.field-error', { role: 'alert', hidden: true }))),
        h('small.hint', null, s('quietHint')),
        h('p.field-error', { id: 'contact-quiet-error', role: 'alert', hidden: true })),
      creating ? null : h('div.field.contact-disabled', { dataset: { field: 'disabled' } },
        h('label.check', null, h('input#contact-disabled', { type: 'checkbox', name: 'disabled', checked: !!c.disabled }), ' ', s('disabledField')),
        h('p.field-error', { role: 'alert', hidden: true })),
      fieldBox('onCall', s('onCall'), text({ id: 'contact-oncall', name: 'onCall', type: 'number', min: '1', max: '99', step: '1', value: c?.onCall ?? '' }), { hint: s('onCallHint') }),
      rules.box,
    ].filter(Boolean);
    formDialog({
      id: 'contact-form',
      title: creating ? s('addTitle') : s('editTitle', { name: c.name }),
      intro: creating && !admin ? s('ownParty', { party: ownParty() }) : null,
      submitKey: creating ? 'form.create' : 'form.save',
      fields,
      submit: async (form) => {
        const b = body(form, rules, creating);
        check(form, b);
        try {
          return await ctx.api(creating ? 'POST' : 'PATCH', creating ? '/api/v1/contacts' : `/api/v1/contacts/${enc(c.id)}`, b);
        } catch (err) {
          if (ctx.fail(err)) { err.local = true; throw err; }
          // shown here, down to one rule's field (formDialog's own mapping stops at the first path segment)
          showErrors(form, err);
          err.local = true;
          throw err;
        }
      },
      done: (saved) => { toast(creating ? s('created', { name: saved?.name ?? '' }) : s('saved')); load(); },
    });
  }

  async function remove(c) {
    const ok = await confirmDialog({ title: s('removeTitle'), message: s('removeConfirm', { name: c.name }), confirmKey: s('remove') });
    if (!ok) return;
    try {
      await ctx.api('DELETE', `/api/v1/contacts/${enc(c.id)}`);
      toast(s('removed', { name: c.name }));
    } catch (err) {
      if (ctx.fail(err)) return;
      state.error = errorText(err);
    }
    load();
  }

  const ownParty = () => {
    const me = ctx.me();
    if (!me) return '';
    if (me.role === 'market-supervision' || me.role === 'fire-service') return me.role;
    return me.scope ? `${me.role}/${me.scope}` : me.role;
  };

  function render() {
    if (!state.mounted) return;
    const me = ctx.me();
    const admin = isAdmin(me);
    const items = state.items;
    const head = h('div.panel-head', null, h('h2', null, s('title')),
      items ? h('span.muted.count', null, s('count', { n: items.length })) : null,
      h('div.head-actions', null, h('button.primary#contact-new', { type: 'button', onclick: () => openForm(null) }, s('add'))));
    const intro = [h('p.muted', null, s('intro')), admin ? null : h('p.muted#contacts-party', null, s('ownParty', { party: ownParty() }))];
    if (!items) { root.replaceChildren(...[head, ...intro, statusLine(state.error)].filter(Boolean)); return; }
    const heads = [...(admin ? ['party'] : []), 'name', 'phone', 'email', 'robots', 'rules', 'quietHours', 'onCall', 'actions'];
    const rows = items.map((c) => h('tr.contact-row', { dataset: { id: c.id, party: c.party } },
      admin ? h('td', { 'data-label': s('party') }, named(c.partyName, c.party)) : null,
      h('td.contact-name', { 'data-label': s('name') }, h('strong', null, c.name), c.disabled ? h('span.badge', null, s('disabled')) : null),
      h('td', { 'data-label': s('phone') }, c.phone || s('none')),
      h('td', { 'data-label': s('email') }, c.email || s('none')),
      h('td', { 'data-label': s('robots') }, (c.robots ?? []).join(', ') || s('none')),
      h('td.contact-rule-lines', { 'data-label': s('rules') }, (c.rules ?? []).map((r) => h('div.rule-line', null, ruleText(r)))),
      h('td', { 'data-label': s('quietHours') }, c.quietHours ? `${c.quietHours.from}–${c.quietHours.to}` : s('none')),
      h('td.num', { 'data-label': s('onCall') }, c.onCall ?? s('none')),
      h('td', { 'data-label': s('actions') }, h('div.row-actions', null,
        h('button.edit', { type: 'button', onclick: () => openForm(c) }, s('edit')),
        h('button.remove', { type: 'button', onclick: () => remove(c) }, s('remove'))))));
    root.replaceChildren(...[head, ...intro,
      state.error ? h('p.error#contacts-error', { role: 'alert' }, state.error) : null,
      items.length === 0 ? h('p.empty', null, s('empty')) : h('div.table-wrap', null, h('table.contacts.stack#contact-list', null,
        h('thead', null, h('tr', null, heads.map((k) => h('th', { scope: 'col' }, s(k))))), h('tbody', null, rows))),
    ].filter(Boolean));
  }

  return {
    show() { state.mounted = true; render(); load(); },
    render,
    reset() { loads++; state = blank(); root.replaceChildren(); },
  };
}
