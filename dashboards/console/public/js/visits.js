// Maintenance visits (维保记录). A maintenance account sees the elevators its unit maintains with a
// Start button (签到), each visit under way with its elapsed time and a Finish form (签退: the
// checklist items done and a note), and its unit's visits. Property companies, market supervision
// and admins read the visits with filters (elevator, suspect only, period). Every finished visit
// shows whether the elevator's own telemetry supports it: valid, or suspect (疑似虚假维保).
// The gateway decides who may do what (supervision/visits); this page only offers what a role may.
import { getLang } from './i18n.js';
import { formatDuration, formatTime, h, serverNow } from './dom.js';
import { errorText, toast } from './forms.js';

/** The checklist offered on the Finish form (the usual half-monthly items of TSG T5002). */
const CHECKLIST = ['machine', 'brake', 'doors', 'safety', 'car', 'shaft', 'pit', 'phone'];

const STRINGS = {
  zh: {
    title: '维保记录',
    count: '共 {n} 条',
    loading: '加载中…',
    loadFailed: '加载失败：{msg}',
    elevators: '本单位维保的电梯',
    noElevators: '没有本单位维保的电梯。',
    underWay: '进行中的维保',
    noneUnderWay: '当前没有进行中的维保。',
    list: '维保记录',
    empty: '没有符合条件的维保记录。',
    more: '加载更多',
    elevator: '电梯',
    site: '小区',
    registrationCode: '注册代码',
    unit: '维保单位',
    company: '物业公司',
    startedAt: '签到时间',
    finishedAt: '签退时间',
    elapsed: '已进行',
    modeTime: '检修/维保模式时长',
    minutes: '{n} 分钟',
    result: '核验结果',
    actions: '操作',
    start: '开始维保',
    starting: '签到中…',
    started: '已开始 {name} 的维保。',
    inProgress: '维保中',
    finish: '结束维保',
    finished: '维保已结束：{result}。',
    items: '已完成的维保项目',
    note: '备注',
    notePlaceholder: '维保情况说明（记入维保记录）',
    valid: '有效',
    suspect: '疑似虚假维保',
    open: '进行中',
    auto: '超时未签退，系统结束',
    by: '签到人',
    filterDevice: '电梯',
    allElevators: '全部电梯',
    suspectOnly: '只看疑似虚假维保',
    from: '开始日期',
    to: '结束日期',
    apply: '筛选',
    suspectHint: '检修/维保模式不足规定时长的维保记为疑似虚假维保，计入考核。',
    'item.machine': '曳引机',
    'item.brake': '制动器',
    'item.doors': '门系统',
    'item.safety': '安全回路',
    'item.car': '轿厢',
    'item.shaft': '井道',
    'item.pit': '底坑',
    'item.phone': '应急通话装置',
  },
  en: {
    title: 'Maintenance visits',
    count: '{n} in total',
    loading: 'Loading…',
    loadFailed: 'Could not load: {msg}',
    elevators: 'Elevators your unit maintains',
    noElevators: 'Your unit maintains no elevators.',
    underWay: 'Visits under way',
    noneUnderWay: 'No visit is under way.',
    list: 'Visits',
    empty: 'No visits match.',
    more: 'Load more',
    elevator: 'Elevator',
    site: 'Site',
    registrationCode: 'Registration code',
    unit: 'Maintenance unit',
    company: 'Property company',
    startedAt: 'Signed in',
    finishedAt: 'Signed out',
    elapsed: 'Elapsed',
    modeTime: 'Time in inspection / maintenance mode',
    minutes: '{n} min',
    result: 'Check',
    actions: 'Actions',
    start: 'Start visit',
    starting: 'Signing in…',
    started: 'Visit of {name} started.',
    inProgress: 'Under way',
    finish: 'Finish visit',
    finished: 'Visit finished: {result}.',
    items: 'Items done',
    note: 'Note',
    notePlaceholder: 'What was done (kept in the maintenance record)',
    valid: 'Valid',
    suspect: 'Suspect (not supported by telemetry)',
    open: 'Under way',
    auto: 'Not signed out: ended by the gateway',
    by: 'Signed in by',
    filterDevice: 'Elevator',
    allElevators: 'All elevators',
    suspectOnly: 'Suspect visits only',
    from: 'From',
    to: 'To',
    apply: 'Filter',
    suspectHint: 'A visit with too little time in inspection / maintenance mode is counted as suspect in the scorecards.',
    'item.machine': 'Traction machine',
    'item.brake': 'Brake',
    'item.doors': 'Door system',
    'item.safety': 'Safety circuit',
    'item.car': 'Car',
    'item.shaft': 'Shaft',
    'item.pit': 'Pit',
    'item.phone': 'Emergency phone',
  },
};

