// The alert list and an alert's detail: history and the lifecycle actions. The
// buttons are the alert's `allowedActions` from the gateway (what this account may do to it now,
// alerts/permissions.ts), so the console never decides who may do what on its own.
import { detailLabel, formatReading, getLang, pick, t } from './i18n.js';
import { ageEl, deadlineEl, formatDuration, formatTime, h } from './dom.js';
import { deliverySection } from './deliveries.js';

export const ACTIVE_STATES = new Set(['open', 'acknowledged', 'dispatched', 'resolved']);
const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, warning: 3 };
/** The action that moves the alert on from its state: shown as the primary button. */
const NEXT = { open: 'acknowledge', acknowledged: 'dispatch', dispatched: 'resolve', resolved: 'close' };
export const FILTERS = ['active', 'open', 'acknowledged', 'dispatched', 'resolved', 'closed', 'cleared', 'all'];

export function matchesFilter(alert, filter) {
  if (filter === 'all') return true;
  if (filter === 'active') return ACTIVE_STATES.has(alert.state);
  return alert.state === filter;
}

/** Open work first by severity, newest first within a severity; closed ones newest first. */
function compare(a, b) {
  const aa = ACTIVE_STATES.has(a.state), ba = ACTIVE_STATES.has(b.state);
  if (aa !== ba) return aa ? -1 : 1;
  if (aa) {
    const s = (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9);
    if (s !== 0) return s;
  }
  return b.openedAt - a.openedAt || b.id - a.id;
}

const severityBadge = (severity) => h('span.sev-badge', { class: `sev-${severity}` }, t(`severity.${severity}`));
const stateBadge = (state) => h('span.state-badge', { class: `state-${state}` }, t(`state.${state}`));

/** The deadline that matters now: acknowledging an open alert, then resolving it. */
function nextDeadline(a) {
  if (a.state === 'open' && a.deadlines.acknowledgeBy !== null) return deadlineEl(a.deadlines.acknowledgeBy, null, 'deadline.ack');
  if ((a.state === 'open' || a.state === 'acknowledged' || a.state === 'dispatched') && a.deadlines.resolveBy !== null) {
    return deadlineEl(a.deadlines.resolveBy, null, 'deadline.resolve');
  }
  return null;
}

function deviceLine(a, sites) {
  const site = sites.get(a.siteId);
  return [t(`kind.${a.deviceKind}`), a.deviceId, a.location, site ? site.name : a.siteId].filter(Boolean).join(' · ');
}

export function renderAlertList(root, store) {
  const items = [...store.alerts.values()].filter((a) => matchesFilter(a, store.filter)).sort(compare);
  const filter = h('select#alert-filter', { 'aria-label': t('filter.label'), onchange: (e) => store.setFilter(e.target.value) },
    FILTERS.map((f) => h('option', { value: f, selected: f === store.filter }, f === 'active' || f === 'all' ? t(`filter.${f}`) : t(`state.${f}`))));
  const list = h('ul.alert-list', { 'aria-live': 'polite' }, items.map((a) => h('li.alert-row', {
    class: `sev-${a.severity}${a.id === store.selectedId ? ' selected' : ''}${store.flash.has(a.id) ? ' flash' : ''}`,
    dataset: { id: String(a.id), type: a.type, state: a.state, severity: a.severity, device: a.deviceId },
  }, h('a.alert-link', { href: `#/alerts/${a.id}` },
    severityBadge(a.severity),
    h('div.alert-main',
      h('div.alert-title', pick(a.label, a.type), store.fresh.has(a.id) ? h('span.new-badge', null, t('alerts.new')) : null),
      h('div.alert-meta', deviceLine(a, store.sites))),
    h('div.alert-side', stateBadge(a.state), ageEl(a.openedAt), nextDeadline(a))))));
  // a row flashes once, when it arrives; the "new" badge stays until the alert is opened
  store.flash.clear();
  root.replaceChildren(
    h('div.panel-head', h('h2', null, t('alerts.title')), h('span.muted.count', null, t('alerts.count', { n: items.length })), filter),
    items.length > 0 ? list : h('p.empty', null, t(store.alerts.size === 0 ? 'alerts.empty' : 'alerts.emptyFilter')),
  );
}

