// The console's controller: sign-in, the live feed, the views (hash routes #/alerts[/id],
// #/devices, #/overview, and the registry pages #/sites[/id], #/accounts, #/orgs, #/import for the
// roles that may use them, access.js) and the state they render from. No framework: each view
// re-renders from `store` when something it shows changes; ages and countdowns tick once a second.
// The registry pages keep their own state (sites.js, accounts.js, orgs.js, import.js).
// The alarm, browser notifications and the count in the title follow the alerts that wait for the
// caller's party (notify.js); an alert's delivery log is read with its detail (deliveries.js).
import { ApiError, api, clearToken, getToken, readStream, setToken } from './api.js';
import { applyStatic, getLang, setLang, t } from './i18n.js';
import { debounce, syncClock, tick } from './dom.js';
import { FILTERS, matchesFilter, renderAlertDetail, renderAlertList } from './alerts.js';
import { renderDevices } from './devices.js';
import { renderOverview } from './overview.js';
import { VIEWS, canManageRegistry, canUse } from './access.js';
import { createSitesView } from './sites.js';
import { createAccountsView } from './accounts.js';
import { createOrgsView } from './orgs.js';
import { createImportView } from './import.js';
import { createVisitsView } from './visits.js';
import { createOrdersView } from './orders.js';
import { createScorecardsView } from './scorecards.js';
import { createContactsView } from './contacts.js';
import { createNotifier } from './notify.js';

const $ = (id) => document.getElementById(id);
/** How often the device list is read again while it is on screen (presence has no live feed). */
const DEVICE_POLL_MS = 10_000;
/** How often the open alert's delivery log is read again (messages go out after the change that caused them, and are retried). */
const DELIVERY_POLL_MS = 15_000;

const store = {
  me: null,
  view: 'alerts',
  alerts: new Map(),
  /** Alerts raised while the console was open and not yet looked at. */
  fresh: new Set(),
  /** Rows to flash at the next render (just arrived). */
  flash: new Set(),
  filter: 'active',
  selectedId: null,
  detail: null,
  detailError: null,
  /** The open alert's delivery log: `{alertId, items}` or `{alertId, error}`; null when not read or not offered (404/403). */
  deliveries: null,
  noteDraft: '',
  actionResult: null,
  busy: false,
  sites: new Map(),
  devices: null,
  devicesError: null,
  deviceKind: '',
  summary: null,
  summaryError: null,
  responsibilities: null,
  setFilter(filter) {
    if (!FILTERS.includes(filter) || filter === store.filter) return;
    store.filter = filter;
    loadAlerts();
    renderAlerts();
  },
  setDeviceKind(kind) {
    store.deviceKind = kind;
    renderDevicesView();
  },
  act,
};

/** Everything that belongs to one signed-in session; aborted on sign-out. */
let session = null;

/** What the registry pages need from the controller. */
const context = (root) => ({
  root,
  api,
  me: () => store.me,
  /** True when the error ended the session (401); the caller stops there. */
  fail: (err) => unauthorized(err),
  /** Something in the registry changed: names and devices are read again. */
  changed: () => { if (store.me) { loadDevices(); loadReference(); } },
});
const registryViews = {
  sites: createSitesView(context($('view-sites'))),
  accounts: createAccountsView(context($('view-accounts'))),
  orgs: createOrgsView(context($('view-orgs'))),
  import: createImportView(context($('view-import'))),
  visits: createVisitsView(context($('view-visits'))),
  orders: createOrdersView(context($('view-orders'))),
  scorecards: createScorecardsView(context($('view-scorecards'))),
  contacts: createContactsView(context($('view-contacts'))),
};
const notifier = createNotifier({ sites: () => store.sites, onChange: () => updateTitle(), api, fail: (err) => unauthorized(err) });

// ---- sign-in ----

function showSignIn(message) {
  session?.abort();
  session = null;
  store.me = null;
  $('app-nav').hidden = true;
  $('live').hidden = true;
  $('who').hidden = true;
  $('sign-out').hidden = true;
  $('contacts-link').hidden = true;
  for (const v of VIEWS) $(`view-${v}`).hidden = true;
  $('sign-in').hidden = false;
  const err = $('sign-in-error');
  err.hidden = !message;
  err.textContent = message ?? '';
  $('token').value = '';
  $('token').focus();
}

