/**
 * The elevator's public notice (电梯维保信息公示) as residents see it: one static HTML page per
 * elevator, Chinese first then English, and the A6 label with its QR code that the property company
 * prints and posts in the car. Pure functions from the public facts to markup; the HTTP side
 * (lookup, rate limit, headers, the QR code itself) is gateway/http/routes/public-notice.ts.
 *
 * The pages carry no script at all and one style sheet each, inline and allowed by its hash
 * (`STYLE_HASHES`), so the policy can be `script-src 'none'` with nothing from any other origin.
 * Every value from the registry passes through `esc` on its way into the markup.
 */
import { createHash } from 'node:crypto';

export const PUBLIC_STATES = ['in_service', 'out_of_service', 'fault', 'offline', 'trapped', 'inspection'] as const;
export type PublicState = (typeof PUBLIC_STATES)[number];

/** What a resident is told about the elevator's state: nothing about which fault, nor since when. */
export const STATE_TEXT: Record<PublicState, { zh: string; en: string }> = {
  in_service: { zh: '正常运行', en: 'In service' },
  out_of_service: { zh: '故障停梯', en: 'Out of service' },
  fault: { zh: '存在故障，维保单位处理中', en: 'Fault reported, being repaired' },
  offline: { zh: '监测终端离线，运行状态未知', en: 'Monitoring offline, state unknown' },
  trapped: { zh: '困人救援中', en: 'Rescue under way' },
  inspection: { zh: '检修保养中', en: 'Under inspection or maintenance' },
};

