// Sites (小区): the list with their company, where they are and how many devices they have; a
// site's detail with its operator and who was responsible when; create, edit and (admins) hand a
// site over to another company (移交), possibly to an emergency operator (应急物业) for a while.
import { t } from './i18n.js';
import { h } from './dom.js';
import { isAdmin } from './access.js';
import {
  addMonths, confirmDialog, toast, field, formDialog, input, localError, named, select, statusLine, table, todayISO, values,
} from './forms.js';

const AREAS = ['urban', 'rural'];
const enc = encodeURIComponent;

const formatDate = (ms) => {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
};

export function createSitesView(ctx) {
  const { root } = ctx;
  const state = { sites: null, devices: [], companies: [], error: null, id: null, detail: null, detailError: null, history: null, mounted: false };

  async function load() {
    const me = ctx.me();
    const [sites, devices, companies] = await Promise.allSettled([
      ctx.api('GET', '/api/v1/sites'), ctx.api('GET', '/api/v1/devices'), ctx.api('GET', '/api/v1/companies'),
    ]);
    if (ctx.me() !== me) return;
    for (const r of [sites, devices, companies]) if (r.status === 'rejected' && ctx.fail(r.reason)) return;
    state.error = sites.status === 'rejected' ? sites.reason.message : null;
    if (sites.status === 'fulfilled') state.sites = sites.value;
    if (devices.status === 'fulfilled') state.devices = devices.value;
    if (companies.status === 'fulfilled') state.companies = companies.value;
    render();
  }

  async function loadDetail(id) {
    state.detail = null;
    state.detailError = null;
    state.history = null;
    render();
    const [site, history] = await Promise.allSettled([
      ctx.api('GET', `/api/v1/sites/${enc(id)}`), ctx.api('GET', `/api/v1/sites/${enc(id)}/responsibility`),
    ]);
    if (id !== state.id) return;
    if (site.status === 'rejected') {
      if (ctx.fail(site.reason)) return;
      state.detailError = site.reason.message;
    } else state.detail = site.value;
    // the responsibility history is shown when the gateway has it; any refusal (404 before it exists) hides it
    state.history = history.status === 'fulfilled' && Array.isArray(history.value) ? history.value : null;
    render();
  }

  const companyOptions = () => state.companies.map((c) => [c.id, c.name || c.id]);
  const deviceCount = (siteId) => state.devices.filter((d) => d.siteId === siteId).length;

  /** The fields a site's create and edit forms share. */
  function whereFields(prefix, s = {}) {
    return [
      field('name', `${prefix}-name`, 'sites.name', input({ value: s.name ?? '', maxlength: '200' }), { required: true }),
      field('address', `${prefix}-address`, 'sites.address', input({ value: s.address ?? '', maxlength: '500' })),
      field('street', `${prefix}-street`, 'sites.street', input({ value: s.street ?? '', maxlength: '100', placeholder: t('sites.streetExample') })),
      field('community', `${prefix}-community`, 'sites.community', input({ value: s.community ?? '', maxlength: '100' })),
      field('grid', `${prefix}-grid`, 'sites.grid', input({ value: s.grid ?? '', maxlength: '100' })),
      field('area', `${prefix}-area`, 'sites.area', select(AREAS.map((a) => [a, t(`area.${a}`)]), { value: s.area ?? 'urban' }),
        { hint: t('sites.areaHint') }),
    ];
  }

  function createSite() {
    const me = ctx.me();
    const own = me.role === 'property';
    const company = own
      ? field('companyId', 'site-company', 'sites.company', select([[me.scope, state.companies.find((c) => c.id === me.scope)?.name || me.scope]], { value: me.scope, disabled: true }))
      : field('companyId', 'site-company', 'sites.company', select(companyOptions(), { placeholder: t('form.choose') }), { required: true });
    formDialog({
      id: 'site-form',
      title: t('sites.create'),
      submitKey: 'form.create',
      fields: [field('id', 'site-id', 'form.id', input({ maxlength: '128' }), { required: true, hint: t('form.idHint') }), company, ...whereFields('site')],
      submit: (form) => ctx.api('POST', '/api/v1/sites', { ...values(form), ...(own ? { companyId: me.scope } : {}) }),
      done: (site) => { ctx.changed(); toast(t('sites.created', { name: site.name })); load(); },
    });
  }

  function editSite(s) {
    formDialog({
      id: 'site-edit-form',
      title: t('sites.editTitle', { name: s.name }),
      fields: whereFields('site-edit', s),
      submit: (form) => ctx.api('PATCH', `/api/v1/sites/${enc(s.id)}`, values(form)),
      done: () => { ctx.changed(); toast(t('form.saved')); refresh(); },
    });
  }

  /** 移交: the site goes to another company from a date, perhaps to an emergency operator until another date (at most 6 months). */
  function handover(s) {
    const today = todayISO();
    const from = input({ type: 'date', value: today, min: today });
    const until = input({ type: 'date' });
    formDialog({
      id: 'handover-form',
      title: t('handover.title', { name: s.name }),
      intro: t('handover.intro', { company: s.companyName || s.companyId }),
      submitKey: 'handover.submit',
      fields: [
        field('companyId', 'handover-company', 'handover.company', select(companyOptions().filter(([id]) => id !== s.companyId), { placeholder: t('form.choose') }), { required: true }),
        field('from', 'handover-from', 'handover.from', from, { required: true }),
        field('emergencyUntil', 'handover-until', 'handover.emergencyUntil', until, { hint: t('handover.emergencyHint') }),
      ],
      submit: async (form) => {
        const v = values(form);
        if (!v.companyId) throw localError(form, 'companyId', t('form.required'));
        if (v.emergencyUntil) {
          const start = v.from ?? today;
          if (v.emergencyUntil < start) throw localError(form, 'emergencyUntil', t('handover.untilBeforeFrom'));
          if (v.emergencyUntil > addMonths(start, 6)) throw localError(form, 'emergencyUntil', t('handover.untilTooLate'));
        }
        const ok = await confirmDialog({
          title: t('handover.confirmTitle'),
          message: t('handover.confirm', { site: s.name, company: state.companies.find((c) => c.id === v.companyId)?.name ?? v.companyId, from: v.from ?? today }),
          confirmKey: 'handover.submit',
        });
        if (!ok) { const e = new Error('cancelled'); e.local = true; throw e; }
        // today means now: the day's midnight may lie before the current company's own start (a site registered today)
        const from = v.from && v.from !== today ? { from: v.from } : {};
        return ctx.api('PATCH', `/api/v1/sites/${enc(s.id)}`, { companyId: v.companyId, ...from, ...(v.emergencyUntil ? { emergencyUntil: v.emergencyUntil } : {}) });
      },
      done: () => { ctx.changed(); toast(t('handover.done')); refresh(); },
    });
  }

  function refresh() {
    load();
    if (state.id) loadDetail(state.id);
  }

  /** The operator badge: 应急物业 until a date, shown only when the gateway says so. */
  function operatorBadge(s) {
    if (s.operator !== 'emergency') return null;
    return h('span.badge.emergency', null, s.emergencyUntil ? t('sites.emergencyUntil', { date: s.emergencyUntil }) : t('sites.emergency'));
  }

  function pendingLine(s) {
    const p = s.pendingHandover;
    if (!p || !p.companyId) return null;
    return h('p.notice.pending-handover', null, t(p.emergencyUntil ? 'sites.pendingEmergency' : 'sites.pending', {
      company: p.companyName || p.companyId, from: p.from ?? '', until: p.emergencyUntil ?? '',
    }));
  }

  const buttons = (s) => [
    h('button.edit-site', { type: 'button', onclick: () => editSite(s) }, t('form.edit')),
    isAdmin(ctx.me()) ? h('button.handover', { type: 'button', onclick: () => handover(s) }, t('handover.button')) : null,
  ];
  const actions = (s) => h('div.row-actions', null, h('a.button.open-site', { href: `#/sites/${enc(s.id)}` }, t('sites.open')), buttons(s));

  function renderList() {
    const head = h('div.panel-head', h('h2', null, t('sites.title')),
      state.sites ? h('span.muted.count', null, t('sites.count', { n: state.sites.length })) : null,
      h('div.head-actions', null,
        h('a.button', { href: '#/import' }, t('nav.import')),
        h('button.primary#site-new', { type: 'button', onclick: createSite, disabled: !state.sites }, t('sites.create'))));
    if (!state.sites) return [head, statusLine(state.error)];
    if (state.sites.length === 0) return [head, h('p.empty', null, t('sites.empty'))];
    const rows = [...state.sites].sort((a, b) => a.name.localeCompare(b.name, 'zh-CN') || a.id.localeCompare(b.id)).map((s) => h('tr.site-row', { dataset: { id: s.id } },
      h('td', { 'data-label': t('sites.name') }, h('strong', null, named(s.name, s.id)), operatorBadge(s), s.pendingHandover ? h('span.badge', null, t('sites.pendingShort')) : null),
      h('td', { 'data-label': t('sites.company') }, s.companyName || s.companyId),
      h('td', { 'data-label': t('sites.street') }, s.street ?? '—'),
      h('td', { 'data-label': t('sites.community') }, s.community ?? '—'),
      h('td', { 'data-label': t('sites.grid') }, s.grid ?? '—'),
      h('td.area', { 'data-label': t('sites.area') }, t(`area.${s.area ?? 'urban'}`)),
      h('td.num.device-count', { 'data-label': t('sites.devices') }, String(deviceCount(s.id))),
      h('td', { 'data-label': t('form.actions') }, actions(s))));
    return [head, table('sites.stack', ['sites.name', 'sites.company', 'sites.street', 'sites.community', 'sites.grid', 'sites.area', 'sites.devices', 'form.actions'], rows)];
  }

  function renderDetail() {
    const back = h('a.back-link', { href: '#/sites' }, `← ${t('sites.back')}`);
    const s = state.detail;
    if (!s) return [back, statusLine(state.detailError)];
    const fact = (k, v) => [h('dt', null, t(k)), h('dd', null, v ?? '—')];
    const devices = state.devices.filter((d) => d.siteId === s.id);
    const history = state.history;
    return [
      back,
      h('div.panel-head', h('h2#site-title', null, s.name), operatorBadge(s), h('div.head-actions', null, buttons(s))),
      pendingLine(s),
      h('dl.facts', null,
        fact('form.id', s.id), fact('sites.company', s.companyName || s.companyId), fact('sites.address', s.address), fact('sites.street', s.street),
        fact('sites.community', s.community), fact('sites.grid', s.grid), fact('sites.area', t(`area.${s.area ?? 'urban'}`)),
        s.operator ? fact('sites.operator', s.operator === 'emergency' ? t('sites.emergency') : t('sites.regular')) : [],
        s.emergencyUntil ? fact('handover.emergencyUntil', s.emergencyUntil) : [],
        fact('sites.devices', devices.length > 0 ? devices.map((d) => `${t(`kind.${d.kind}`)} ${d.location || d.id}`).join('；') : t('sites.noDevices'))),
      history ? h('section#responsibility', null, h('h3', null, t('sites.history')),
        history.length === 0 ? h('p.muted', null, t('sites.historyEmpty')) : table('responsibility', ['sites.company', 'sites.fromDate', 'sites.untilDate', 'sites.operator', 'sites.actor'],
          history.map((r) => h('tr', { dataset: { company: r.companyId } },
            h('td', null, named(r.companyName, r.companyId)),
            h('td', null, formatDate(r.from)),
            h('td', null, r.until === null || r.until === undefined ? t('sites.current') : formatDate(r.until)),
            h('td', null, t(r.emergency ? 'sites.emergency' : 'sites.regular')),
            h('td', null, r.actor ?? '—'))))) : null,
    ];
  }

  function render() {
    if (!state.mounted) return;
    root.replaceChildren(...(state.id ? renderDetail() : renderList()).filter(Boolean));
  }

  return {
    show(params) {
      const id = params[0] ? decodeURIComponent(params[0]) : null;
      const first = !state.mounted;
      state.mounted = true;
      if (id !== state.id) { state.id = id; if (id) loadDetail(id); }
      render();
      if (first || !id) load();
    },
    render,
    reset() { Object.assign(state, { sites: null, devices: [], companies: [], error: null, id: null, detail: null, history: null, mounted: false }); root.replaceChildren(); },
  };
}
