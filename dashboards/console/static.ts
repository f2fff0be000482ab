/**
 * The console's static files, served by the gateway itself (no CDN: it must work on a closed
 * network). The folder is read once at start into memory: a handful of small files, a fixed list
 * of routes (so no path from a request ever reaches the file system), and an ETag per file.
 *
 * Caching: the files are not content-hashed (there is no build step), so a browser must not keep
 * an old `app.js` next to a new `index.html` after an upgrade. Every file is `no-cache`: the
 * browser revalidates with If-None-Match and gets a 304 when nothing changed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticFile {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  // module scripts are refused by browsers unless served with a JavaScript MIME type
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  // the alarm of new critical alerts (tools/make-alarm.mjs)
  '.wav': 'audio/wav',
};

/** The folder cap: the console is a few small files; anything bigger does not belong in memory. */
const MAX_TOTAL_BYTES = 8 * 1024 * 1024;

/**
 * The console's `public/` folder. The gateway runs from `dist/` (tsc output) while the static
 * files stay in the source tree, and vitest runs the TypeScript source in place: both resolve
 * from this module's own location up to the repo root (the folder with package.json).
 */
export function defaultPublicDir(moduleUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dashboards', 'console', 'public');
    const up = dirname(dir);
    if (up === dir) throw new Error(`console: no package.json above ${fileURLToPath(moduleUrl)}; pass publicDir`);
    dir = up;
  }
}

/** Reads the folder: URL path (`/app.js`) → file. Files of unknown types are left out. */
export function loadStaticFiles(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  let total = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) { walk(path); continue; }
      const type = TYPES[extname(name).toLowerCase()];
      if (!type) continue;
      const body = readFileSync(path);
      total += body.length;
      if (total > MAX_TOTAL_BYTES) throw new Error(`console: ${root} holds more than ${MAX_TOTAL_BYTES} bytes of static files`);
      const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 20)}"`;
      files.set(`/${relative(root, path).split(sep).join('/')}`, { body, type, etag });
    }
  };
  walk(root);
  if (!files.has('/index.html')) throw new Error(`console: ${root} has no index.html`);
  return files;
}

/**
 * Files of installed npm packages the console loads, served like its own (no CDN): URL path → the
 * package and the file in its `dist/`. Chart.js draws the scorecards' charts; its UMD build is one
 * self-contained file that a module can import (it sets `globalThis.Chart`), where the ES build
 * would need an import map, which the page's script policy does not allow inline.
 */
const VENDOR_FILES: Record<string, { pkg: string; file: string }> = {
  '/vendor/chart.umd.min.js': { pkg: 'chart.js', file: 'chart.umd.min.js' },
};

/** The vendor files, read once from node_modules (a package's `exports` hide its dist/: found next to its main file). */
export function loadVendorFiles(moduleUrl: string = import.meta.url): Map<string, StaticFile> {
  const require = createRequire(moduleUrl);
  const files = new Map<string, StaticFile>();
  for (const [path, { pkg, file }] of Object.entries(VENDOR_FILES)) {
    const body = readFileSync(join(dirname(require.resolve(pkg)), file));
    const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 20)}"`;
    files.set(path, { body, type: TYPES[extname(file)]!, etag });
  }
  return files;
}
