// Shared pieces of the registry pages: labelled fields with their own error line, dialogs (a form,
// a confirmation, a secret shown once) and downloads. Everything is built with the DOM (no HTML
// strings, no inline handlers or styles: the page's CSP allows neither).
import { t } from './i18n.js';
import { h } from './dom.js';
import { ApiError } from './api.js';

let uid = 0;

/**
 * A labelled control. `name` is the API field it edits (an API error whose path names it is shown
 * under it); the control gets the id `id`.
 */
export function field(name, id, labelKey, control, { hint, required } = {}) {
  control.id = id;
  if (!control.name) control.name = name;
  if (required) control.required = true;
  const error = h('p.field-error', { id: `${id}-error`, role: 'alert', hidden: true });
  control.setAttribute('aria-describedby', error.id);
  return h('div.field', { dataset: { field: name } },
    h('label', { for: id }, t(labelKey), required ? h('span.req', { 'aria-hidden': 'true' }, ' *') : null),
    control,
    hint ? h('small.hint', null, hint) : null,
    error);
}

export const input = (props = {}) => h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', ...props });

/** A select of `[value, label]` pairs; `placeholder` adds an empty first option. */
export function select(options, { value, placeholder, ...props } = {}) {
  return h('select', props,
    placeholder !== undefined ? h('option', { value: '' }, placeholder) : null,
    options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
}

/** The form's values of the visible fields that are not empty (trimmed text). */
export function values(form) {
  const out = {};
  for (const f of form.querySelectorAll('.field')) {
    if (f.hidden) continue;
    const c = f.querySelector('input, select, textarea');
    if (!c || c.disabled) continue;
    const v = typeof c.value === 'string' ? c.value.trim() : c.value;
    if (v !== '') out[f.dataset.field] = v;
  }
  return out;
}

/** `body.topFloor`, `/topFloor`, `['topFloor']` → `topFloor`. */
function fieldOf(path) {
  const p = Array.isArray(path) ? path.join('.') : String(path ?? '');
  return p.replace(/^\/+/, '').replace(/^(body|querystring|params)[./]?/, '').split(/[./]/)[0];
}

export function clearErrors(form) {
  for (const e of form.querySelectorAll('.field-error')) { e.hidden = true; e.textContent = ''; }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  const fe = form.querySelector('.form-error');
  if (fe) { fe.hidden = true; fe.textContent = ''; }
}

/** Shows one error under its field (by API field name); false when the form has no such visible field. */
export function fieldError(form, name, message) {
  const f = [...form.querySelectorAll('.field')].find((el) => el.dataset.field === name && !el.hidden);
  if (!f) return false;
  const e = f.querySelector('.field-error');
  e.textContent = message;
  e.hidden = false;
  f.querySelector('input, select, textarea')?.setAttribute('aria-invalid', 'true');
  return true;
}

export function formError(form, message) {
  const fe = form.querySelector('.form-error');
  fe.textContent = message;
  fe.hidden = false;
}

/** What went wrong with a call, in the operator's language, with the gateway's own words after it. */
export function errorText(err) {
  if (!(err instanceof ApiError)) return t('form.network', { msg: err?.message ?? String(err) });
  if (err.status === 403) return t('form.forbidden', { msg: err.message });
  if (err.status === 404) return t('form.notFound', { msg: err.message });
  if (err.status === 409) return t('form.conflict', { msg: err.message });
  if (err.status === 400) return t('form.invalid', { msg: err.message });
  return t('form.failed', { msg: err.message });
}

/**
 * Shows an API error on a form: each `details[]` entry `{path, message}` under its field, the rest
 * (and a summary when some field could not be matched) in the form's error line.
 */
export function showApiError(form, err) {
  clearErrors(form);
  let unmatched = false;
  const details = err instanceof ApiError && Array.isArray(err.details) ? err.details : [];
  for (const d of details) {
    if (!d || typeof d.message !== 'string' || !fieldError(form, fieldOf(d.path), d.message)) unmatched = true;
  }
  if (details.length === 0 || unmatched) formError(form, errorText(err));
  else formError(form, t('form.checkFields'));
}

// ---- dialogs ----

/** A modal dialog; its content is removed from the page when it closes (nothing shown once stays behind). */
export function openDialog({ title, body, actions = [], className, onClose }) {
  const titleId = `dlg-title-${++uid}`;
  const dlg = h('dialog.modal', { class: className, 'aria-labelledby': titleId },
    h('h2', { id: titleId }, title), ...[body].flat(), actions.length > 0 ? h('div.dialog-actions', null, actions) : null);
  dlg.addEventListener('close', () => {
    for (const el of dlg.querySelectorAll('input, textarea')) el.value = '';
    dlg.replaceChildren();
    dlg.remove();
    onClose?.();
  });
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

/**
 * A form in a dialog. `submit(form)` calls the API and returns its answer; an error is shown on the
 * form (fields and all) and the dialog stays; on success the dialog closes and `done(answer)` runs.
 */
export function formDialog({ id, title, fields, submitKey = 'form.save', submit, done, intro }) {
  const error = h('p.form-error.error', { role: 'alert', hidden: true });
  const ok = h('button.primary', { type: 'submit' }, t(submitKey));
  const cancel = h('button', { type: 'button' }, t('form.cancel'));
  const form = h('form.dialog-form', { id, novalidate: true, autocomplete: 'off' },
    intro ? h('p.muted', null, intro) : null, h('div.fields', null, fields), error, h('div.dialog-actions', null, cancel, ok));
  const dlg = openDialog({ title, body: form });
  cancel.addEventListener('click', () => dlg.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    ok.disabled = true;
    let answer;
    try {
      answer = await submit(form);
    } catch (err) {
      ok.disabled = false;
      if (err?.local) return;
      showApiError(form, err);
      return;
    }
    dlg.close();
    done?.(answer);
  });
  form.querySelector('input:not([type=hidden]):not([disabled]), select')?.focus();
  return { dlg, form };
}

/** An error raised in the page before any call (e.g. a date out of range): already shown on the form. */
export function localError(form, name, message) {
  fieldError(form, name, message);
  formError(form, t('form.checkFields'));
  const err = new Error(message);
  err.local = true;
  return err;
}

/** Resolves true when the operator confirms. */
export function confirmDialog({ title, message, confirmKey }) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h('button.primary#confirm-yes', { type: 'button' }, t(confirmKey));
    const no = h('button#confirm-no', { type: 'button' }, t('form.cancel'));
    const dlg = openDialog({ title, body: h('p', null, message), actions: [no, yes], className: 'confirm', onClose: () => resolve(answer) });
    yes.addEventListener('click', () => { answer = true; dlg.close(); });
    no.addEventListener('click', () => dlg.close());
    no.focus();
  });
}

