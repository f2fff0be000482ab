// Property companies (物业服务企业) and maintenance units (维保单位). An admin lists, creates and
// edits them all; a property company edits its own company's name and phone, a maintenance unit its
// own unit's name and 24 h phone (the gateway enforces the same, this page offers only that).
import { t } from './i18n.js';
import { h } from './dom.js';
import { isAdmin } from './access.js';
import { field, formDialog, input, named, statusLine, table, toast, values } from './forms.js';

const enc = encodeURIComponent;

export function createOrgsView(ctx) {
  const { root } = ctx;
  const state = { companies: null, units: null, error: null, mounted: false };

  const showsCompanies = (me) => me.role === 'admin' || me.role === 'property';
  const showsUnits = (me) => me.role === 'admin' || me.role === 'maintenance';

  async function load() {
    const me = ctx.me();
    const [companies, units] = await Promise.allSettled([
      showsCompanies(me) ? ctx.api('GET', '/api/v1/companies') : Promise.resolve(null),
      showsUnits(me) ? ctx.api('GET', '/api/v1/maintenance-units') : Promise.resolve(null),
    ]);
    for (const r of [companies, units]) if (r.status === 'rejected' && ctx.fail(r.reason)) return;
    const failed = [companies, units].find((r) => r.status === 'rejected');
    state.error = failed ? failed.reason.message : null;
    if (companies.status === 'fulfilled') state.companies = companies.value;
    if (units.status === 'fulfilled') state.units = units.value;
    render();
  }

  const phoneHint = () => t('orgs.phoneHint');

  function createCompany() {
    formDialog({
      id: 'company-form',
      title: t('orgs.createCompany'),
      submitKey: 'form.create',
      fields: [
        field('id', 'company-id', 'form.id', input({ maxlength: '128' }), { required: true, hint: t('form.idHint') }),
        field('name', 'company-name', 'orgs.name', input({ maxlength: '200' }), { required: true }),
        field('creditCode', 'company-credit-code', 'orgs.creditCode', input({ maxlength: '32' })),
        field('phone', 'company-phone', 'orgs.phone', input({ type: 'tel', maxlength: '32' }), { hint: phoneHint() }),
      ],
      submit: (form) => ctx.api('POST', '/api/v1/companies', values(form)),
      done: (c) => { toast(t('orgs.created', { name: c.name })); ctx.changed(); load(); },
    });
  }

  function editCompany(c) {
    const admin = isAdmin(ctx.me());
    formDialog({
      id: 'company-edit-form',
      title: t('orgs.editTitle', { name: c.name }),
      intro: admin ? null : t('orgs.ownOnly'),
      fields: [
        field('name', 'company-edit-name', 'orgs.name', input({ maxlength: '200', value: c.name ?? '' }), { required: true }),
        admin ? field('creditCode', 'company-edit-credit-code', 'orgs.creditCode', input({ maxlength: '32', value: c.creditCode ?? '' })) : null,
        field('phone', 'company-edit-phone', 'orgs.phone', input({ type: 'tel', maxlength: '32', value: c.phone ?? '' }), { hint: phoneHint() }),
      ].filter(Boolean),
      submit: (form) => ctx.api('PATCH', `/api/v1/companies/${enc(c.id)}`, values(form)),
      done: () => { toast(t('form.saved')); ctx.changed(); load(); },
    });
  }

  function createUnit() {
    formDialog({
      id: 'unit-form',
      title: t('orgs.createUnit'),
      submitKey: 'form.create',
      fields: [
        field('id', 'unit-id', 'form.id', input({ maxlength: '128' }), { required: true, hint: t('form.idHint') }),
        field('name', 'unit-name', 'orgs.name', input({ maxlength: '200' }), { required: true }),
        field('licence', 'unit-licence', 'orgs.licence', input({ maxlength: '64' })),
        field('phone', 'unit-phone', 'orgs.phone24', input({ type: 'tel', maxlength: '32' }), { required: true, hint: phoneHint() }),
      ],
      submit: (form) => ctx.api('POST', '/api/v1/maintenance-units', values(form)),
      done: (u) => { toast(t('orgs.created', { name: u.name })); ctx.changed(); load(); },
    });
  }

  function editUnit(u) {
    const admin = isAdmin(ctx.me());
    formDialog({
      id: 'unit-edit-form',
      title: t('orgs.editTitle', { name: u.name }),
      intro: admin ? null : t('orgs.ownOnly'),
      fields: [
        field('name', 'unit-edit-name', 'orgs.name', input({ maxlength: '200', value: u.name ?? '' }), { required: true }),
        admin ? field('licence', 'unit-edit-licence', 'orgs.licence', input({ maxlength: '64', value: u.licence ?? '' })) : null,
        field('phone', 'unit-edit-phone', 'orgs.phone24', input({ type: 'tel', maxlength: '32', value: u.phone ?? '' }), { required: true, hint: phoneHint() }),
      ].filter(Boolean),
      submit: (form) => ctx.api('PATCH', `/api/v1/maintenance-units/${enc(u.id)}`, values(form)),
      done: () => { toast(t('form.saved')); ctx.changed(); load(); },
    });
  }

  /** Whether this account may edit the entry (the API's rule: an admin, or the company / unit itself). */
  const mayEdit = (me, kind, id) => isAdmin(me) || (kind === 'company' ? me.role === 'property' : me.role === 'maintenance') && me.scope === id;

  function companiesSection(me) {
    const list = state.companies;
    const head = h('div.panel-head', h('h2', null, t('orgs.companies')),
      list ? h('span.muted.count', null, t('sites.count', { n: list.length })) : null,
      isAdmin(me) ? h('div.head-actions', null, h('button.primary#company-new', { type: 'button', onclick: createCompany }, t('orgs.createCompany'))) : null);
    if (!list) return h('section.org-section#companies', null, head, statusLine(state.error));
    return h('section.org-section#companies', null, head, list.length === 0 ? h('p.empty', null, t('orgs.noCompanies')) : table('companies.stack',
      ['orgs.name', 'orgs.creditCode', 'orgs.phone', 'form.actions'],
      list.map((c) => h('tr.company-row', { dataset: { id: c.id } },
        h('td', { 'data-label': t('orgs.name') }, h('strong', null, named(c.name, c.id))),
        h('td', { 'data-label': t('orgs.creditCode') }, c.creditCode || '—'),
        h('td.phone', { 'data-label': t('orgs.phone') }, c.phone || '—'),
        h('td', { 'data-label': t('form.actions') }, mayEdit(me, 'company', c.id) ? h('button.edit', { type: 'button', onclick: () => editCompany(c) }, t('form.edit')) : null)))));
  }

  function unitsSection(me) {
    const list = state.units;
    const head = h('div.panel-head', h('h2', null, t('orgs.units')),
      list ? h('span.muted.count', null, t('sites.count', { n: list.length })) : null,
      isAdmin(me) ? h('div.head-actions', null, h('button.primary#unit-new', { type: 'button', onclick: createUnit }, t('orgs.createUnit'))) : null);
    if (!list) return h('section.org-section#units', null, head, statusLine(state.error));
    const missing = list.filter((u) => !u.phone).length;
    return h('section.org-section#units', null, head,
      missing > 0 ? h('p.notice.missing-phones', { role: 'status' }, t('orgs.phonesMissing', { n: missing })) : null,
      list.length === 0 ? h('p.empty', null, t('orgs.noUnits')) : table('units.stack',
        ['orgs.name', 'orgs.licence', 'orgs.phone24', 'form.actions'],
        list.map((u) => h('tr.unit-row', { dataset: { id: u.id, phoneMissing: String(!u.phone) } },
          h('td', { 'data-label': t('orgs.name') }, h('strong', null, named(u.name, u.id))),
          h('td', { 'data-label': t('orgs.licence') }, u.licence || '—'),
          h('td.phone', { 'data-label': t('orgs.phone24') }, u.phone ? u.phone : h('span.missing', null, t('orgs.phoneMissing'))),
          h('td', { 'data-label': t('form.actions') }, mayEdit(me, 'unit', u.id) ? h('button.edit', { type: 'button', onclick: () => editUnit(u) }, t('form.edit')) : null)))));
  }

  function render() {
    if (!state.mounted) return;
    const me = ctx.me();
    root.replaceChildren(...[showsCompanies(me) ? companiesSection(me) : null, showsUnits(me) ? unitsSection(me) : null].filter(Boolean));
  }

  return {
    show() { state.mounted = true; render(); load(); },
    render,
    reset() { Object.assign(state, { companies: null, units: null, error: null, mounted: false }); root.replaceChildren(); },
  };
}