async function signIn(token) {
  try {
    const me = await api('GET', '/api/v1/me', undefined, token);
    setToken(token);
    start(me);
  } catch (err) {
    showSignIn(err instanceof ApiError && err.status === 401 ? t('signIn.bad') : t('signIn.failed', { msg: err.message }));
  }
}

function signOut(message) {
  clearToken();
  // a list still being read for this session must not land in the next one
  listLoad++;
  Object.assign(store, { alerts: new Map(), fresh: new Set(), flash: new Set(), selectedId: null, detail: null, deliveries: null, devices: null, summary: null, sites: new Map(), actionResult: null, noteDraft: '', manage: null });
  for (const v of Object.values(registryViews)) v.reset();
  // the alarm stops, notifications shown close, and the title drops its count
  notifier.reset();
  updateTitle();
  // nothing shown once (a secret, a token) stays open for the next person at this screen
  for (const d of document.querySelectorAll('dialog')) d.close();
  if (location.hash) history.replaceState(null, '', location.pathname);
  showSignIn(message);
}

/** Any call that answers 401 ends the session (token revoked or account disabled). */
function unauthorized(err) {
  if (err instanceof ApiError && err.status === 401) { signOut(t('error.unauthorized')); return true; }
  return false;
}

function start(me) {
  store.me = me;
  session = new AbortController();
  const { signal } = session;
  $('sign-in').hidden = true;
  $('app-nav').hidden = false;
  $('who').hidden = false;
  $('sign-out').hidden = false;
  $('live').hidden = false;
  for (const a of document.querySelectorAll('#app-nav a')) a.hidden = !canUse(me, a.dataset.view);
  $('contacts-link').hidden = !canUse(me, 'contacts');
  notifier.start(me);
  store.manage = canManageRegistry(me) ? { ...context(null), devices: () => store.devices ?? [] } : null;
  renderHeader();
  live(signal);
  loadReference();
  loadDevices();
  const ticker = setInterval(() => tick(), 1000);
  const poller = setInterval(() => { if (store.view !== 'alerts') loadDevices(); }, DEVICE_POLL_MS);
  const deliveryPoller = setInterval(() => {
    if (store.view === 'alerts' && store.selectedId !== null && store.deliveries?.alertId === store.selectedId) loadDeliveries(store.selectedId);
  }, DELIVERY_POLL_MS);
  signal.addEventListener('abort', () => { clearInterval(ticker); clearInterval(poller); clearInterval(deliveryPoller); });
  route();
}

// ---- the live feed ----

function setLive(state) {
  const el = $('live');
  el.dataset.state = state;
  el.textContent = t(`live.${state}`);
}

/** Reads the feed; reconnects with backoff. Every (re)connect reads the list again, so nothing is missed. */
async function live(signal) {
  let delay = 1000;
  setLive('connecting');
  while (!signal.aborted) {
    // the gateway ends a stream after a while (`bye`) so that the token is checked again: reconnect at once
    let bye = false;
    try {
      await readStream('/api/v1/console/stream', {
        signal,
        onEvent: (name, data) => {
          delay = 1000;
          if (name === 'bye') bye = true;
          else onLiveEvent(name, JSON.parse(data));
        },
      });
    } catch (err) {
      if (signal.aborted || unauthorized(err)) return;
    }
    if (signal.aborted) return;
    if (bye) continue;
    setLive('reconnecting');
    await new Promise((r) => setTimeout(r, delay + Math.random() * 500));
    delay = Math.min(delay * 2, 15_000);
  }
}

function onLiveEvent(name, data) {
  syncClock(data.now);
  if (name === 'hello') {
    setLive('live');
    loadAlerts();
    loadSummary();
    if (store.selectedId !== null) loadDetail(store.selectedId);
  } else if (name === 'alert') {
    const known = store.alerts.has(data.alert.id);
    upsert(data.alert);
    // may ring and notify: before the list is drawn, so the alarm is not late by a render
    notifier.observe(data.alert, true);
    if (!known && data.event === 'raised' && store.alerts.has(data.alert.id)) {
      store.fresh.add(data.alert.id);
      store.flash.add(data.alert.id);
    }
    if (data.alert.id === store.selectedId) refreshDetail();
    refreshSummary();
    renderAlertListOnly();
    updateTitle();
  }
}

