// Telling the operator on duty that something needs them, when they are not looking at the list:
// the alarm sound, browser notifications and the count in the page title. All three read one
// set, the alerts that wait for the caller's party to acknowledge them (`waitsForUs`), kept from
// the alert list (when it shows the active alerts) or its own read, then from the live feed.
//
// The alarm: `public/alarm.wav` (a 1.5 s two-tone alarm, tools/make-alarm.mjs) plays when a
// critical alert starts waiting for the caller's party while the console is open, and plays again
// every RING_GAP_MS while any such alert is still unacknowledged, until the party acknowledges it
// (here or anywhere else) or the operator silences it (消音). Not a continuous loop: an operator on
// the phone with a trapped passenger must be able to talk, and a gap lets a second, different
// sound (a new alert) be heard; not a single play either: a console left in a back room must not
// let a trapped passenger be forgotten after one beep.
//
// Browsers refuse to play sound before the person has interacted with the page: the sound switch's
// click is such a gesture, and so is any click or key on the page; while sound is on but refused,
// the header says so.
import { getLang, pick, t } from './i18n.js';

/** Silence between two plays of the alarm while a critical alert waits. */
const RING_GAP_MS = 4000;
const SOUND_KEY = 'console.sound';
const NOTIFY_KEY = 'console.notify';
/** The states in which an alert can still be acknowledged (alerts/permissions.ts OPEN_WORK). */
const OPEN_WORK = new Set(['open', 'acknowledged', 'dispatched']);
/** The roles that acknowledge as a party (each party's acknowledgement is its own). */
const ACK_ROLES = new Set(['property', 'maintenance', 'market-supervision', 'fire-service']);

const STRINGS = {
  zh: {
    soundOn: '声音 开',
    soundOff: '声音 关',
    soundLabel: '新的紧急告警响铃提醒（点击切换）',
    silence: '消音',
    silenceLabel: '停止当前的告警铃声，直到下一条新的紧急告警',
    blocked: '浏览器阻止了告警声音：请点击此处允许播放',
    notifyOn: '通知 开',
    notifyOff: '通知 关',
    notifyAsk: '开启桌面通知',
    notifyDenied: '通知已被浏览器禁止',
    notifyDeniedLabel: '请在浏览器的网站设置中允许本站的通知',
    notifyUnsupported: '不支持桌面通知',
    notifyInsecure: '桌面通知需要通过 HTTPS 访问值班台',
    notifyLabel: '新的紧急告警显示桌面通知（点击切换）',
  },
  en: {
    soundOn: 'Sound on',
    soundOff: 'Sound off',
    soundLabel: 'Ring for new critical alerts (click to switch)',
    silence: 'Silence',
    silenceLabel: 'Stop the alarm until the next new critical alert',
    blocked: 'The browser blocked the alarm sound: click here to allow it',
    notifyOn: 'Notifications on',
    notifyOff: 'Notifications off',
    notifyAsk: 'Enable desktop notifications',
    notifyDenied: 'Notifications blocked',
    notifyDeniedLabel: 'Allow notifications for this site in the browser\'s site settings',
    notifyUnsupported: 'No desktop notifications',
    notifyInsecure: 'Desktop notifications need the console over HTTPS',
    notifyLabel: 'Show a desktop notification for new critical alerts (click to switch)',
  },
};

function s(key) {
  return (STRINGS[getLang()] ?? STRINGS.zh)[key] ?? STRINGS.zh[key] ?? key;
}

function stored(key, fallback) {
  try { return localStorage.getItem(key) ?? fallback; } catch { return fallback; }
}
function store(key, value) {
  try { localStorage.setItem(key, value); } catch { /* not kept: fine */ }
}

/** The caller's own queue, as registry/scope.ts `ownQueue` names it; null for admins and communities. */
export function ownQueue(me) {
  if (me.role === 'market-supervision' || me.role === 'fire-service') return me.role;
  if ((me.role === 'property' || me.role === 'maintenance' || me.role === 'street') && me.scope) return `${me.role}/${me.scope}`;
  return null;
}

/**
 * Whether `alert` waits for the caller's party, which is what the title counts and the alarm rings for:
 * - a party that acknowledges (property company, maintenance unit, market supervision, fire service):
 *   the alert was routed to its queue, can still be acknowledged (open, acknowledged, dispatched), and
 *   nobody of that role has acknowledged it (the alert's `acknowledgements`, one per role). An alert it
 *   may only read (an unconfirmed fire alarm the fire service does not have yet) does not count.
 * - a street office (it cannot acknowledge): routed to its queue and still open, i.e. nobody acknowledged it;
 * - an admin or a community (no queue): still open.
 */
export function waitsForUs(alert, me) {
  if (!me || !OPEN_WORK.has(alert.state)) return false;
  const queue = ownQueue(me);
  if (queue === null) return alert.state === 'open';
  if (!(alert.queues ?? []).includes(queue)) return false;
  if (!ACK_ROLES.has(me.role)) return alert.state === 'open';
  return !(alert.acknowledgements ?? []).some((k) => k.role === me.role);
}

