/**
 * Where a process's CPU time went: reads a `.cpuprofile` (V8's sampling profiler, as written by
 * `node --cpu-prof`, Chrome DevTools or `npm run bench -- --profile`) and prints, as Markdown, the
 * top functions by self time and by inclusive time, and the self time per package.
 *
 *   node dist/bench/profile-summary.js bench/results/bench-…-ingest.cpuprofile [--top 25]
 *
 * A `.heapprofile` (`npm run bench -- --heap-profile`) is summarised as bytes allocated per
 * function and per package instead.
 *
 * Self time: samples whose innermost frame is the function. Inclusive: samples with the function
 * anywhere on the stack (counted once per sample, so recursion is not counted twice). A sample's
 * time is the interval to the next sample, as DevTools counts it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface FunctionTime { name: string; where: string; pkg: string; selfUs: number; totalUs: number }
export interface ProfileSummary {
  /** µs between the first and the last sample. */
  sampledUs: number;
  /** µs in `(idle)`: the event loop waiting for I/O. */
  idleUs: number;
  /** µs in `(garbage collector)`. */
  gcUs: number;
  functions: FunctionTime[];
  /** Self time per package (`aedes`, `zod`, `node:internal`, `gateway/…` for this project's folders). */
  packages: Array<{ pkg: string; selfUs: number }>;
}

/** Where a script comes from: its npm package, Node's internals, or this project's top folder. */
function packageOf(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return 'node:internal';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length).split('/')[0]! + '/';
  return url;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // one entry per function (name and source position), shared by all its nodes
  const fnOf = new Map<number, FunctionTime>();
  const fns = new Map<string, FunctionTime>();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    const name = f.functionName || '(anonymous)';
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${name}\u0000${where}:${f.columnNumber}`;
    let fn = fns.get(key);
    if (!fn) fns.set(key, fn = { name, where, pkg: packageOf(f.url, name), selfUs: 0, totalUs: 0 });
    fnOf.set(n.id, fn);
  }
  const { samples, timeDeltas } = profile;
  let idleUs = 0, gcUs = 0, sampledUs = 0;
  const seen = new Set<FunctionTime>();
  for (let i = 0; i < samples.length; i++) {
    // the time of sample i is the gap to the next one (the last one gets the gap before it)
    const dt = Math.max(0, i + 1 < timeDeltas.length ? timeDeltas[i + 1]! : timeDeltas[i] ?? 0);
    sampledUs += dt;
    const leaf = fnOf.get(samples[i]!)!;
    leaf.selfUs += dt;
    if (leaf.name === '(idle)') idleUs += dt;
    else if (leaf.name === '(garbage collector)') gcUs += dt;
    seen.clear();
    for (let id: number | undefined = samples[i]; id !== undefined; id = parent.get(id)) {
      const fn = fnOf.get(id)!;
      if (!seen.has(fn)) { seen.add(fn); fn.totalUs += dt; }
    }
  }
  const packages = new Map<string, number>();
  for (const fn of fns.values()) packages.set(fn.pkg, (packages.get(fn.pkg) ?? 0) + fn.selfUs);
  return {
    sampledUs, idleUs, gcUs,
    functions: [...fns.values()],
    packages: [...packages].map(([pkg, selfUs]) => ({ pkg, selfUs })).sort((a, b) => b.selfUs - a.selfUs),
  };
}

/** The summary as Markdown: shares are of the busy time (everything but `(idle)`). */
export function profileMarkdown(s: ProfileSummary, top = 20, title = 'CPU profile'): string {
  const busy = Math.max(1, s.sampledUs - s.idleUs);
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1)} %`;
  const ms = (us: number) => (us / 1000).toFixed(0);
  const skip = (f: FunctionTime) => f.name === '(idle)' || f.name === '(root)' || f.name === '(program)' && f.selfUs === 0;
  const row = (f: FunctionTime, us: number) => `| ${pct(us)} | ${ms(us)} | \`${f.name}\` | ${f.where ? `\`${f.where}\`` : ''} |`;
  const bySelf = s.functions.filter((f) => !skip(f) && f.selfUs > 0).sort((a, b) => b.selfUs - a.selfUs).slice(0, top);
  // inclusive: the entry points every sample shares ((root), the process's main frame) say nothing
  const byTotal = s.functions.filter((f) => !skip(f) && f.totalUs > 0 && f.totalUs < busy * 0.999 && f.name !== '(garbage collector)')
    .sort((a, b) => b.totalUs - a.totalUs).slice(0, top);
  return [
    `#### ${title}`,
    '',
    `Sampled ${(s.sampledUs / 1e6).toFixed(1)} s: busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / Math.max(1, s.sampledUs)).toFixed(0)} % of one core), idle ${(s.idleUs / 1e6).toFixed(1)} s; garbage collection ${pct(s.gcUs)} of the busy time.`,
    '',
    `Top ${top} by self time (share of the busy time):`,
    '',
    '| self | ms | function | where (built file:line) |',
    '|---:|---:|---|---|',
    ...bySelf.map((f) => row(f, f.selfUs)),
    '',
    `Top ${top} by inclusive time:`,
    '',
    '| inclusive | ms | function | where (built file:line) |',
    '|---:|---:|---|---|',
    ...byTotal.map((f) => row(f, f.totalUs)),
    '',
    'Self time per package:',
    '',
    '| self | ms | package |',
    '|---:|---:|---|',
    ...s.packages.filter((p) => p.pkg !== '(idle)' && p.selfUs > 0).slice(0, top).map((p) => `| ${pct(p.selfUs)} | ${ms(p.selfUs)} | ${p.pkg} |`),
  ].join('\n');
}