function fact(label, ...value) {
  return [h('dt', null, t(label)), h('dd', null, ...value)];
}

/** Epoch-millisecond details (`since`, `lastSeenAt`, ...) as times; durations as durations; readings with units. */
function detailValue(key, v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'number' && /(At|since|Since)$/.test(key) && v > 1e11) return formatTime(v);
  if (typeof v === 'number' && key.endsWith('Ms')) return formatDuration(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return formatReading(key, v);
}

function historyEntry(e) {
  const actor = e.actor === 'system' ? t('history.system') : e.actor;
  const label = t(`history.${e.action}`);
  return h('li', { dataset: { action: e.action } },
    h('time', { datetime: new Date(e.at).toISOString() }, formatTime(e.at)),
    h('span.history-action', null, label === `history.${e.action}` ? e.action : label),
    h('span.history-actor', null, actor),
    e.note ? h('q.history-note', null, e.note) : null,
    e.detail && e.action === 'escalated' && e.detail.queues ? h('span.muted', null, e.detail.queues.join(', ')) : null);
}

/** The reason an action was refused, in the operator's language when the gateway's code or details say why. */
function refusal(err, action) {
  const d = err.details;
  if (err.code === 'ALERT_ACTION_FORBIDDEN') return t('action.forbidden', { action: t(`action.${action}`) });
  if (err.status === 409 && d && d.confirmation !== undefined && !Array.isArray(d.allowedFrom)) {
    return t('action.onlyUnconfirmed', { action: t(`action.${action}`) });
  }
  if (err.status === 409 && d && d.type !== undefined && !Array.isArray(d.allowedFrom)) {
    return t('action.onlyTrapped', { action: t(`action.${action}`) });
  }
  if (err.status === 409 && d && typeof d.role === 'string' && !Array.isArray(d.allowedFrom)) {
    const role = t(`role.${d.role}`);
    return t('action.alreadyAcknowledged', { role: getLang() === 'en' ? role.toLowerCase() : role });
  }
  if (err.status === 409 && d && typeof d.state === 'string' && Array.isArray(d.allowedFrom)) {
    const lower = (s) => (getLang() === 'en' ? s.toLowerCase() : s);
    return t('action.notAllowed', {
      state: lower(t(`state.${d.state}`)),
      action: t(`action.${action}`),
      allowed: d.allowedFrom.map((s) => lower(t(`state.${s}`))).join(t('action.or')),
    });
  }
  return t(err.status === 409 || err.status === 403 ? 'action.refused' : 'action.failed', { msg: '' }).trim();
}

/** When the rescuers arrived, and who recorded it (the unit itself, or the property company seeing it arrive). */
function arrivalText(a) {
  return a.arrivedBy ? `${formatTime(a.arrivedAt)} · ${t(`role.${a.arrivedBy.role}`)} · ${a.arrivedBy.actor}` : formatTime(a.arrivedAt);
}

