/**
 * The layering docs/architecture.md describes, checked on the source: every import between top-level
 * folders points down, and a capability is reached only through its index.ts (core/ is a set of
 * independent modules, imported one by one).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Lower number = lower layer. A folder may import only folders of a lower number. */
const LAYERS: Record<string, number> = {
  core: 0, registry: 1, ingest: 2, alerts: 3, supervision: 4, dashboards: 5, protocols: 5, notifications: 5, gateway: 6,
};
/** Folders reached only through their index.ts. */
const CAPABILITIES = new Set(['registry', 'ingest', 'alerts', 'supervision', 'protocols', 'notifications']);

const IMPORT_RE = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** What is wrong with an import of `target` (a path from the root) by `from`, or undefined. */
function violation(from: string, target: string): string | undefined {
  const [a, b] = [from.split('/')[0]!, target.split('/')[0]!];
  if (a === b) return undefined;
  const [la, lb] = [LAYERS[a], LAYERS[b]];
  if (la === undefined || lb === undefined) return `${from} imports ${target}: outside the layers`;
  if (lb >= la) return `${from} imports ${target}: ${b} is not below ${a}`;
  if (CAPABILITIES.has(b) && target !== `${b}/index.js` && target !== `${b}/index.ts`) return `${from} imports ${target}: reach ${b} through ${b}/index.ts`;
  return undefined;
}

describe('layers', () => {
  it('the checker catches an upward import and one around an index.ts', () => {
    expect(violation('registry/registry.ts', 'alerts/index.js')).toMatch(/not below/);
    expect(violation('alerts/service.ts', 'registry/registry.js')).toMatch(/through registry\/index.ts/);
    expect(violation('supervision/handover.ts', 'alerts/index.js')).toBeUndefined();
    expect(violation('alerts/ledger.ts', 'core/db/store.js')).toBeUndefined();
  });

  it('every import in the code points down, and into a capability only through its index.ts', () => {
    const problems: string[] = [];
    let imports = 0;
    for (const top of Object.keys(LAYERS)) {
      for (const file of sources(join(ROOT, top))) {
        const from = relative(ROOT, file);
        for (const m of readFileSync(file, 'utf8').matchAll(IMPORT_RE)) {
          const target = relative(ROOT, normalize(join(dirname(file), m[1] ?? m[2]!)));
          imports++;
          const wrong = violation(from, target);
          if (wrong) problems.push(wrong);
        }
      }
    }
    expect(imports).toBeGreaterThan(300);
    expect(problems).toEqual([]);
  });
});
