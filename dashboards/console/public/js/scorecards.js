// Scorecards and ranking (考核排名): the period's maintenance unit and property company scorecards
// (each rate with the counts behind it, and the API lists it came from), the red and black lists,
// charts (Chart.js, served by the gateway at /vendor/chart.umd.min.js), the report's exports and a
// printable report (季度通报). The route is #/scorecards[/2026-11 | /2026-Q4]. Labels are this
// page's own, Chinese first (getLang() picks them); the gateway decides which rows the caller gets.
import { getLang } from './i18n.js';
import { h, serverNow } from './dom.js';
import { download } from './api.js';
import { saveBlob, toast } from './forms.js';

const L = {
  title: ['考核排名', 'Scorecards and ranking'],
  period: ['考核期', 'Period'],
  month: ['月度', 'Month'],
  quarter: ['季度', 'Quarter'],
  incomplete: ['考核期尚未结束，数据截至当前。', 'The period has not ended: figures so far.'],
  loading: ['加载中…', 'Loading…'],
  failed: ['加载失败：{msg}', 'Could not load: {msg}'],
  units: ['维保单位考核', 'Maintenance unit scorecards'],
  companies: ['物业企业考核', 'Property company scorecards'],
  ranking: ['红黑榜', 'Red and black lists'],
  red: ['红榜（最好）', 'Red list (best)'],
  black: ['黑榜（最差）', 'Black list (worst)'],
  none: ['无', 'None'],
  empty: ['本期没有数据。', 'No figures for this period.'],
  charts: ['图表', 'Charts'],
  exportXlsx: ['导出报表（XLSX）', 'Export report (XLSX)'],
  exportCsv: ['导出 CSV：{what}', 'Export CSV: {what}'],
  exported: ['已导出 {name}', 'Exported {name}'],
  print: ['打印报告', 'Print report'],
  reportTitle: ['{period} 考核通报', 'Supervision report {period}'],
  sources: ['数据来源', 'Sources'],
  unranked: ['无数据未排名：{n} 家', 'Not ranked (no data): {n}'],
  scoreNote: ['得分 = 各项指标按权重加权平均（0–100），口径见 docs/supervision-scorecards.md', 'Score = weighted mean of the figures (0–100); definitions in docs/supervision-scorecards.md'],
  place: ['名次', 'Place'],
  name: ['名称', 'Name'],
  score: ['得分', 'Score'],
  unit: ['维保单位', 'Maintenance unit'],
  company: ['物业企业', 'Property company'],
  elevators: ['维保电梯', 'Elevators'],
  response: ['3分钟响应率', '3-min response'],
  arrival: ['按时到场率', 'Arrival in time'],
  avgArrival: ['平均到场', 'Avg. arrival'],
  avgRescue: ['平均救援', 'Avg. rescue'],
  faults: ['台均故障', 'Faults / elevator'],
  trapped: ['台均困人', 'Trapped / elevator'],
  maintenance: ['按时维保率', 'Maintained on time'],
  visits: ['有效 / 疑似虚假维保', 'Valid / suspect visits'],
  inspections: ['按时年检率', 'Inspected on time'],
  sites: ['小区', 'Sites'],
  alerts: ['告警', 'Alerts'],
  closedInTime: ['按期处置率', 'Closed in time'],
  overdue: ['超期告警', 'Overdue alerts'],
  orders: ['逾期整改 / 整改通知', 'Overdue / orders'],
  incidents: ['安全事件（困人 / 火警）', 'Incidents (trapped / fire)'],
  online: ['设备在线率', 'Devices online'],
  coverage: ['感知覆盖率', 'Sensor coverage'],
  minutes: ['{n} 分钟', '{n} min'],
  csvUnits: ['维保单位', 'units'],
  csvCompanies: ['物业企业', 'companies'],
  csvOrders: ['整改通知', 'orders'],
  csvIncidents: ['安全事件', 'incidents'],
};

