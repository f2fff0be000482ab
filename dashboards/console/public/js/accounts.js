// Accounts (admins only): the list with each role in words and its scope by name, create one (the
// token is shown once), disable / re-enable, and issue a new token.
import { t } from './i18n.js';
import { h } from './dom.js';
import { confirmDialog, field, formDialog, input, localError, named, secretDialog, select, statusLine, table, toast, values } from './forms.js';

export const ROLES = ['admin', 'property', 'maintenance', 'market-supervision', 'fire-service', 'street', 'community'];
/** What each role's scope is: a company, a unit (ids, chosen from a list), a street or community name (typed); none for the others. */
const SCOPE = { property: 'company', maintenance: 'unit', street: 'street', community: 'community' };
const enc = encodeURIComponent;

export function createAccountsView(ctx) {
  const { root } = ctx;
  const state = { accounts: null, companies: [], units: [], error: null, mounted: false };

  async function load() {
    const [accounts, companies, units] = await Promise.allSettled([
      ctx.api('GET', '/api/v1/accounts'), ctx.api('GET', '/api/v1/companies'), ctx.api('GET', '/api/v1/maintenance-units'),
    ]);
    for (const r of [accounts, companies, units]) if (r.status === 'rejected' && ctx.fail(r.reason)) return;
    state.error = accounts.status === 'rejected' ? accounts.reason.message : null;
    if (accounts.status === 'fulfilled') state.accounts = accounts.value;
    if (companies.status === 'fulfilled') state.companies = companies.value;
    if (units.status === 'fulfilled') state.units = units.value;
    render();
  }

  /** The scope in words: the company's or unit's name where it is one of those. */
  function scopeText(a) {
    if (!a.scope) return null;
    if (a.role === 'property') return named(state.companies.find((c) => c.id === a.scope)?.name, a.scope);
    if (a.role === 'maintenance') return named(state.units.find((u) => u.id === a.scope)?.name, a.scope);
    return h('span', null, SCOPE[a.role] ? t('scope.area', { what: t(`scope.${SCOPE[a.role]}`), name: a.scope }) : a.scope);
  }

  function createAccount() {
    const role = select(ROLES.map((r) => [r, t(`role.${r}`)]), { placeholder: t('form.choose') });
    const scopes = {
      company: field('scope', 'acct-scope-company', 'scope.company', select(state.companies.map((c) => [c.id, c.name || c.id]), { placeholder: t('form.choose') }), { required: true }),
      unit: field('scope', 'acct-scope-unit', 'scope.unit', select(state.units.map((u) => [u.id, u.name || u.id]), { placeholder: t('form.choose') }), { required: true }),
      street: field('scope', 'acct-scope-street', 'scope.street', input({ maxlength: '100', placeholder: t('sites.streetExample') }), { required: true }),
      community: field('scope', 'acct-scope-community', 'scope.community', input({ maxlength: '100' }), { required: true }),
    };
    const sync = () => { for (const [k, f] of Object.entries(scopes)) f.hidden = SCOPE[role.value] !== k; };
    role.addEventListener('change', sync);
    sync();
    formDialog({
      id: 'account-form',
      title: t('accounts.create'),
      submitKey: 'form.create',
      fields: [
        field('id', 'acct-id', 'accounts.id', input({ maxlength: '128' }), { required: true, hint: t('form.idHint') }),
        field('name', 'acct-name', 'accounts.name', input({ maxlength: '200' })),
        field('role', 'acct-role', 'accounts.role', role, { required: true }),
        ...Object.values(scopes),
      ],
      submit: (form) => {
        const v = values(form);
        if (!v.id) throw localError(form, 'id', t('form.required'));
        if (!v.role) throw localError(form, 'role', t('form.required'));
        if (SCOPE[v.role] && !v.scope) throw localError(form, 'scope', t('form.required'));
        return ctx.api('POST', '/api/v1/accounts', v);
      },
      done: (account) => {
        load();
        secretDialog({
          title: t('secret.accountTitle'), label: t('secret.accountLabel'),
          subject: t('secret.accountSubject', { id: account.id, role: t(`role.${account.role}`) }),
          value: account.token, warningKey: 'secret.accountWarning',
        });
      },
    });
  }

  async function setDisabled(a, disabled) {
    if (disabled) {
      const ok = await confirmDialog({ title: t('accounts.disableTitle'), message: t('accounts.disableConfirm', { id: a.id }), confirmKey: 'accounts.disable' });
      if (!ok) return;
    }
    try {
      await ctx.api('PATCH', `/api/v1/accounts/${enc(a.id)}`, { disabled });
      toast(t(disabled ? 'accounts.disabledDone' : 'accounts.enabledDone', { id: a.id }));
    } catch (err) {
      if (!ctx.fail(err)) toast(t('form.failed', { msg: err.message }));
    }
    load();
  }

  async function rotate(a) {
    const ok = await confirmDialog({ title: t('accounts.rotateTitle'), message: t('accounts.rotateConfirm', { id: a.id }), confirmKey: 'accounts.rotate' });
    if (!ok) return;
    let answer;
    try {
      answer = await ctx.api('POST', `/api/v1/accounts/${enc(a.id)}/token`);
    } catch (err) {
      if (!ctx.fail(err)) toast(t('form.failed', { msg: err.message }));
      return;
    }
    secretDialog({
      title: t('secret.rotatedTokenTitle'), label: t('secret.accountLabel'), subject: t('secret.rotatedSubject', { id: a.id }),
      value: answer.token, warningKey: 'secret.accountWarning',
    });
  }

  function render() {
    if (!state.mounted) return;
    const head = h('div.panel-head', h('h2', null, t('accounts.title')),
      state.accounts ? h('span.muted.count', null, t('accounts.count', { n: state.accounts.length })) : null,
      h('div.head-actions', null, h('button.primary#account-new', { type: 'button', onclick: createAccount, disabled: !state.accounts }, t('accounts.create'))));
    if (!state.accounts) { root.replaceChildren(head, statusLine(state.error)); return; }
    const me = ctx.me();
    const rows = [...state.accounts].sort((a, b) => a.id.localeCompare(b.id)).map((a) => h('tr.account-row', { dataset: { id: a.id, role: a.role, disabled: String(!!a.disabled) } },
      h('td', { 'data-label': t('accounts.id') }, h('strong', null, a.id)),
      h('td', { 'data-label': t('accounts.name') }, a.name || '—'),
      h('td.role', { 'data-label': t('accounts.role') }, t(`role.${a.role}`)),
      h('td.scope', { 'data-label': t('accounts.scope') }, scopeText(a) ?? '—'),
      h('td', { 'data-label': t('devices.state') }, a.disabled ? h('span.dev-state.disabled', null, t('accounts.disabled')) : h('span.dev-state.online', null, t('accounts.enabled'))),
      h('td', { 'data-label': t('form.actions') }, a.id === me.id ? h('span.muted', null, t('accounts.you')) : h('div.row-actions', null,
        h('button', { type: 'button', dataset: { act: a.disabled ? 'enable' : 'disable' }, onclick: () => setDisabled(a, !a.disabled) }, t(a.disabled ? 'accounts.enable' : 'accounts.disable')),
        h('button', { type: 'button', dataset: { act: 'rotate' }, onclick: () => rotate(a) }, t('accounts.rotate'))))));
    root.replaceChildren(head, state.accounts.length === 0 ? h('p.empty', null, t('accounts.empty'))
      : table('accounts.stack', ['accounts.id', 'accounts.name', 'accounts.role', 'accounts.scope', 'devices.state', 'form.actions'], rows));
  }

  return {
    show() { state.mounted = true; render(); load(); },
    render,
    reset() { Object.assign(state, { accounts: null, companies: [], units: [], error: null, mounted: false }); root.replaceChildren(); },
  };
}