// ---- data ----

let listLoad = 0;
/** Alerts that came live while the list was being read: the fresher copy wins. */
let liveDuringLoad = null;

/**
 * A changed alert: kept while it matches the list's filter, dropped when it no longer does, so the
 * list holds exactly what it shows (and memory stays bounded however long the console is open).
 */
function upsert(alert) {
  liveDuringLoad?.set(alert.id, alert);
  const cur = store.alerts.get(alert.id);
  if (cur && alert.updatedAt < cur.updatedAt) return;
  if (matchesFilter(alert, store.filter)) store.alerts.set(alert.id, alert);
  else store.alerts.delete(alert.id);
}

async function loadAlerts() {
  const mine = ++listLoad;
  const filter = store.filter;
  const state = filter === 'all' ? '' : `state=${filter}&`;
  liveDuringLoad = new Map();
  try {
    const { items } = await api('GET', `/api/v1/alerts?${state}limit=500`);
    if (mine !== listLoad) return;
    const next = new Map(items.map((a) => [a.id, a]));
    for (const [id, a] of liveDuringLoad) {
      const listed = next.get(id);
      if (listed && a.updatedAt < listed.updatedAt) continue;
      if (matchesFilter(a, filter)) next.set(id, a);
      else next.delete(id);
    }
    store.alerts = next;
    for (const id of store.fresh) if (!next.has(id)) store.fresh.delete(id);
    // the active alerts are what the waiting set needs; any other filter: it reads them itself
    if (filter === 'active') notifier.seed(next.values());
    else notifier.load();
  } catch (err) {
    if (unauthorized(err)) return;
  } finally {
    if (mine === listLoad) liveDuringLoad = null;
  }
  if (filter === store.filter) renderAlertListOnly();
  updateTitle();
}

async function loadDetail(id) {
  try {
    const a = await api('GET', `/api/v1/alerts/${id}`);
    if (id !== store.selectedId) return;
    store.detail = a;
    store.detailError = null;
    upsert(stripHistory(a));
    notifier.observe(a);
  } catch (err) {
    if (unauthorized(err) || id !== store.selectedId) return;
    store.detailError = err.message;
  }
  renderDetailOnly();
  renderAlertListOnly();
}
const refreshDetail = debounce(() => { if (store.selectedId !== null) { loadDetail(store.selectedId); loadDeliveries(store.selectedId); } }, 150);

/** The alert's delivery log; a 404 (no notifications here) or 403 (not this account's to read) hides the section. */
async function loadDeliveries(id) {
  let log;
  try {
    const { items } = await api('GET', `/api/v1/alerts/${id}/deliveries`);
    log = { alertId: id, items: Array.isArray(items) ? items : [] };
  } catch (err) {
    if (unauthorized(err)) return;
    log = err instanceof ApiError && (err.status === 404 || err.status === 403) ? null : { alertId: id, error: err.message };
  }
  if (id !== store.selectedId) return;
  store.deliveries = log;
  renderDetailOnly();
}

const stripHistory = ({ history: _h, ...alert }) => alert;

async function loadSummary() {
  try {
    store.summary = await api('GET', '/api/v1/console/summary');
    store.summaryError = null;
    syncClock(store.summary.now);
  } catch (err) {
    if (unauthorized(err)) return;
    store.summaryError = err.message;
  }
  if (store.view === 'overview') renderOverview($('view-overview'), store);
}
const refreshSummary = debounce(loadSummary, 500);

async function loadDevices() {
  try {
    store.devices = await api('GET', '/api/v1/devices');
    store.devicesError = null;
  } catch (err) {
    if (unauthorized(err)) return;
    store.devicesError = err.message;
  }
  if (store.view === 'devices') renderDevicesView();
  if (store.view === 'overview') renderOverview($('view-overview'), store);
}

/** Site names and alert type labels: read once per sign-in. */
async function loadReference() {
  const [sites, responsibilities] = await Promise.allSettled([api('GET', '/api/v1/sites'), api('GET', '/api/v1/alerts/responsibilities')]);
  if (sites.status === 'fulfilled') store.sites = new Map(sites.value.map((s) => [s.id, s]));
  if (responsibilities.status === 'fulfilled') store.responsibilities = responsibilities.value;
  renderView();
}

