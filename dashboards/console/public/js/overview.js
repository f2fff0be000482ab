// Counts of the account's alerts per state and per type (GET /api/v1/console/summary), and devices online.
import { pick, t } from './i18n.js';
import { h } from './dom.js';
import { ACTIVE_STATES } from './alerts.js';

const STATES = ['open', 'acknowledged', 'dispatched', 'resolved', 'closed', 'cleared'];
const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, warning: 3 };

export function renderOverview(root, store) {
  const s = store.summary;
  const head = h('div.panel-head', h('h2', null, t('overview.title')));
  if (!s) { root.replaceChildren(head, h('p.empty', null, store.summaryError ? t('alerts.loadFailed', { msg: store.summaryError }) : t('alerts.loading'))); return; }
  const devices = store.devices ?? [];
  const cards = h('div.cards',
    STATES.map((state) => h('a.card', { href: '#/alerts', class: `state-${state}`, dataset: { state }, onclick: () => store.setFilter(state) },
      h('span.card-count', null, String(s.states[state] ?? 0)), h('span.card-label', null, t(`state.${state}`)))),
    store.devices ? h('div.card.devices-card', null,
      h('span.card-count', null, `${devices.filter((d) => d.online && !d.disabled).length}/${devices.length}`), h('span.card-label', null, t('overview.devices'))) : null);

  const rows = Object.entries(s.types).map(([type, byState]) => {
    const r = store.responsibilities?.[type];
    let active = 0, total = 0;
    for (const [state, n] of Object.entries(byState)) { total += n; if (ACTIVE_STATES.has(state)) active += n; }
    return { type, label: pick(r?.label, type), severity: r?.severity ?? 'warning', active, total };
  }).sort((a, b) => b.active - a.active || (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) || b.total - a.total);

  const table = rows.length === 0 ? h('p.empty', null, t('overview.empty')) : h('table.by-type', null,
    h('thead', null, h('tr', null, ['overview.type', 'overview.severity', 'overview.active', 'overview.total'].map((k, i) => h('th', { scope: 'col', class: i >= 2 ? 'num' : '' }, t(k))))),
    h('tbody', null, rows.map((r) => h('tr', { dataset: { type: r.type } },
      h('td', null, r.label),
      h('td', null, h('span.sev-badge', { class: `sev-${r.severity}` }, t(`severity.${r.severity}`))),
      h('td.num', { class: r.active > 0 ? 'hot' : '' }, String(r.active)),
      h('td.num', null, String(r.total))))));

  root.replaceChildren(head, h('h3', null, t('overview.byState')), cards, h('h3', null, t('overview.byType')), h('div.table-wrap', null, table));
}