/**
 * A secret (device secret, account token) shown this once: a copy button and a warning. The value
 * lives only in this dialog; closing it empties the dialog and removes it.
 */
export function secretDialog({ title, label, subject, value, warningKey }) {
  const out = h('input#secret-value.secret', { type: 'text', readonly: true, value, spellcheck: 'false', 'aria-label': label });
  const copied = h('span#secret-copied.ok-text', { role: 'status' });
  const copy = h('button#secret-copy', { type: 'button' }, t('secret.copy'));
  copy.addEventListener('click', async () => {
    let ok = false;
    try { await navigator.clipboard.writeText(out.value); ok = true; } catch {
      out.select();
      try { ok = document.execCommand('copy'); } catch { /* nothing more to try */ }
    }
    copied.textContent = t(ok ? 'secret.copied' : 'secret.copyFailed');
  });
  const close = h('button.primary#secret-close', { type: 'button' }, t('secret.close'));
  const dlg = openDialog({
    title,
    className: 'secret-dialog',
    body: [
      h('p.notice.secret-warning', { role: 'alert' }, t(warningKey)),
      subject ? h('p.secret-subject', null, subject) : null,
      h('div.secret-row', null, out, copy),
      copied,
    ],
    actions: [close],
  });
  close.addEventListener('click', () => dlg.close());
  out.addEventListener('focus', () => out.select());
  return dlg;
}

// ---- small helpers ----

const pad = (n) => String(n).padStart(2, '0');
export const isoDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
export const todayISO = () => isoDate(new Date());

/** `YYYY-MM-DD` plus `months` calendar months (the last day of a shorter month). */
export function addMonths(iso, months) {
  const [y, m, d] = iso.split('-').map(Number);
  const last = new Date(y, m - 1 + months + 1, 0).getDate();
  return isoDate(new Date(y, m - 1 + months, Math.min(d, last)));
}

/** Saves `blob` as `filename` through an object URL that is revoked right after. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A CSV line: fields quoted when they hold a comma, quote or line break. */
export const csvLine = (cells) => cells.map((c) => {
  const s = String(c ?? '');
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}).join(',');

/** A name with its id after it in small print (names are shown, ids are secondary). */
export function named(name, id) {
  if (!name || name === id) return h('span.named', null, id ?? '—');
  return h('span.named', null, name, ' ', h('small.id', null, id));
}

/** A table with a header row of label keys; `rows` are `<tr>` elements. */
export function table(className, heads, rows) {
  return h('div.table-wrap', null, h(`table.${className}`, null,
    h('thead', null, h('tr', null, heads.map((k) => h('th', { scope: 'col' }, k ? t(k) : '')))),
    h('tbody', null, rows)));
}

/** A view's "load failed" / "loading" line. */
export const statusLine = (error) => h('p.empty', null, error ? t('alerts.loadFailed', { msg: error }) : t('alerts.loading'));

let toastTimer;
/** A short confirmation of what was done, read out by screen readers (the page's `#toast`, role=status). */
export function toast(message) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; el.textContent = ''; }, 6000);
}
