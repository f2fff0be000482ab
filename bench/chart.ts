/**
 * The benchmark's results as one SVG, written next to its Markdown table: throughput against the
 * acknowledge-only Aedes ceiling, alert latency percentiles against their target, and memory per
 * idle device. Hand-written SVG (a few rects, lines and texts): no chart library, and it renders in
 * any browser and on GitHub.
 */

export interface Bar { label: string; value: number | undefined; color: string; note?: string }
export interface Line { label: string; value: number }
export interface Panel { title: string; unit: string; bars: Bar[]; lines: Line[] }

const W = 1080, H = 440, PAD = 16, TOP = 72, PANEL_GAP = 32;
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A round axis maximum above `x`: 1, 2, 2.5 or 5 times a power of ten. */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function fmt(x: number): string {
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x >= 100) return x.toFixed(0);
  return x.toFixed(1);
}

/** Words of `text` in lines of at most `max` characters (a longer word gets a line of its own). */
function wrap(text: string, max: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > max) { lines.push(line); line = word; } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

function panel(x: number, y: number, w: number, h: number, p: Panel): string {
  const out: string[] = [];
  const unit = wrap(p.unit, Math.floor(w / 6)).slice(0, 2);
  out.push(`<text x="${x}" y="${y - 40}" ${FONT} font-size="14" font-weight="bold">${esc(p.title)}</text>`);
  unit.forEach((u, k) => out.push(`<text x="${x}" y="${y - 22 + k * 13}" ${FONT} font-size="11" fill="#555">${esc(u)}</text>`));
  const measured = p.bars.filter((b) => b.value !== undefined && Number.isFinite(b.value));
  const axisLeft = x + 44, plotW = w - 44, plotH = h - 56, base = y + plotH;
  if (measured.length === 0) {
    out.push(`<rect x="${axisLeft}" y="${y}" width="${plotW}" height="${plotH}" fill="#f6f6f6"/>`);
    out.push(`<text x="${axisLeft + plotW / 2}" y="${y + plotH / 2}" ${FONT} font-size="13" fill="#888" text-anchor="middle">not measured</text>`);
    return out.join('\n');
  }
  const max = niceMax(Math.max(...measured.map((b) => b.value!), ...p.lines.map((l) => l.value)) * 1.08);
  const yOf = (v: number) => base - (v / max) * plotH;
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4, yy = yOf(v);
    out.push(`<line x1="${axisLeft}" y1="${yy.toFixed(1)}" x2="${axisLeft + plotW}" y2="${yy.toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${axisLeft - 4}" y="${(yy + 4).toFixed(1)}" ${FONT} font-size="10" fill="#666" text-anchor="end">${esc(fmt(v))}</text>`);
  }
  out.push(`<line x1="${axisLeft}" y1="${base}" x2="${axisLeft + plotW}" y2="${base}" stroke="#333"/>`);
  const slot = plotW / p.bars.length, bw = Math.min(64, slot * 0.6);
  p.bars.forEach((b, i) => {
    const cx = axisLeft + slot * (i + 0.5);
    if (b.value !== undefined && Number.isFinite(b.value)) {
      const top = yOf(b.value);
      out.push(`<rect x="${(cx - bw / 2).toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${(base - top).toFixed(1)}" fill="${b.color}"/>`);
      out.push(`<text x="${cx.toFixed(1)}" y="${(top - 4).toFixed(1)}" ${FONT} font-size="11" text-anchor="middle">${esc(fmt(b.value))}</text>`);
    } else {
      out.push(`<text x="${cx.toFixed(1)}" y="${base - 6}" ${FONT} font-size="10" fill="#888" text-anchor="middle">—</text>`);
    }
    // the label in lines as wide as the bar's slot, then the note (a ratio) in grey
    const label = wrap(b.label, Math.max(6, Math.floor(slot / 5.6))).slice(0, 3);
    label.forEach((l, k) => out.push(`<text x="${cx.toFixed(1)}" y="${base + 14 + k * 12}" ${FONT} font-size="10" text-anchor="middle">${esc(l)}</text>`));
    if (b.note) out.push(`<text x="${cx.toFixed(1)}" y="${base + 14 + label.length * 12}" ${FONT} font-size="10" fill="#666" text-anchor="middle">${esc(b.note)}</text>`);
  });
  for (const l of p.lines) {
    const yy = yOf(l.value).toFixed(1);
    out.push(`<line x1="${axisLeft}" y1="${yy}" x2="${axisLeft + plotW}" y2="${yy}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${axisLeft + plotW}" y="${(Number(yy) - 4).toFixed(1)}" ${FONT} font-size="10" fill="#c0392b" text-anchor="end">${esc(l.label)}</text>`);
  }
  return out.join('\n');
}

/** The whole chart: a title line, then the panels side by side. */
export function chartSvg(title: string, subtitle: string, panels: Panel[]): string {
  const pw = (W - 2 * PAD - PANEL_GAP * (panels.length - 1)) / panels.length;
  const body = panels.map((p, i) => panel(PAD + i * (pw + PANEL_GAP), TOP + 30, pw, H - TOP - 40, p)).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${PAD}" y="24" ${FONT} font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="${PAD}" y="42" ${FONT} font-size="11" fill="#555">${esc(subtitle)}</text>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}
