/**
 * docs/security.md lists the probes tried against the gateway, each with the test that re-runs it.
 * This keeps the table honest: every row names an existing test file and a test in it, and every id
 * appears once, so a renamed or deleted test cannot leave a probe claimed but no longer run.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const DOC = readFileSync(join(ROOT, 'docs', 'security.md'), 'utf8');
const PROBES = DOC.slice(DOC.indexOf('## Probes'), DOC.indexOf('## Known limits'));

/** Rows of the probe tables: `| id | tries | before | now | `file` "test name" |`. */
const rows = PROBES.split('\n')
  .filter((l) => /^\| [A-Z]+-\d/.test(l))
  .map((l) => {
    const cells = l.split(' | ');
    const last = cells[cells.length - 1]!;
    const ref = /`(tests\/[\w./-]+\.test\.ts)` "([^"]+)"/.exec(last);
    return { id: cells[0]!.slice(2), line: l, file: ref?.[1], name: ref?.[2] };
  });

describe('docs/security.md probes', () => {
  it('lists probes, each id once', () => {
    expect(rows.length).toBeGreaterThanOrEqual(40);
    const ids = rows.map((r) => r.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it('names, for every probe, a test that exists in a file that exists', () => {
    for (const r of rows) {
      expect(r.file, `${r.id}: no test reference in "${r.line}"`).toBeDefined();
      expect(existsSync(join(ROOT, r.file!)), `${r.id}: ${r.file}`).toBe(true);
      const source = readFileSync(join(ROOT, r.file!), 'utf8');
      // the quoted words start (or are part of) the test's name as written in the file
      expect(source.includes(r.name!), `${r.id}: no test "${r.name}" in ${r.file}`).toBe(true);
    }
  });
});