const tr = (key, params) => {
  let s = L[key][getLang() === 'en' ? 1 : 0];
  if (params) for (const [k, v] of Object.entries(params)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
};

const UNIT_ROLES = ['admin', 'market-supervision', 'street', 'community', 'maintenance'];
const COMPANY_ROLES = ['admin', 'market-supervision', 'fire-service', 'street', 'community', 'property'];
const RANKING_ROLES = ['admin', 'market-supervision', 'fire-service', 'street', 'community'];
const PERIOD_RE = /^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$/;

/** Printing: only the report (the page's own style sheet cannot hold rules: the policy allows no inline style, a constructed sheet is the page's). */
const PRINT_CSS = `@media print {
  .topbar, #view-scorecards .no-print { display: none !important; }
  main { padding: 0 !important; }
  #view-scorecards { border: 0 !important; box-shadow: none !important; }
  #view-scorecards .report-title { display: block !important; }
  #view-scorecards section { break-inside: avoid; }
  #view-scorecards canvas { max-width: 100% !important; }
  #view-scorecards .table-wrap { overflow: visible !important; }
  #view-scorecards table { font-size: 9pt; }
  #view-scorecards th, #view-scorecards td { padding: .2rem .3rem; }
  #view-scorecards table.scorecards th:last-child, #view-scorecards table.scorecards td:last-child { display: none; }
}
#view-scorecards .report-title { display: none; }
#view-scorecards .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; }
#view-scorecards .chart-box { position: relative; height: 260px; }
#view-scorecards .lists { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 1rem; }
#view-scorecards .red h4 { color: #b42318; }
#view-scorecards .rate small, #view-scorecards .sources { color: #667085; font-size: .8rem; }
#view-scorecards .period-picker { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }`;

let styled = false;
function addStyles() {
  if (styled) return;
  styled = true;
  const sheet = new window.CSSStyleSheet();
  sheet.replaceSync(PRINT_CSS);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}

let chartLoading = null;
/** Chart.js, loaded on first use: its UMD build sets window.Chart. */
function loadChart() {
  chartLoading ??= import('/vendor/chart.umd.min.js').then(() => window.Chart);
  return chartLoading;
}

const pad = (n) => String(n).padStart(2, '0');
/** This month on the gateway's clock (the alert clock): the default period. */
function currentMonth() {
  const d = new Date(serverNow());
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}`;
}
function quarterOf(month) {
  const [y, m] = month.split('-').map(Number);
  return `${y}-Q${Math.floor((m - 1) / 3) + 1}`;
}
/** The last 8 quarters up to the current one, newest first. */
function recentQuarters() {
  let [y, q] = quarterOf(currentMonth()).split('-Q').map(Number);
  const out = [];
  for (let i = 0; i < 8; i++) {
    out.push(`${y}-Q${q}`);
    if (--q === 0) { q = 4; y--; }
  }
  return out;
}

const pct = (r) => (r && r.rate !== null ? `${(r.rate * 100).toFixed(1)}%` : '—');
const ratio = (r) => (r && r.rate !== null ? r.rate.toFixed(2) : '—');
const mins = (a) => (a && a.ms !== null ? tr('minutes', { n: (a.ms / 60_000).toFixed(1) }) : '—');
/** A rate with its counts under it: "50.0%  1/2". */
const rateCell = (r) => h('td.num.rate', null, pct(r), h('br'), h('small', null, `${r.count}/${r.of}`));

export function createScorecardsView(ctx) {
  const { root } = ctx;
  const state = { period: null, data: null, error: null, mounted: false, loading: 0 };
  const charts = [];

  const may = (roles) => roles.includes(ctx.me()?.role);

  async function load() {
    const mine = ++state.loading;
    const me = ctx.me();
    const p = encodeURIComponent(state.period);
    const calls = {
      units: may(UNIT_ROLES) ? ctx.api('GET', `/api/v1/scorecards/maintenance-units?period=${p}`) : null,
      companies: may(COMPANY_ROLES) ? ctx.api('GET', `/api/v1/scorecards/companies?period=${p}`) : null,
      rankUnits: may(RANKING_ROLES) && may(UNIT_ROLES) ? ctx.api('GET', `/api/v1/rankings/maintenance-units?period=${p}`) : null,
      rankCompanies: may(RANKING_ROLES) ? ctx.api('GET', `/api/v1/rankings/companies?period=${p}`) : null,
    };
    const keys = Object.keys(calls);
    const results = await Promise.allSettled(keys.map((k) => calls[k]));
    if (mine !== state.loading || ctx.me() !== me) return;
    const data = {};
    state.error = null;
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') data[keys[i]] = r.value;
      else if (!ctx.fail(r.reason)) state.error = r.reason.message;
    });
    if (!ctx.me()) return;
    state.data = data;
    render();
  }

  function setPeriod(period) {
    if (!PERIOD_RE.test(period) || period === state.period) return;
    location.hash = `#/scorecards/${period}`;
  }

  function picker() {
    const quarter = state.period.includes('Q');
    const kind = h('select#sc-kind', { 'aria-label': tr('period'), onchange: (e) => setPeriod(e.target.value === 'quarter' ? quarterOf(currentMonth()) : currentMonth()) },
      h('option', { value: 'month', selected: !quarter }, tr('month')), h('option', { value: 'quarter', selected: quarter }, tr('quarter')));
    const which = quarter
      ? h('select#sc-period', { onchange: (e) => setPeriod(e.target.value) }, recentQuarters().map((q) => h('option', { value: q, selected: q === state.period }, q)))
      : h('input#sc-period', { type: 'month', value: state.period, max: currentMonth(), onchange: (e) => setPeriod(e.target.value) });
    return h('div.period-picker.no-print', null, h('label', { for: 'sc-period' }, tr('period')), kind, which);
  }

  async function exportReport(format, section) {
    const name = `report-${state.period}${section ? `-${section}` : ''}.${format}`;
    try {
      const { blob, filename } = await download(`/api/v1/reports?period=${encodeURIComponent(state.period)}&format=${format}${section ? `&section=${section}` : ''}`, name);
      saveBlob(blob, filename);
      toast(tr('exported', { name: filename }));
    } catch (err) {
      if (!ctx.fail(err)) toast(tr('failed', { msg: err.message }));
    }
  }

  function toolbar() {
    const d = state.data ?? {};
    const csv = [['units', 'csvUnits', d.units], ['companies', 'csvCompanies', d.companies], ['orders', 'csvOrders', true], ['incidents', 'csvIncidents', true]];
    return h('div.head-actions.no-print', null,
      h('button#sc-xlsx', { type: 'button', onclick: () => exportReport('xlsx') }, tr('exportXlsx')),
      csv.filter(([, , shown]) => shown).map(([section, key]) => h('button.sc-csv', { type: 'button', dataset: { section }, onclick: () => exportReport('csv', section) }, tr('exportCsv', { what: tr(key) }))),
      h('button.primary#sc-print', { type: 'button', onclick: () => window.print() }, tr('print')));
  }

  const head = (keys) => h('thead', null, h('tr', null, keys.map((k) => h('th', { scope: 'col' }, tr(k)))));
  const sources = (links) => h('details.sources', null, h('summary', null, tr('sources')), Object.values(links).map((l) => h('div', null, h('code', null, l))));

  function unitTable(items) {
    if (items.length === 0) return h('p.empty', null, tr('empty'));
    return h('div.table-wrap', null, h('table.scorecards.units#sc-units', null,
      head(['unit', 'elevators', 'response', 'arrival', 'avgArrival', 'avgRescue', 'faults', 'trapped', 'maintenance', 'visits', 'inspections', 'sources']),
      h('tbody', null, items.map((u) => h('tr.unit-row', { dataset: { id: u.id } },
        h('td', null, h('strong', null, u.name)),
        h('td.num', null, String(u.elevators)),
        rateCell(u.response), rateCell(u.arrival),
        h('td.num', null, mins(u.averageArrival)), h('td.num', null, mins(u.averageRescue)),
        h('td.num', null, ratio(u.faultsPerElevator), h('br'), h('small', null, String(u.faultsPerElevator.count))),
        h('td.num', null, ratio(u.trappedPerElevator), h('br'), h('small', null, String(u.trappedPerElevator.count))),
        rateCell(u.maintenanceOnTime),
        h('td.num', null, `${u.visits.valid} / ${u.visits.suspect}`),
        rateCell(u.inspectionsOnTime),
        h('td', null, sources(u.links)))))));
  }

  function companyTable(items) {
    if (items.length === 0) return h('p.empty', null, tr('empty'));
    return h('div.table-wrap', null, h('table.scorecards.companies#sc-companies', null,
      head(['company', 'sites', 'alerts', 'closedInTime', 'overdue', 'orders', 'incidents', 'online', 'coverage', 'sources']),
      h('tbody', null, items.map((c) => h('tr.company-row', { dataset: { id: c.id } },
        h('td', null, h('strong', null, c.name)),
        h('td.num', null, String(c.sites)), h('td.num', null, String(c.alerts)),
        rateCell(c.closedInTime), h('td.num', null, String(c.overdue.count)),
        h('td.num', null, `${c.ordersOverdue.count} / ${c.ordersOverdue.of}`),
        h('td.num', null, `${c.incidents.total} (${c.incidents.trapped} / ${c.incidents.fires})`),
        rateCell(c.online), rateCell(c.coverage),
        h('td', null, sources(c.links)))))));
  }

  function placeList(kind, places, which) {
    return h(`div.${which}`, null, h('h4', null, tr(which)),
      places.length === 0 ? h('p.muted', null, tr('none')) : h('table', { class: `ranking ${which}`, dataset: { kind } }, head(['place', 'name', 'score']),
        h('tbody', null, places.map((p) => h('tr.place', { dataset: { id: p.id } }, h('td.num', null, String(p.place)), h('td', null, p.name), h('td.num', null, p.score.toFixed(1)))))));
  }

  function rankingSection(kind, r) {
    if (!r) return null;
    return h('section.ranking-block', { dataset: { kind } },
      h('h3', null, `${tr('ranking')} · ${tr(kind === 'units' ? 'unit' : 'company')}`),
      h('div.lists', null, placeList(kind, r.red, 'red'), placeList(kind, r.black, 'black')),
      r.unranked > 0 ? h('p.muted', null, tr('unranked', { n: r.unranked })) : null);
  }

  /** The charts' canvases now, drawn once Chart.js is loaded (the page is usable before). */
  function chartSection() {
    const d = state.data;
    const specs = [];
    if (d.units?.items.length) {
      specs.push({ id: 'sc-chart-units', title: tr('units'), labels: d.units.items.map((u) => u.name),
        sets: [['response', d.units.items.map((u) => u.response.rate)], ['arrival', d.units.items.map((u) => u.arrival.rate)], ['maintenance', d.units.items.map((u) => u.maintenanceOnTime.rate)]] });
    }
    if (d.companies?.items.length) {
      specs.push({ id: 'sc-chart-companies', title: tr('companies'), labels: d.companies.items.map((c) => c.name),
        sets: [['closedInTime', d.companies.items.map((c) => c.closedInTime.rate)], ['online', d.companies.items.map((c) => c.online.rate)], ['coverage', d.companies.items.map((c) => c.coverage.rate)]] });
    }
    if (specs.length === 0) return null;
    const boxes = specs.map((s) => ({ s, canvas: h('canvas', { id: s.id, role: 'img', 'aria-label': s.title }) }));
    const colours = ['#1d4ed8', '#16a34a', '#f59e0b'];
    loadChart().then((Chart) => {
      if (!root.contains(boxes[0].canvas)) return;
      for (const { s, canvas } of boxes) {
        charts.push(new Chart(canvas, {
          type: 'bar',
          data: { labels: s.labels, datasets: s.sets.map(([key, values], i) => ({ label: tr(key), data: values.map((v) => (v === null ? null : Math.round(v * 1000) / 10)), backgroundColor: colours[i] })) },
          options: {
            responsive: true, maintainAspectRatio: false, animation: false,
            plugins: { title: { display: true, text: `${s.title} (%)` } },
            scales: { y: { min: 0, max: 100 } },
          },
        }));
      }
      root.dataset.charts = 'drawn';
    }).catch((err) => toast(tr('failed', { msg: err.message })));
    return h('section.charts-block', null, h('h3', null, tr('charts')),
      h('div.charts', null, boxes.map(({ s, canvas }) => h('div.chart-box', { dataset: { chart: s.id } }, canvas))));
  }

  function render() {
    if (!state.mounted) return;
    for (const c of charts.splice(0)) c.destroy();
    delete root.dataset.charts;
    const d = state.data;
    const period = d?.units?.period ?? d?.companies?.period;
    const parts = [
      h('h1.report-title', null, tr('reportTitle', { period: state.period })),
      h('div.panel-head', null, h('h2', null, tr('title')), picker(), toolbar()),
    ];
    if (!d) {
      parts.push(h('p.empty', null, state.error ? tr('failed', { msg: state.error }) : tr('loading')));
    } else {
      if (state.error) parts.push(h('p.error', null, tr('failed', { msg: state.error })));
      if (period && !period.complete) parts.push(h('p.notice.incomplete', null, tr('incomplete')));
      if (d.units) parts.push(h('section#sc-units-block', null, h('h3', null, tr('units')), unitTable(d.units.items)));
      if (d.companies) parts.push(h('section#sc-companies-block', null, h('h3', null, tr('companies')), companyTable(d.companies.items)));
      if (d.rankUnits || d.rankCompanies) {
        parts.push(h('section#sc-ranking', null, rankingSection('units', d.rankUnits), rankingSection('companies', d.rankCompanies), h('p.muted', null, tr('scoreNote'))));
      }
      parts.push(chartSection());
    }
    root.replaceChildren(...parts.filter(Boolean));
  }

  return {
    show(params) {
      addStyles();
      const asked = params[0] && PERIOD_RE.test(params[0]) ? params[0] : null;
      const period = asked ?? state.period ?? currentMonth();
      state.mounted = true;
      if (period !== state.period) {
        state.period = period;
        state.data = null;
      }
      // the figures of an unfinished period change: read them again each time the page is opened
      render();
      load();
    },
    render,
    hide() {
      for (const c of charts.splice(0)) c.destroy();
    },
    reset() {
      for (const c of charts.splice(0)) c.destroy();
      Object.assign(state, { period: null, data: null, error: null, mounted: false, loading: state.loading + 1 });
      root.replaceChildren();
    },
  };
}