/** This page's label in the console's language (Chinese unless switched). */
function s(key, params) {
  let text = (STRINGS[getLang()] ?? STRINGS.zh)[key] ?? STRINGS.zh[key] ?? key;
  if (params) for (const [k, v] of Object.entries(params)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

/** A table whose header cells are this page's labels. */
const table = (id, heads, rows) => h('div.table-wrap', null, h(`table#${id}`, null,
  h('thead', null, h('tr', null, heads.map((k) => h('th', { scope: 'col' }, s(k))))), h('tbody', null, rows)));

/** The elevator as people name it: its location and site, its id only when nothing else is known. */
const elevatorName = (v) => [v.siteName, v.location].filter(Boolean).join(' ') || v.deviceId;

function badge(v) {
  if (v.state === 'open') return h('span.badge.visit-badge.open', null, s('open'));
  if (v.valid) return h('span.state-badge.ok-text.visit-badge.valid', null, s('valid'));
  return h('span.badge.emergency.visit-badge.suspect', { title: s('suspectHint') }, s('suspect'));
}

export function createVisitsView(ctx) {
  const { root } = ctx;
  const blank = () => ({
    mounted: false, elevators: null, visits: null, nextBefore: null, error: null, busy: new Set(),
    filters: { deviceId: '', suspect: false, from: '', to: '' }, drafts: new Map(),
  });
  let state = blank();
  let ticker = null;
  /** Each load is numbered: an answer for an older one (or another sign-in) is dropped. */
  let loads = 0;

  const isMaintenance = () => ctx.me()?.role === 'maintenance';

  function query(before) {
    const f = state.filters;
    const q = new URLSearchParams({ limit: '50' });
    if (!isMaintenance()) {
      if (f.deviceId) q.set('deviceId', f.deviceId);
      if (f.suspect) q.set('suspect', 'true');
      if (f.from) q.set('from', f.from);
      if (f.to) q.set('to', f.to);
    }
    if (before) q.set('before', String(before));
    return `/api/v1/maintenance-visits?${q}`;
  }

  async function load() {
    const mine = ++loads;
    const [elevators, visits] = await Promise.allSettled([ctx.api('GET', '/api/v1/devices?kind=elevator'), ctx.api('GET', query())]);
    if (mine !== loads) return;
    for (const r of [elevators, visits]) if (r.status === 'rejected' && ctx.fail(r.reason)) return;
    if (elevators.status === 'fulfilled') state.elevators = elevators.value;
    if (visits.status === 'fulfilled') {
      state.visits = visits.value.items;
      state.nextBefore = visits.value.nextBefore ?? null;
      state.error = null;
    } else state.error = errorText(visits.reason);
    render();
  }

  async function more() {
    const mine = ++loads;
    try {
      const page = await ctx.api('GET', query(state.nextBefore));
      if (mine !== loads) return;
      state.visits = [...state.visits, ...page.items];
      state.nextBefore = page.nextBefore ?? null;
    } catch (err) {
      if (ctx.fail(err)) return;
      state.error = errorText(err);
    }
    render();
  }

  async function start(elevator) {
    state.busy.add(elevator.id);
    render();
    try {
      await ctx.api('POST', '/api/v1/maintenance-visits', { deviceId: elevator.id });
      toast(s('started', { name: [elevator.siteName, elevator.location].filter(Boolean).join(' ') || elevator.id }));
      state.error = null;
    } catch (err) {
      if (ctx.fail(err)) return;
      state.error = errorText(err);
    } finally {
      state.busy.delete(elevator.id);
    }
    await load();
  }

  async function finish(v, form) {
    // the record keeps the items in Chinese, whatever language the technician reads the page in
    const items = [...form.querySelectorAll('input[name="item"]:checked')].map((c) => STRINGS.zh[`item.${c.value}`]);
    const note = form.querySelector('textarea[name="note"]').value.trim();
    state.busy.add(v.id);
    render();
    try {
      const done = await ctx.api('POST', `/api/v1/maintenance-visits/${v.id}/finish`, { items, ...(note ? { note } : {}) });
      state.drafts.delete(v.id);
      toast(s('finished', { result: s(done.valid ? 'valid' : 'suspect') }));
      state.error = null;
    } catch (err) {
      if (ctx.fail(err)) return;
      state.error = errorText(err);
    } finally {
      state.busy.delete(v.id);
    }
    await load();
  }

  /** The draft of a Finish form survives re-renders (a language switch, a reload after another action). */
  const draft = (id) => {
    let d = state.drafts.get(id);
    if (!d) state.drafts.set(id, (d = { items: new Set(), note: '' }));
    return d;
  };

  function finishForm(v) {
    const d = draft(v.id);
    const checks = CHECKLIST.map((key) => h('label.visit-item', null,
      h('input', {
        type: 'checkbox', name: 'item', value: key, checked: d.items.has(key),
        onchange: (e) => { if (e.target.checked) d.items.add(key); else d.items.delete(key); },
      }), ' ', s(`item.${key}`)));
    const note = h('textarea', { id: `visit-note-${v.id}`, name: 'note', rows: 2, maxlength: '2000', placeholder: s('notePlaceholder'), oninput: (e) => { d.note = e.target.value; } });
    note.value = d.note;
    // `.actions`: the console's style of a note under an action (the alert detail's)
    return h('form.finish-form.actions', {
      dataset: { id: String(v.id) },
      onsubmit: (e) => { e.preventDefault(); finish(v, e.target); },
    },
    h('fieldset', null, h('legend', null, s('items')), checks.flatMap((c) => [c, ' '])),
    h('label', { for: note.id }, s('note')), note,
    h('button.primary.finish-visit', { type: 'submit', disabled: state.busy.has(v.id) }, s('finish')));
  }

  function renderElevators(open) {
    const head = h('h3', null, s('elevators'));
    if (!state.elevators) return [head, h('p.empty', null, s('loading'))];
    if (state.elevators.length === 0) return [head, h('p.empty', null, s('noElevators'))];
    const rows = state.elevators.map((e) => h('tr.elevator-row', { dataset: { id: e.id } },
      h('td', { 'data-label': s('elevator') }, h('strong', null, e.location || e.id)),
      h('td', { 'data-label': s('site') }, e.siteName || e.siteId),
      h('td', { 'data-label': s('registrationCode') }, e.registrationCode ?? '—'),
      h('td', { 'data-label': s('actions') }, open.has(e.id)
        ? h('span.badge.visit-badge.open', null, s('inProgress'))
        : h('button.primary.start-visit', { type: 'button', disabled: state.busy.has(e.id), onclick: () => start(e) }, state.busy.has(e.id) ? s('starting') : s('start')))));
    return [head, table('visit-elevators', ['elevator', 'site', 'registrationCode', 'actions'], rows)];
  }

  function renderUnderWay(open) {
    const head = h('h3', null, s('underWay'));
    if (open.length === 0) return [head, h('p.empty.none-under-way', null, s('noneUnderWay'))];
    return [head, ...open.map((v) => h('article.visit-open', { dataset: { id: String(v.id) } },
      h('p', null, h('strong', null, elevatorName(v)), ' ', badge(v)),
      h('dl.facts', null,
        h('dt', null, s('startedAt')), h('dd', null, formatTime(v.startedAt)),
        h('dt', null, s('elapsed')), h('dd.visit-elapsed', { dataset: { started: String(v.startedAt) } }, formatDuration(serverNow() - v.startedAt))),
      finishForm(v)))];
  }

  function renderFilters() {
    const f = state.filters;
    const devices = state.elevators ?? [];
    const apply = (e) => {
      e.preventDefault();
      const form = e.target;
      state.filters = {
        deviceId: form.querySelector('#visit-filter-device').value,
        suspect: form.querySelector('#visit-filter-suspect').checked,
        from: form.querySelector('#visit-filter-from').value,
        to: form.querySelector('#visit-filter-to').value,
      };
      state.visits = null;
      render();
      load();
    };
    return h('form.visit-filters', { onsubmit: apply },
      h('label', null, s('filterDevice'), ' ', h('select#visit-filter-device', null,
        h('option', { value: '' }, s('allElevators')),
        devices.map((d) => h('option', { value: d.id, selected: d.id === f.deviceId }, [d.siteName, d.location].filter(Boolean).join(' ') || d.id)))),
      h('label', null, h('input#visit-filter-suspect', { type: 'checkbox', checked: f.suspect }), ' ', s('suspectOnly')),
      h('label', null, s('from'), ' ', h('input#visit-filter-from', { type: 'date', value: f.from })),
      h('label', null, s('to'), ' ', h('input#visit-filter-to', { type: 'date', value: f.to })),
      h('button#visit-filter-apply', { type: 'submit' }, s('apply')));
  }

  function renderList() {
    const head = h('h3', null, s('list'));
    if (!state.visits) return [head, h('p.empty', null, state.error ? s('loadFailed', { msg: state.error }) : s('loading'))];
    const finished = isMaintenance() ? state.visits.filter((v) => v.state !== 'open') : state.visits;
    if (finished.length === 0) return [head, h('p.empty', null, s('empty'))];
    const rows = finished.map((v) => h('tr.visit-row', { dataset: { id: String(v.id) } },
      h('td', { 'data-label': s('elevator') }, h('strong', null, elevatorName(v)), v.registrationCode ? h('small.id', null, ` ${v.registrationCode}`) : null),
      h('td', { 'data-label': s('unit') }, v.unitName),
      h('td', { 'data-label': s('company') }, v.companyName),
      h('td', { 'data-label': s('startedAt') }, formatTime(v.startedAt), h('br'), h('small.muted', null, `${s('by')} ${v.startedBy}`)),
      h('td', { 'data-label': s('finishedAt') }, formatTime(v.finishedAt), v.autoFinished ? h('small.muted.visit-auto', null, ` ${s('auto')}`) : null),
      h('td.num', { 'data-label': s('modeTime') }, v.modeMinutes === null ? '—' : s('minutes', { n: v.modeMinutes })),
      h('td', { 'data-label': s('result') }, badge(v))));
    return [head, table('visit-list', ['elevator', 'unit', 'company', 'startedAt', 'finishedAt', 'modeTime', 'result'], rows),
      state.nextBefore ? h('button#visit-more', { type: 'button', onclick: more }, s('more')) : null];
  }

  function render() {
    if (!state.mounted) return;
    const open = (state.visits ?? []).filter((v) => v.state === 'open');
    root.replaceChildren(...[
      h('div.panel-head', null, h('h2', null, s('title')), state.visits ? h('span.muted.count', null, s('count', { n: state.visits.length })) : null),
      state.error && state.visits ? h('p.error#visit-error', { role: 'alert' }, state.error) : null,
      h('p.muted', null, s('suspectHint')),
      ...(isMaintenance()
        ? [h('section#visits-elevators', null, renderElevators(new Set(open.map((v) => v.deviceId)))), h('section#visits-under-way', null, renderUnderWay(open))]
        : [renderFilters()]),
      h('section#visits-list', null, renderList()),
    ].flat().filter(Boolean));
  }

  /** The elapsed time of the visits under way, once a second, without re-rendering their forms. */
  function tickElapsed() {
    for (const el of root.querySelectorAll('.visit-elapsed')) el.textContent = formatDuration(serverNow() - Number(el.dataset.started));
  }

  return {
    show() {
      state.mounted = true;
      if (!ticker) ticker = setInterval(tickElapsed, 1000);
      render();
      load();
    },
    render,
    hide() {
      clearInterval(ticker);
      ticker = null;
    },
    reset() {
      clearInterval(ticker);
      ticker = null;
      loads++;
      state = blank();
      root.replaceChildren();
    },
  };
}