interface HeapNode { callFrame: CallFrame; selfSize: number; children: HeapNode[] }
/** A sampling heap profile (`.heapprofile`, V8's HeapProfiler.stopSampling), here with the collected objects included. */
export interface HeapProfile { head: HeapNode }

/**
 * Bytes allocated per function and per package in a sampling heap profile taken with
 * `includeObjectsCollectedByMajorGC/MinorGC` (so it counts garbage too: what the collector must clear).
 */
export function heapMarkdown(profile: HeapProfile, top = 20, title = 'Allocation profile', perUnit?: { count: number; unit: string }): string {
  const fns = new Map<string, { name: string; where: string; bytes: number }>();
  const packages = new Map<string, number>();
  let total = 0;
  const stack: HeapNode[] = [profile.head];
  while (stack.length > 0) {
    const n = stack.pop()!;
    for (const c of n.children) stack.push(c);
    if (n.selfSize === 0) continue;
    const f = n.callFrame;
    const name = f.functionName || '(anonymous)';
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${name}\u0000${where}`;
    const e = fns.get(key);
    if (e) e.bytes += n.selfSize; else fns.set(key, { name, where, bytes: n.selfSize });
    const pkg = packageOf(f.url, name);
    packages.set(pkg, (packages.get(pkg) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  const mb = (b: number) => (b / 1e6).toFixed(0);
  const pct = (b: number) => `${((100 * b) / Math.max(1, total)).toFixed(1)} %`;
  const per = (b: number) => (perUnit ? ` | ${Math.round(b / perUnit.count)}` : '');
  const perHead = perUnit ? ` | bytes per ${perUnit.unit}` : '';
  const perRule = perUnit ? '|---:' : '';
  return [
    `#### ${title}`,
    '',
    `${mb(total)} MB allocated (sampled)${perUnit ? `, ${Math.round(total / perUnit.count).toLocaleString('en-US')} bytes per ${perUnit.unit} over ${perUnit.count.toLocaleString('en-US')}` : ''}.`,
    '',
    `| share | MB${perHead} | function | where (built file:line) |`,
    `|---:|---:${perRule}|---|---|`,
    ...[...fns.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top).map((f) => `| ${pct(f.bytes)} | ${mb(f.bytes)}${per(f.bytes)} | \`${f.name}\` | ${f.where ? `\`${f.where}\`` : ''} |`),
    '',
    `| share | MB${perHead} | package |`,
    `|---:|---:${perRule}|---|`,
    ...[...packages].sort((a, b) => b[1] - a[1]).slice(0, top).map(([p, b]) => `| ${pct(b)} | ${mb(b)}${per(b)} | ${p} |`),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '20' } } });
  if (positionals.length === 0) {
    process.stderr.write('Usage: node dist/bench/profile-summary.js <file.cpuprofile | file.heapprofile>... [--top N]\n');
    process.exit(2);
  }
  for (const file of positionals) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile & HeapProfile;
    const text = file.endsWith('.heapprofile') ? heapMarkdown(profile, Number(values.top), file) : profileMarkdown(summarizeProfile(profile), Number(values.top), file);
    process.stdout.write(text + '\n\n');
  }
}
