// Import and export of sites and devices (admins, and a property company its own): a CSV of one
// entity or an XLSX workbook, checked first (dryRun) and then imported; the rows the gateway refuses
// are listed; new devices' secrets can be saved once as a CSV file built in the page. Exports are
// read with the bearer token (a plain link cannot send it) and saved from a Blob.
import { t } from './i18n.js';
import { h } from './dom.js';
import { ApiError, download, upload } from './api.js';
import { csvLine, errorText, saveBlob, table, todayISO } from './forms.js';

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const ENTITIES = ['sites', 'devices'];

const formatOf = (file) => {
  if (!file) return null;
  const name = file.name.toLowerCase();
  if (name.endsWith('.xlsx') || file.type === XLSX_TYPE) return 'xlsx';
  if (name.endsWith('.csv') || file.type === 'text/csv') return 'csv';
  return null;
};

export function createImportView(ctx) {
  const { root } = ctx;
  /**
   * `result`: the last answer ({dryRun, sites, devices, secrets}) or error; `checked`: the file the
   * last successful check was of. New secrets live only here, until the page is left or another
   * file is chosen.
   */
  const state = { file: null, entity: 'sites', busy: false, result: null, error: null, checked: null, mounted: false, exportError: null };

  function choose(file) {
    state.file = file ?? null;
    state.result = null;
    state.error = null;
    state.checked = null;
    render();
  }

  async function run(dryRun) {
    const file = state.file;
    const format = formatOf(file);
    if (!format) return;
    state.busy = true;
    state.result = null;
    state.error = null;
    render();
    const query = new URLSearchParams();
    if (format === 'csv') query.set('entity', state.entity);
    if (dryRun) query.set('dryRun', 'true');
    try {
      const answer = await upload(`/api/v1/registry/import?${query}`, file, format === 'csv' ? 'text/csv' : XLSX_TYPE);
      if (file !== state.file) return;
      state.result = answer;
      state.checked = dryRun ? { file, entity: state.entity } : null;
    } catch (err) {
      if (ctx.fail(err) || file !== state.file) return;
      state.error = err;
    } finally {
      state.busy = false;
    }
    ctx.changed();
    render();
  }

  async function exportFile(format, entity) {
    state.exportError = null;
    const query = new URLSearchParams({ format });
    if (entity) query.set('entity', entity);
    try {
      const { blob, filename } = await download(`/api/v1/registry/export?${query}`, `${entity ?? 'registry'}-${todayISO()}.${format}`);
      saveBlob(blob, filename);
    } catch (err) {
      if (ctx.fail(err)) return;
      state.exportError = errorText(err);
    }
    render();
  }

  function saveSecrets(secrets) {
    const text = [csvLine(['deviceId', 'secret']), ...secrets.map((s) => csvLine([s.deviceId, s.secret]))].join('\r\n') + '\r\n';
    saveBlob(new window.Blob([text], { type: 'text/csv;charset=utf-8' }), `device-secrets-${todayISO()}.csv`);
  }

  function resultPanel() {
    if (state.error) {
      const err = state.error;
      const rows = err instanceof ApiError && err.code === 'GW_IMPORT_INVALID' && Array.isArray(err.details?.rows) ? err.details.rows : null;
      if (!rows) {
        const notThere = err instanceof ApiError && err.status === 404 && err.code === 'GW_NOT_FOUND';
        return h('div#import-result.result.error', { role: 'alert' }, notThere ? t('import.unavailable') : errorText(err));
      }
      return h('div#import-result.result', null,
        h('p.error', { role: 'alert' }, t('import.invalid', { n: rows.length })),
        table('import-errors', ['import.sheet', 'import.line', 'import.field', 'import.message'], rows.map((r) => h('tr.import-error', null,
          h('td', null, r.sheet ?? '—'), h('td.num', null, r.line === undefined || r.line === null ? '—' : String(r.line)),
          h('td', null, r.field ?? '—'), h('td', null, r.message ?? '')))),
        err.details.more > 0 ? h('p.muted', null, t('import.more', { n: err.details.more })) : null);
    }
    const r = state.result;
    if (!r) return null;
    const n = (x) => ({ created: x?.created ?? 0, updated: x?.updated ?? 0, unchanged: x?.unchanged ?? 0 });
    const countsKey = [r.sites, r.devices].some((x) => typeof x?.unchanged === 'number') ? 'import.countsUnchanged' : 'import.counts';
    const secrets = Array.isArray(r.secrets) ? r.secrets : [];
    const counts = h('dl.facts.import-counts', null,
      h('dt', null, t('import.sites')), h('dd#import-sites', null, t(countsKey, n(r.sites))),
      h('dt', null, t('import.devices')), h('dd#import-devices', null, t(countsKey, n(r.devices))));
    return h('div#import-result.result', { role: 'status', dataset: { dryRun: String(!!r.dryRun) } },
      h('p', { class: r.dryRun ? 'ok-text' : 'ok-text done' }, t(r.dryRun ? 'import.checked' : 'import.done')),
      counts,
      !r.dryRun && secrets.length > 0 ? h('div.secrets-box', null,
        h('p.notice.secret-warning', { role: 'alert' }, t('import.secretsWarning', { n: secrets.length })),
        h('button.primary#import-secrets', { type: 'button', onclick: () => saveSecrets(secrets) }, t('import.secretsDownload'))) : null);
  }

  function render() {
    if (!state.mounted) return;
    const format = formatOf(state.file);
    const file = fileInput;
    const entity = h('select#import-entity', { onchange: (e) => { state.entity = e.target.value; state.checked = null; state.result = null; state.error = null; render(); } },
      ENTITIES.map((k) => h('option', { value: k, selected: state.entity === k }, t(`import.entity.${k}`))));
    const checkedThis = state.checked && state.checked.file === state.file && state.checked.entity === state.entity;
    const importSection = h('section.org-section#import', null,
      h('div.panel-head', h('h2', null, t('import.title'))),
      h('p.muted', null, t('import.intro')),
      h('div.fields.inline', null,
        h('div.field', null, h('label', { for: 'import-file' }, t('import.file')), file,
          state.file && !format ? h('p.field-error', { role: 'alert' }, t('import.badFormat')) : null),
        format === 'csv' ? h('div.field', null, h('label', { for: 'import-entity' }, t('import.entity')), entity) : null),
      h('div.buttons', null,
        h('button#import-check', { type: 'button', disabled: !format || state.busy, onclick: () => run(true) }, t('import.check')),
        h('button.primary#import-run', { type: 'button', disabled: !format || state.busy || !checkedThis, onclick: () => run(false) }, t('import.run')),
        state.busy ? h('span.muted', { role: 'status' }, t('alerts.loading')) : null),
      !checkedThis && format && !state.busy ? h('p.hint', null, t('import.checkFirst')) : null,
      resultPanel());
    const exportSection = h('section.org-section#export', null,
      h('div.panel-head', h('h2', null, t('export.title'))),
      h('p.muted', null, t('export.intro')),
      h('div.buttons', null,
        h('button#export-sites-csv', { type: 'button', onclick: () => exportFile('csv', 'sites') }, t('export.sitesCsv')),
        h('button#export-devices-csv', { type: 'button', onclick: () => exportFile('csv', 'devices') }, t('export.devicesCsv')),
        h('button#export-xlsx', { type: 'button', onclick: () => exportFile('xlsx') }, t('export.xlsx'))),
      state.exportError ? h('p.error#export-error', { role: 'alert' }, state.exportError) : null);
    root.replaceChildren(importSection, exportSection);
  }

  // one file input for the page's life: a re-render moves it, so it keeps the chosen file
  const fileInput = h('input#import-file', { type: 'file', accept: `.csv,.xlsx,text/csv,${XLSX_TYPE}`, onchange: (e) => choose(e.target.files?.[0]) });

  return {
    show() { state.mounted = true; render(); },
    render,
    /** Leaving the page forgets the file, the result and any secrets in it. */
    hide() { if (state.mounted) { fileInput.value = ''; Object.assign(state, { file: null, result: null, error: null, checked: null }); render(); } },
    reset() { fileInput.value = ''; Object.assign(state, { file: null, entity: 'sites', busy: false, result: null, error: null, checked: null, mounted: false, exportError: null }); root.replaceChildren(); },
  };
}
