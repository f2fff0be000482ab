// DOM building and time formatting shared by the views. Text always goes in as textContent: device
// labels, notes and details come from the field and must never be parsed as HTML.
import { getLang, t } from './i18n.js';

/** `h('li.alert-row#r3', {dataset: {id: 3}, onclick}, child, 'text', ...)`; the props may be left out. */
export function h(tag, props, ...children) {
  if (props instanceof Node || Array.isArray(props) || typeof props !== 'object') {
    children.unshift(props);
    props = null;
  }
  // 'article.alert-detail#alert-detail' → <article class="alert-detail" id="alert-detail">
  const [name, ...parts] = tag.split(/(?=[.#])/);
  const el = document.createElement(name || 'div');
  const classes = parts.filter((p) => p[0] === '.').map((p) => p.slice(1));
  if (classes.length > 0) el.className = classes.join(' ');
  const id = parts.find((p) => p[0] === '#');
  if (id) el.id = id.slice(1);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'class') el.className = [el.className, v].filter(Boolean).join(' ');
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k in el && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** The alert clock: server time = browser time + offset (the gateway's clock is the one deadlines use). */
let offset = 0;
export const serverNow = () => Date.now() + offset;
export function syncClock(serverTime) {
  if (typeof serverTime === 'number') offset = serverTime - Date.now();
}

const pad = (n) => String(n).padStart(2, '0');

/** A length of time for a countdown: `mm:ss`, `h:mm:ss`, or `Nd h:mm` beyond a day. */
export function formatDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  if (d > 0) return `${t('time.days', { n: d })} ${hh}:${pad(mm)}`;
  if (hh > 0) return `${hh}:${pad(mm)}:${pad(ss)}`;
  return `${pad(mm)}:${pad(ss)}`;
}

export function formatAge(at) {
  const s = Math.max(0, (serverNow() - at) / 1000);
  if (s < 60) return t('time.justNow');
  if (s < 3600) return t('time.minutesAgo', { n: Math.floor(s / 60) });
  if (s < 86400) return t('time.hoursAgo', { n: Math.floor(s / 3600) });
  return t('time.daysAgo', { n: Math.floor(s / 86400) });
}

export function formatTime(at) {
  if (at === null || at === undefined) return '—';
  return new Date(at).toLocaleString(getLang() === 'en' ? 'en-GB' : 'zh-CN', { hour12: false });
}

/** An element whose text is the age of `at`, refreshed by `tick()`. */
export const ageEl = (at, tag = 'span.age') => h(tag, { dataset: { since: String(at) }, title: formatTime(at) }, formatAge(at));

/**
 * A deadline countdown element, refreshed by `tick()`. `doneAt` is when the step was done (it is no
 * longer counting then).
 */
export function deadlineEl(by, doneAt, prefix) {
  const el = h('span.deadline', { dataset: { by: by === null ? '' : String(by), done: doneAt === null || doneAt === undefined ? '' : String(doneAt), prefix: prefix ?? '' } });
  renderDeadline(el);
  return el;
}

function renderDeadline(el) {
  const by = el.dataset.by === '' ? null : Number(el.dataset.by);
  const done = el.dataset.done === '' ? null : Number(el.dataset.done);
  const prefix = el.dataset.prefix ? `${t(el.dataset.prefix)} ` : '';
  el.classList.remove('overdue', 'soon', 'met');
  if (by === null) { el.textContent = t('deadline.none'); return; }
  el.title = formatTime(by);
  if (done !== null) {
    el.classList.add('met');
    el.textContent = prefix + t(done <= by ? 'deadline.met' : 'deadline.metLate');
    return;
  }
  const left = by - serverNow();
  if (left < 0) {
    el.classList.add('overdue');
    el.textContent = prefix + t('deadline.overdue', { d: formatDuration(-left) });
  } else {
    if (left < 5 * 60_000) el.classList.add('soon');
    el.textContent = prefix + t('deadline.left', { d: formatDuration(left) });
  }
}

/** Refreshes every age and countdown on the page (once a second). */
export function tick(root = document) {
  for (const el of root.querySelectorAll('[data-since]')) el.textContent = formatAge(Number(el.dataset.since));
  for (const el of root.querySelectorAll('.deadline')) renderDeadline(el);
}

/** Runs `fn` once, `ms` after the last call. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
