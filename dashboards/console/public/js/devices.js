// Devices in the account's scope with their online state and latest readings (GET /api/v1/devices);
// for an admin or a property company also registering and managing them (device-admin.js).
import { fieldLabel, formatReading, t } from './i18n.js';
import { ageEl, formatTime, h } from './dom.js';
import { KINDS, deviceActions, registerDevice } from './device-admin.js';

function stateCell(d) {
  if (d.disabled) return h('span.dev-state.disabled', null, t('devices.disabled'));
  return h('span.dev-state', { class: d.online ? 'online' : 'offline' }, t(d.online ? 'devices.online' : 'devices.offline'));
}

/** Where the device is: its location label, or else its building. */
function place(d) {
  if (d.location) return h('div.muted', null, d.location);
  return d.building ? h('div.muted', null, t('devices.building', { b: d.building })) : null;
}

/** A fire device in test mode (its alarms are recorded, not sent to the fire service): until when. */
function testMode(d) {
  if (d.testModeUntil == null) return null;
  return h('div.test-mode', { title: d.testModeNote || '' }, h('span.badge', null, t('devices.testMode')), ' ',
    h('span.muted', null, t('devices.testModeUntil', { until: formatTime(d.testModeUntil) })));
}

function readings(latest) {
  const entries = Object.entries(latest ?? {}).filter(([k]) => k !== 'seq');
  if (entries.length === 0) return h('span.muted', null, '—');
  return h('ul.readings', null, entries.map(([k, v]) => h('li', { dataset: { field: k } },
    h('span.reading-name', null, fieldLabel(k)), h('span.reading-value', null, formatReading(k, v)))));
}

export function renderDevices(root, store) {
  const all = store.devices ?? [];
  const shown = all.filter((d) => !store.deviceKind || d.kind === store.deviceKind)
    .sort((a, b) => Number(b.online) - Number(a.online) || a.siteId.localeCompare(b.siteId) || a.id.localeCompare(b.id));
  const online = shown.filter((d) => d.online && !d.disabled).length;
  const kinds = KINDS.filter((k) => all.some((d) => d.kind === k));
  const filter = h('select#device-kind', { 'aria-label': t('devices.kind'), onchange: (e) => store.setDeviceKind(e.target.value) },
    h('option', { value: '', selected: !store.deviceKind }, t('devices.allKinds')),
    kinds.map((k) => h('option', { value: k, selected: store.deviceKind === k }, t(`kind.${k}`))));
  // store.manage: what managing needs ({api, fail, changed, devices}), for the roles that may
  const manage = store.manage;
  const head = h('div.panel-head', h('h2', null, t('devices.title')), h('span.muted.count', null, t('devices.summary', { online, total: shown.length })), filter,
    manage ? h('button.primary#device-new', { type: 'button', onclick: () => registerDevice(manage) }, t('devices.register')) : null);
  if (store.devicesError) { root.replaceChildren(head, h('p.empty', null, t('alerts.loadFailed', { msg: store.devicesError }))); return; }
  if (shown.length === 0) { root.replaceChildren(head, h('p.empty', null, store.devices ? t('devices.empty') : t('alerts.loading'))); return; }
  const table = h('table.devices',
    null,
    h('thead', null, h('tr', null, ['devices.device', 'devices.kind', 'devices.site', 'devices.state', 'devices.lastSeen', 'devices.latest', manage ? 'form.actions' : null]
      .filter(Boolean).map((k) => h('th', { scope: 'col' }, t(k))))),
    h('tbody', null, shown.map((d) => {
      const site = store.sites.get(d.siteId);
      return h('tr.device-row', { dataset: { id: d.id, online: String(d.online), disabled: String(!!d.disabled), testMode: String(d.testModeUntil != null) } },
        h('td', { 'data-label': t('devices.device') }, h('strong', null, d.id), place(d), testMode(d)),
        h('td', { 'data-label': t('devices.kind') }, t(`kind.${d.kind}`)),
        h('td', { 'data-label': t('devices.site') }, site ? site.name : d.siteName || d.siteId),
        h('td', { 'data-label': t('devices.state') }, stateCell(d)),
        h('td', { 'data-label': t('devices.lastSeen') }, d.lastSeenAt ? ageEl(d.lastSeenAt) : h('span.muted', null, t('devices.never'))),
        h('td', { 'data-label': t('devices.latest') }, readings(d.latest)),
        manage ? h('td.actions-cell', { 'data-label': t('form.actions') }, deviceActions(manage, d)) : null);
    })));
  root.replaceChildren(head, h('div.table-wrap', null, table));
}