/**
 * `deps`: `sites()` (id → site, for the notification's title), `onChange()` (the count changed:
 * re-render the title), `api` and `fail` (a 401 ends the session) for its own read of the list.
 */
export function createNotifier(deps) {
  const $ = (id) => document.getElementById(id);
  const audio = $('alarm');
  let me = null;
  /** id → alert, for every alert that waits for the caller's party. */
  let waiting = new Map();
  /** Critical alerts that rang and still wait: the alarm goes on while there are any. */
  const ringing = new Set();
  /** id → Notification shown for it (closed when the alert stops waiting). */
  const shown = new Map();
  /** The first list after a sign-in rings for nothing (the operator sees it); later ones (a reconnect) ring for what came meanwhile. */
  let primed = false;
  /** Alerts the feed brought while the notifier read the list itself: the fresher copy wins. */
  let duringLoad = null;
  let loads = 0;
  let timer = null;
  let blocked = false;

  const soundOn = () => stored(SOUND_KEY, 'on') !== 'off';
  const notifySupported = () => typeof window.Notification === 'function';
  const notifyOn = () => stored(NOTIFY_KEY, 'off') === 'on' && notifySupported() && window.Notification.permission === 'granted';

  // ---- the alarm ----

  function setAudioState(state) {
    audio.dataset.state = state;
    renderControls();
  }

  function playOnce() {
    timer = null;
    if (ringing.size === 0 || !soundOn()) return;
    audio.currentTime = 0;
    const p = audio.play();
    // data-plays: how many times the alarm started (what the tests observe, with `paused`)
    p.then(() => {
      audio.dataset.plays = String(Number(audio.dataset.plays ?? 0) + 1);
      if (blocked) { blocked = false; renderControls(); }
    }, (err) => {
      // refused before any gesture (NotAllowedError): said in the header; the next click or key plays it
      if (err?.name === 'NotAllowedError') { blocked = true; renderControls(); }
    });
  }

  function ring(id) {
    ringing.add(id);
    if (!soundOn()) return;
    if (audio.dataset.state !== 'ringing') setAudioState('ringing');
    // a new alert while one rings: it starts again now, so the new one is heard at once
    clearTimeout(timer);
    playOnce();
  }

  function stop() {
    clearTimeout(timer);
    timer = null;
    audio.pause();
    audio.currentTime = 0;
    blocked = false;
    setAudioState('idle');
  }

  function silence() {
    ringing.clear();
    stop();
  }

  audio.addEventListener('ended', () => {
    if (ringing.size > 0 && soundOn() && audio.dataset.state === 'ringing') timer = setTimeout(playOnce, RING_GAP_MS);
  });

  /** Any click or key is a gesture after which the browser lets the page play: try again then. */
  const retry = () => { if (blocked && ringing.size > 0 && soundOn()) playOnce(); };
  document.addEventListener('click', retry, true);
  document.addEventListener('keydown', retry, true);

  // ---- notifications ----

  function notify(alert) {
    if (!notifyOn()) return;
    const site = deps.sites().get(alert.siteId);
    const title = [pick(alert.label, alert.type), site ? site.name : alert.siteId].filter(Boolean).join(' · ');
    const body = [alert.location, `${t(`kind.${alert.deviceKind}`)} ${alert.deviceId}`].filter(Boolean).join(' · ');
    try {
      // tag = the alert: a second notification of the same alert replaces the first
      const n = new window.Notification(title, { body, tag: String(alert.id), requireInteraction: true, lang: getLang() === 'en' ? 'en' : 'zh-CN' });
      n.onclick = () => {
        window.focus();
        location.hash = `#/alerts/${alert.id}`;
        n.close();
      };
      n.onclose = () => { if (shown.get(alert.id) === n) shown.delete(alert.id); };
      shown.set(alert.id, n);
    } catch {
      // a browser that only notifies from a service worker (Chrome on Android): the sound and the title remain
    }
  }

  async function askPermission() {
    if (!notifySupported()) return;
    let permission = window.Notification.permission;
    if (permission === 'default') {
      try { permission = await window.Notification.requestPermission(); } catch { permission = 'denied'; }
    }
    if (permission === 'granted') store(NOTIFY_KEY, 'on');
    renderControls();
  }

  // ---- the waiting set ----

  /** One alert as it is now; `live`: it came over the feed (so it may ring). */
  function observe(alert, live = false) {
    if (!me) return;
    if (duringLoad) {
      const cur = duringLoad.get(alert.id);
      if (!cur || cur.updatedAt <= alert.updatedAt) duringLoad.set(alert.id, alert);
    }
    const cur = waiting.get(alert.id);
    if (cur && alert.updatedAt < cur.updatedAt) return;
    const was = waiting.has(alert.id);
    if (waitsForUs(alert, me)) {
      waiting.set(alert.id, alert);
      if (!was && live) arrived(alert);
    } else if (was) {
      waiting.delete(alert.id);
      done(alert.id);
    }
    if (was !== waiting.has(alert.id)) deps.onChange();
  }

  /** A critical alert that starts waiting while the console is open: the alarm and a notification (not for a suppressed or test-mode one). */
  function arrived(alert) {
    if (alert.severity !== 'critical' || alert.suppressed) return;
    ring(alert.id);
    notify(alert);
  }

  /** The alert no longer waits (acknowledged, closed, or no longer visible). */
  function done(id) {
    shown.get(id)?.close();
    shown.delete(id);
    if (ringing.delete(id) && ringing.size === 0) stop();
  }

  /** Every alert that is active now (open, acknowledged, dispatched, resolved), as a list read gives them. */
  function seed(alerts) {
    if (!me) return;
    const next = new Map();
    for (const a of alerts) if (waitsForUs(a, me)) next.set(a.id, a);
    const before = waiting;
    waiting = next;
    for (const id of [...before.keys()]) if (!next.has(id)) done(id);
    if (primed) for (const a of next.values()) if (!before.has(a.id)) arrived(a);
    primed = true;
    deps.onChange();
  }

  /** Reads the alerts that can still be acknowledged (when the list shows something else). */
  async function load() {
    const mine = ++loads;
    duringLoad = new Map();
    try {
      const { items } = await deps.api('GET', '/api/v1/alerts?state=open,acknowledged,dispatched&limit=1000');
      if (mine !== loads || !me) return;
      const merged = new Map(items.map((a) => [a.id, a]));
      for (const [id, a] of duringLoad) if (!merged.has(id) || merged.get(id).updatedAt <= a.updatedAt) merged.set(id, a);
      seed(merged.values());
    } catch (err) {
      deps.fail(err);
    } finally {
      if (mine === loads) duringLoad = null;
    }
  }

  // ---- the header ----

  function renderControls() {
    const sound = $('sound-toggle');
    const on = soundOn();
    sound.hidden = !me;
    sound.textContent = on ? s('soundOn') : s('soundOff');
    sound.setAttribute('aria-pressed', String(on));
    sound.title = s('soundLabel');
    sound.classList.toggle('off', !on);
    const silenceBtn = $('alarm-silence');
    silenceBtn.hidden = !me || audio.dataset.state !== 'ringing';
    silenceBtn.textContent = s('silence');
    silenceBtn.title = s('silenceLabel');
    const hint = $('sound-blocked');
    hint.hidden = !me || !on || !blocked;
    hint.textContent = s('blocked');

    const n = $('notify-toggle');
    n.hidden = !me;
    n.disabled = false;
    n.removeAttribute('aria-pressed');
    if (!notifySupported() || !window.isSecureContext) {
      n.textContent = s('notifyUnsupported');
      n.title = window.isSecureContext === false ? s('notifyInsecure') : s('notifyUnsupported');
      n.disabled = true;
      n.dataset.state = 'unsupported';
    } else if (window.Notification.permission === 'denied') {
      n.textContent = s('notifyDenied');
      n.title = s('notifyDeniedLabel');
      n.disabled = true;
      n.dataset.state = 'denied';
    } else if (window.Notification.permission !== 'granted') {
      n.textContent = s('notifyAsk');
      n.title = s('notifyLabel');
      n.dataset.state = 'ask';
    } else {
      const active = notifyOn();
      n.textContent = active ? s('notifyOn') : s('notifyOff');
      n.title = s('notifyLabel');
      n.setAttribute('aria-pressed', String(active));
      n.classList.toggle('off', !active);
      n.dataset.state = active ? 'on' : 'off';
    }
  }

  $('sound-toggle').addEventListener('click', () => {
    const on = !soundOn();
    store(SOUND_KEY, on ? 'on' : 'off');
    if (!on) stop();
    else if (ringing.size > 0) { setAudioState('ringing'); playOnce(); } else {
      // the click is the gesture the browser asks for: a muted play now lets the alarm play later
      audio.muted = true;
      audio.play().then(() => { if (audio.dataset.state !== 'ringing') { audio.pause(); audio.currentTime = 0; } }, () => {})
        .finally(() => { audio.muted = false; });
    }
    renderControls();
  });
  $('alarm-silence').addEventListener('click', silence);
  $('sound-blocked').addEventListener('click', () => playOnce());
  $('notify-toggle').addEventListener('click', () => {
    if (!notifySupported()) return;
    if (window.Notification.permission !== 'granted') { askPermission(); return; }
    store(NOTIFY_KEY, notifyOn() ? 'off' : 'on');
    renderControls();
  });
  audio.dataset.state = 'idle';

  return {
    start(account) {
      me = account;
      primed = false;
      renderControls();
    },
    observe,
    seed,
    load,
    /** The number in the title. */
    count: () => waiting.size,
    renderControls,
    reset() {
      loads++;
      duringLoad = null;
      for (const n of shown.values()) n.close();
      shown.clear();
      silence();
      waiting = new Map();
      me = null;
      primed = false;
      renderControls();
    },
  };
}