async function act(id, action, note) {
  store.busy = true;
  store.actionResult = null;
  renderDetailOnly();
  try {
    const a = await api('POST', `/api/v1/alerts/${id}/${action}`, note ? { note } : {});
    if (id === store.selectedId) store.detail = a;
    upsert(stripHistory(a));
    notifier.observe(a);
    store.actionResult = { ok: true, action };
    store.noteDraft = '';
    refreshSummary();
  } catch (err) {
    if (unauthorized(err)) return;
    store.actionResult = { ok: false, action, error: err instanceof ApiError ? err : new ApiError(0, 'NETWORK', err.message) };
  } finally {
    store.busy = false;
  }
  renderDetailOnly();
  renderAlertListOnly();
}

// ---- views ----

function route() {
  if (!store.me) return;
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  const view = canUse(store.me, parts[0]) ? parts[0] : 'alerts';
  if (store.view !== view) registryViews[store.view]?.hide?.();
  store.view = view;
  const id = view === 'alerts' && parts[1] ? Number(parts[1]) : null;
  const selected = Number.isInteger(id) && id > 0 ? id : null;
  if (selected !== store.selectedId) {
    store.selectedId = selected;
    store.detail = null;
    store.detailError = null;
    store.deliveries = null;
    store.actionResult = null;
    store.noteDraft = '';
    if (selected !== null) {
      store.fresh.delete(selected);
      loadDetail(selected);
      loadDeliveries(selected);
    }
  }
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  for (const a of document.querySelectorAll('#app-nav a, #contacts-link')) a.setAttribute('aria-current', a.dataset.view === view ? 'page' : 'false');
  if (view !== 'alerts') loadDevices();
  if (view === 'overview') loadSummary();
  registryViews[view]?.show(parts.slice(1));
  renderView();
}

function renderHeader() {
  const me = store.me;
  if (!me) return;
  $('who').textContent = [me.id, t(`role.${me.role}`), me.scopeName ?? me.scope].filter(Boolean).join(' · ');
  setLive($('live').dataset.state || 'connecting');
  notifier.renderControls();
}

function renderAlertListOnly() {
  if (store.view === 'alerts' && store.me) renderAlertList($('alert-list-panel'), store);
}

/** Re-renders the detail, keeping the operator's place in the note being typed. */
function renderDetailOnly() {
  if (store.view !== 'alerts' || !store.me) return;
  const focused = document.activeElement?.id === 'note' ? document.activeElement : null;
  const sel = focused ? [focused.selectionStart, focused.selectionEnd] : null;
  renderAlertDetail($('alert-detail-panel'), store);
  if (sel) {
    const note = $('note');
    if (note) { note.focus(); note.setSelectionRange(sel[0], sel[1]); }
  }
}

function renderAlerts() {
  $('view-alerts').classList.toggle('has-detail', store.selectedId !== null);
  renderAlertListOnly();
  renderDetailOnly();
}

function renderDevicesView() {
  if (store.view === 'devices') renderDevices($('view-devices'), store);
}

function renderView() {
  if (!store.me) return;
  if (store.view === 'alerts') renderAlerts();
  else if (store.view === 'devices') renderDevicesView();
  else if (store.view === 'overview') renderOverview($('view-overview'), store);
  else registryViews[store.view]?.render();
  updateTitle();
}

/**
 * `(3) 值班台`: the alerts that wait for the caller's party to acknowledge them (notify.js
 * `waitsForUs`: routed to its queue, still open work, nobody of its role acknowledged; for an admin,
 * still open), whatever the list's filter shows. The short name, so the number fits a narrow tab.
 */
function updateTitle() {
  const n = store.me ? notifier.count() : 0;
  document.title = n > 0 ? `(${n}) ${t('app.short')}` : t('app.title');
}

// ---- wiring ----

applyStatic();
$('lang-toggle').addEventListener('click', () => {
  setLang(getLang() === 'zh' ? 'en' : 'zh');
  renderHeader();
  renderView();
  // the registry pages keep what they rendered while hidden: all of them change language now
  for (const v of Object.values(registryViews)) v.render();
  $('toast').hidden = true;
});
$('sign-out').addEventListener('click', () => signOut());
$('sign-in-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $('token').value.trim();
  if (token) signIn(token);
});
window.addEventListener('hashchange', route);

const saved = getToken();
if (saved) signIn(saved);
else showSignIn();
