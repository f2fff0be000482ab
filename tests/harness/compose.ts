/**
 * docker-compose.yml as `docker compose` reads it, for the tests that check the deployment without
 * Docker: the `.env` file, compose's variable interpolation, and a service's environment and mounts
 * in their long form whichever syntax the file uses.
 */
import { readFileSync } from 'node:fs';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Json = any;

export function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.trim();
  }
  return env;
}

/** Compose's variable interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. */
function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, braced?: string, op?: string, arg?: string, bare?: string) => {
    if (m === '$$') return '$';
    const name = (braced ?? bare)!;
    const v = env[name];
    if (!op) return v ?? '';
    const missing = v === undefined || (op.startsWith(':') && v === '');
    if (op.endsWith('-')) return missing ? arg! : v!;
    if (missing) throw new Error(`required variable ${name} is missing: ${arg}`);
    return v!;
  });
}

/** Every string of a parsed compose file interpolated. */
export function interpolateDeep(node: Json, env: Record<string, string | undefined>): Json {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((n) => interpolateDeep(n, env));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateDeep(v, env)]));
  return node;
}

/** A service's environment as a map (compose accepts a map or a list of KEY=VALUE). */
export function envOf(service: Json): Record<string, string> {
  const e = service.environment ?? {};
  if (Array.isArray(e)) return Object.fromEntries(e.map((kv: string) => [kv.split('=')[0], kv.slice(kv.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

export interface Mount { source: string; target: string; mode?: string; bind: boolean }

/** A service's volumes, short or long syntax; `bind` for host paths. */
export function mountsOf(service: Json): Mount[] {
  return (service.volumes ?? []).map((v: Json) => {
    if (typeof v === 'string') {
      const [source, target, mode] = v.split(':') as [string, string, string | undefined];
      return { source, target, bind: /^[./~]/.test(source), ...(mode ? { mode } : {}) };
    }
    return { source: v.source, target: v.target, bind: v.type === 'bind', ...(v.read_only ? { mode: 'ro' } : {}) };
  });
}