export function renderAlertDetail(root, store) {
  const a = store.detail;
  if (store.selectedId === null) { root.replaceChildren(h('p.empty', null, t('alerts.select'))); return; }
  if (!a || a.id !== store.selectedId) {
    root.replaceChildren(h('p.empty', null, store.detailError ? t('alerts.loadFailed', { msg: store.detailError }) : t('alerts.loading')));
    return;
  }
  const site = store.sites.get(a.siteId);
  const note = h('textarea#note', { rows: 2, maxlength: 2000, placeholder: t('action.notePlaceholder') });
  note.value = store.noteDraft;
  note.addEventListener('input', () => { store.noteDraft = note.value; });
  const result = store.actionResult;
  const actions = Array.isArray(a.allowedActions) ? a.allowedActions : [];
  const buttons = actions.map((action) => h('button', {
    type: 'button',
    class: action === NEXT[a.state] ? 'primary' : '',
    dataset: { action },
    disabled: store.busy,
    onclick: () => store.act(a.id, action, note.value.trim()),
  }, t(`action.${action}`)));

  const facts = [
    ...fact('detail.device', `${t(`kind.${a.deviceKind}`)} · ${a.deviceId}`),
    ...fact('detail.site', site ? `${site.name} (${a.siteId})` : a.siteId),
    a.location ? fact('detail.location', a.location) : [],
    a.maintenanceUnitId ? fact('detail.unit', a.maintenanceUnitId) : [],
    ...fact('detail.openedAt', formatTime(a.openedAt), ' · ', ageEl(a.openedAt)),
    ...fact('detail.updatedAt', formatTime(a.updatedAt)),
    ...fact('detail.count', String(a.count)),
    ...fact('detail.ackBy', deadlineEl(a.deadlines.acknowledgeBy, a.acknowledgedAt)),
    ...fact('detail.resolveBy', deadlineEl(a.deadlines.resolveBy, a.resolvedAt)),
    // trapped passengers: the maintenance unit's arrival on site against the site's deadline (absent on older alerts)
    a.deadlines.arrive != null ? fact('detail.arriveBy', deadlineEl(a.deadlines.arrive, a.arrivedAt)) : [],
    a.arrivedAt != null ? fact('detail.arrivedAt', arrivalText(a)) : [],
    Array.isArray(a.acknowledgements) && a.acknowledgements.length > 0
      // each party's own: the maintenance unit's is what its 3-minute response rate counts
      ? fact('detail.acknowledgements', ...a.acknowledgements.map((k) => h('div.acknowledgement', { dataset: { role: k.role } },
        `${t(`role.${k.role}`)} · ${k.actor} · ${formatTime(k.at)}`)))
      : [],
    // the verify window counts only while an unconfirmed fire alarm waits for a verdict
    a.deadlines.verifyBy !== null && a.confirmation === 'unconfirmed' && !a.forwardedUnverified && ACTIVE_STATES.has(a.state)
      ? fact('detail.verifyBy', deadlineEl(a.deadlines.verifyBy, null)) : [],
    a.confirmation ? fact('detail.confirmation', t(`confirmation.${a.confirmation}`)) : [],
    ...fact('detail.condition', t(a.conditionActive ? 'detail.conditionActive' : 'detail.conditionEnded')),
    a.queues.length > 0 ? fact('detail.queues', a.queues.join(', ')) : [],
    a.escalations.length > 0 ? fact('detail.escalations', a.escalations.map((e) => `${t(`escalation.${e.kind}`)} · ${formatTime(e.at)} → ${e.queues.join(', ')}`).join('; ')) : [],
  ].flat();
  const details = Object.entries(a.details ?? {});

  root.replaceChildren(h('article.alert-detail#alert-detail', { class: `sev-${a.severity}`, dataset: { id: String(a.id), state: a.state } },
    h('a.back', { href: '#/alerts' }, `← ${t('alerts.back')}`),
    h('header.detail-head',
      severityBadge(a.severity),
      h('h2', null, pick(a.label, a.type)),
      stateBadge(a.state),
      h('span.muted', null, `${t('detail.id')} ${a.id}`)),
    // a test alert is suppressed too (kept from the fire service); the notice says which
    a.details?.testMode === true ? h('p.notice.test-mode#test-mode', null, t('detail.testMode'))
      : a.suppressed ? h('p.notice', null, t('detail.suppressed')) : null,
    h('dl.facts', null, facts),
    h('section.actions', null,
      h('h3', null, t('detail.actions')),
      ...(buttons.length > 0
        ? [h('label', { for: 'note' }, t('action.note')), note, h('div.buttons', null, buttons)]
        : [h('p.muted#no-actions', null, t('action.none'))]),
      result ? h('p#action-result', { class: result.ok ? 'ok' : 'error', role: result.ok ? 'status' : 'alert' },
        result.ok ? t('action.done', { action: t(`action.${result.action}`) }) : refusal(result.error, result.action),
        !result.ok && result.error.message ? h('small.server-reason', null, result.error.message) : null) : null),
    h('section', null, h('h3', null, t('detail.history')), h('ol.history', null, (a.history ?? []).map(historyEntry))),
    // who was told, by which channel, and how it went (absent when the gateway does not offer the log)
    deliverySection(store.deliveries, a.id),
    details.length > 0 ? h('section', null, h('h3', null, t('detail.details')),
      h('dl.facts.details', null, details.flatMap(([k, v]) => [h('dt', { title: k }, detailLabel(k)), h('dd', null, detailValue(k, v))]))) : null,
  ));
}
