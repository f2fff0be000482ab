/**
 * The published ranking (红黑榜公示) as the public sees it: names and figures, Chinese first then
 * English, no ids, no links into the API. One static page, no script, one inline style allowed by
 * its hash; every name passes through `esc`. And a per-address token bucket, so that the page (a
 * whole period's figures) cannot be used to load the gateway.
 */
import { createHash } from 'node:crypto';

export interface PublicPlace { place: number; name: string; score: number; figures: Record<string, string> }
export interface PublicRanking {
  kind: 'maintenance-units' | 'companies';
  period: string;
  complete: boolean;
  ranked: number;
  red: PublicPlace[];
  black: PublicPlace[];
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const CSS = 'body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:2rem auto;max-width:64rem;padding:0 1rem;color:#1f2933}'
  + 'h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}.red h2{color:#b42318}.black h2{color:#111}'
  + 'table{border-collapse:collapse;width:100%}th,td{border:1px solid #d0d5dd;padding:.35rem .5rem;text-align:left;font-size:.9rem}'
  + 'th{background:#f2f4f7}td.num{text-align:right}.muted{color:#667085}';
export const PUBLIC_STYLE_HASH = `'sha256-${createHash('sha256').update(CSS, 'utf8').digest('base64')}'`;

const KIND_TEXT = {
  'maintenance-units': { zh: '电梯维保单位', en: 'Elevator maintenance units' },
  companies: { zh: '物业服务企业', en: 'Property companies' },
} as const;

/** The figure columns of the public page, by kind: label and the key in `figures`. */
export const PUBLIC_COLUMNS = {
  'maintenance-units': [
    ['elevators', '维保电梯', 'Elevators'], ['response', '3分钟响应率', '3-min response'], ['arrival', '按时到场率', 'Arrival in time'],
    ['averageArrival', '平均到场（分钟）', 'Avg. arrival (min)'], ['faultsPerElevator', '台均故障', 'Faults / elevator'],
    ['trappedPerElevator', '台均困人', 'Trapped / elevator'], ['maintenanceOnTime', '按时维保率', 'Maintained on time'],
    ['suspectVisits', '疑似虚假维保', 'Suspect visits'], ['inspectionsOnTime', '按时年检率', 'Inspected on time'],
  ],
  companies: [
    ['sites', '小区', 'Sites'], ['alerts', '告警', 'Alerts'], ['closedInTime', '按期处置率', 'Closed in time'],
    ['ordersOverdue', '逾期整改', 'Overdue orders'], ['incidents', '安全事件', 'Safety incidents'],
    ['online', '设备在线率', 'Devices online'], ['coverage', '感知覆盖率', 'Sensor coverage'],
  ],
} as const;

function list(r: PublicRanking, which: 'red' | 'black'): string {
  const title = which === 'red' ? '红榜 Red list（表现最好 best）' : '黑榜 Black list（表现最差 worst）';
  const cols = PUBLIC_COLUMNS[r.kind];
  const places = r[which];
  const head = `<tr><th>名次<br>Place</th><th>名称<br>Name</th><th>得分<br>Score</th>${cols.map(([, zh, en]) => `<th>${zh}<br>${en}</th>`).join('')}</tr>`;
  const rows = places.map((p) => `<tr><td class="num">${p.place}</td><td>${esc(p.name)}</td><td class="num">${p.score.toFixed(1)}</td>${
    cols.map(([key]) => `<td class="num">${esc(p.figures[key] ?? '—')}</td>`).join('')}</tr>`).join('');
  return `<section class="${which}"><h2>${title}</h2>${places.length === 0 ? '<p class="muted">无 None</p>' : `<table>${head}${rows}</table>`}</section>`;
}

export function renderRankingPage(r: PublicRanking): string {
  const kind = KIND_TEXT[r.kind];
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`
    + `<title>${kind.zh}红黑榜 ${esc(r.period)}</title><style>${CSS}</style></head><body>`
    + `<h1>${kind.zh}红黑榜 · ${kind.en} ranking<br>${esc(r.period)}</h1>`
    + `<p class="muted">${r.complete ? '' : '考核期尚未结束，数据截至当前 / the period has not ended: figures so far. '}`
    + `参与排名 ${r.ranked} 家 / ${r.ranked} ranked. 得分口径见说明 / how the score is made: docs/supervision-scorecards.md</p>`
    + `${list(r, 'red')}${list(r, 'black')}</body></html>`;
}

export function renderRankingError(message: string): string {
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>红黑榜 Ranking</title><style>${CSS}</style></head><body><h1>红黑榜 · Ranking</h1><p>${esc(message)}</p></body></html>`;
}

/** Token buckets per client address (the most recently seen `max` of them). */
export class PublicRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly burst: number, private readonly perMinute: number, private readonly max = 10_000) {}

  /** 0 when allowed; otherwise the whole seconds until the next request is. */
  take(address: string, now: number): number {
    let b = this.buckets.get(address);
    if (b) {
      this.buckets.delete(address);
      b.tokens = Math.min(this.burst, b.tokens + Math.max(0, now - b.at) * (this.perMinute / 60_000));
      b.at = now;
    } else {
      if (this.buckets.size >= this.max) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.burst, at: now };
    }
    this.buckets.set(address, b);
    if (b.tokens >= 1) { b.tokens -= 1; return 0; }
    return Math.max(1, Math.ceil((1 - b.tokens) / (this.perMinute / 60_000) / 1000));
  }
}