/** The public facts of one elevator, already cleaned (see `publicFacts` in the route module). */
export interface NoticeFacts {
  registrationCode: string;
  siteName: string;
  location: string | null;
  maintenanceUnit: { name: string; phone: string | null } | null;
  /** YYYY-MM-DD of the last valid maintenance visit; null: none recorded. */
  lastMaintenanceVisit: string | null;
  /** YYYY-MM-DD of the next periodic inspection (年检); null: not recorded. */
  nextInspectionDue: string | null;
  state: PublicState;
  stateText: { zh: string; en: string };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes text for element content and quoted attribute values alike. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/**
 * The number a phone dials: the leading run of digits, spaces, dashes and brackets ("400-820-1234
 * 转 8" dials 4008201234), digits only, a leading + kept; null when that leaves no plausible number.
 */
export function telHref(phone: string): string | null {
  const dialled = /^\s*(\+?)([0-9(][0-9\s()-]*)/.exec(phone);
  if (!dialled) return null;
  const digits = dialled[2]!.replace(/\D/g, '');
  return digits.length >= 3 && digits.length <= 20 ? `tel:${dialled[1]}${digits}` : null;
}

const PAGE_CSS = `
:root { color-scheme: light; font-family: system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
body { margin: 0; background: #f3f5f7; color: #1b1f23; line-height: 1.5; }
main { max-width: 34rem; margin: 0 auto; padding: 1.25rem 1rem 2rem; }
h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
h1 .en, .en { display: block; font-size: .85em; color: #57606a; font-weight: normal; }
.where { margin: 0 0 1rem; color: #3a424a; }
.state { border-radius: .5rem; padding: .9rem 1rem; margin: 0 0 1rem; font-size: 1.2rem; font-weight: 600; background: #e6f4ea; border-left: .4rem solid #1e8e3e; }
.state[data-state="fault"], .state[data-state="inspection"], .state[data-state="offline"] { background: #fff4e5; border-left-color: #e37400; }
.state[data-state="out_of_service"], .state[data-state="trapped"] { background: #fdecea; border-left-color: #c5221f; }
dl { background: #fff; border-radius: .5rem; padding: .5rem 1rem; margin: 0 0 1rem; }
dt { color: #57606a; font-size: .9rem; margin-top: .6rem; }
dd { margin: 0 0 .4rem; font-size: 1.1rem; }
a.tel { font-size: 1.3rem; font-weight: 700; color: #0b57d0; text-decoration: none; }
.code { font-family: ui-monospace, monospace; letter-spacing: .05em; }
footer { font-size: .8rem; color: #57606a; }
`;

const PRINT_CSS = `
@page { size: 105mm 148mm; margin: 6mm; } /* A6 (Chromium ignores the keyword "A6") */
:root { font-family: system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
html, body { margin: 0; background: #fff; color: #000; }
.label { width: 93mm; height: 136mm; box-sizing: border-box; margin: 0 auto; padding: 4mm; border: .3mm solid #000;
  display: flex; flex-direction: column; align-items: center; justify-content: space-between; text-align: center; overflow: hidden; }
h1 { font-size: 13pt; margin: 0; }
h1 .en { display: block; font-size: 9pt; font-weight: normal; }
img.qr { width: 62mm; height: 62mm; image-rendering: pixelated; }
.code { font-family: ui-monospace, monospace; font-size: 11pt; letter-spacing: .05em; margin: 0; }
.unit { font-size: 10pt; margin: 0; }
.phone { font-size: 14pt; font-weight: 700; margin: 0; }
.small { font-size: 8pt; margin: 0; }
@media screen { body { padding: 1rem; background: #eee; } .label { background: #fff; } }
`;

const hashOf = (css: string) => `'sha256-${createHash('sha256').update(css, 'utf8').digest('base64')}'`;

/** The CSP source of each page's one inline style sheet. */
export const STYLE_HASHES = { page: hashOf(PAGE_CSS), print: hashOf(PRINT_CSS) } as const;

function document(title: string, css: string, body: string): string {
  return '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
    + '<meta name="viewport" content="width=device-width, initial-scale=1">'
    + `<title>${esc(title)}</title><style>${css}</style></head>\n<body>${body}</body></html>\n`;
}

const NO_RECORD = '暂无记录 <span lang="en" class="en">No record</span>';

function dateOrNone(d: string | null): string {
  return d === null ? NO_RECORD : `<span class="date">${esc(d)}</span>`;
}

function phoneMarkup(phone: string | null): string {
  if (phone === null) return NO_RECORD;
  const href = telHref(phone);
  return href === null ? esc(phone) : `<a class="tel" href="${esc(href)}">${esc(phone)}</a>`;
}

/** The notice residents open by scanning the label. */
export function renderNoticePage(f: NoticeFacts): string {
  const unit = f.maintenanceUnit;
  const where = f.location === null ? esc(f.siteName) : `${esc(f.siteName)} · ${esc(f.location)}`;
  const body = '<main>'
    + '<h1>电梯维保信息公示<span lang="en" class="en">Elevator maintenance notice</span></h1>'
    + `<p class="where" id="where">${where}</p>`
    + `<p class="state" id="state" data-state="${f.state}">${esc(f.stateText.zh)}<span lang="en" class="en">${esc(f.stateText.en)}</span></p>`
    + '<dl>'
    + `<dt>电梯注册代码 <span lang="en">/ Registration code</span></dt><dd class="code" id="code">${esc(f.registrationCode)}</dd>`
    + `<dt>维保单位 <span lang="en">/ Maintenance unit</span></dt><dd id="unit">${unit === null ? NO_RECORD : esc(unit.name)}</dd>`
    + `<dt>24小时应急电话 <span lang="en">/ 24 h phone</span></dt><dd id="phone">${phoneMarkup(unit?.phone ?? null)}</dd>`
    + `<dt>最近一次维保 <span lang="en">/ Last maintenance visit</span></dt><dd id="last-visit">${dateOrNone(f.lastMaintenanceVisit)}</dd>`
    + `<dt>下次定期检验 <span lang="en">/ Next inspection due</span></dt><dd id="next-inspection">${dateOrNone(f.nextInspectionDue)}</dd>`
    + '</dl>'
    + '<footer>如遇困人请按轿厢内报警按钮或拨打上方电话。<span lang="en" class="en">If you are trapped, press the alarm button in the car or call the number above.</span></footer>'
    + '</main>';
  return document(`电梯维保信息 ${f.registrationCode}`, PAGE_CSS, body);
}

/** The A6 label: QR code (`qr.svg`, relative to the label's own address), code, and the unit's phone. */
export function renderPrintPage(f: NoticeFacts): string {
  const unit = f.maintenanceUnit;
  const body = '<div class="label">'
    + '<h1>扫码查看电梯维保信息<span lang="en" class="en">Scan for this elevator\'s maintenance information</span></h1>'
    + `<img class="qr" src="qr.svg" alt="二维码 / QR code: ${esc(f.registrationCode)}" width="240" height="240">`
    + `<p class="code">注册代码 / Registration code<br>${esc(f.registrationCode)}</p>`
    + (unit === null ? '' : `<p class="unit">维保单位 / Maintenance unit: ${esc(unit.name)}</p>`)
    + (unit?.phone ? `<p class="phone">24小时电话 / 24 h: ${esc(unit.phone)}</p>` : '')
    + `<p class="small">${esc(f.siteName)}${f.location === null ? '' : ` · ${esc(f.location)}`}</p>`
    + '</div>';
  return document(`电梯二维码 ${f.registrationCode}`, PRINT_CSS, body);
}

/** The answer for an unknown or malformed code: the same bytes whatever the code was. */
export function renderNotFoundPage(): string {
  return document('未找到 / Not found', PAGE_CSS, '<main>'
    + '<h1>未找到该电梯<span lang="en" class="en">No elevator with this registration code</span></h1>'
    + '<p>请核对电梯注册代码，或联系物业服务企业。<span lang="en" class="en">Check the registration code, or ask the property management office.</span></p>'
    + '</main>');
}

/** Too many requests from one address, or the facts cannot be read now. */
export function renderBusyPage(kind: 'limited' | 'unavailable'): string {
  const [zh, en] = kind === 'limited'
    ? ['请求过于频繁，请稍后再试。', 'Too many requests; try again in a minute.']
    : ['暂时无法查询，请稍后再试。', 'The notice cannot be read right now; try again later.'];
  return document('请稍后再试 / Try again later', PAGE_CSS, `<main><h1>${zh}<span lang="en" class="en">${en}</span></h1></main>`);
}
