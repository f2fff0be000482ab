/**
 * Secrets copied from `.env.example` are public, so the gateway refuses to start with any of them,
 * and says how to make a real one. Checked on the settings loader and on the real `npm start` entry.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../gateway/config.js';

const ENV_EXAMPLE = Object.fromEntries(readFileSync(join(import.meta.dirname, '..', '.env.example'), 'utf8').split('\n')
  .map((l) => /^\s*([A-Z_]+)=(.*)$/.exec(l)).filter((m) => m !== null).map((m) => [m[1]!, m[2]!.trim()]));

function problemsOf(fn: () => unknown): string[] {
  try { fn(); } catch (err) { if (err instanceof ConfigError) return err.problems; throw err; }
  return [];
}

describe('placeholder secrets', () => {
  it('refuses every change-me value of .env.example the gateway reads, each with the command that makes a real one', () => {
    expect(ENV_EXAMPLE.ADMIN_TOKEN).toMatch(/change-me/);
    const problems = problemsOf(() => loadConfig({ ADMIN_TOKEN: ENV_EXAMPLE.ADMIN_TOKEN, INFLUX_URL: 'http://influxdb:8086', INFLUX_VERSION: '2', INFLUX_TOKEN: ENV_EXAMPLE.INFLUX_TOKEN, INFLUX_BUCKET: 'iot' }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^adminToken \(ADMIN_TOKEN\): .*openssl rand -hex 32/);
    expect(problems[1]).toMatch(/^influx\.token \(INFLUX_TOKEN\): /);
  });

  it('refuses placeholders in the registry seed and in any letter case', () => {
    const problems = problemsOf(() => loadConfig({}, {
      adminToken: 'CHANGEME-0123456789abcdef',
      seed: {
        sites: [{ id: 's1', name: 'S', companyId: 'c1' }],
        devices: [{ id: 'd1', kind: 'elevator', siteId: 's1', secret: 'change-me-device-secret' }],
      },
    }));
    expect(problems.map((p) => p.split(':')[0])).toEqual(['adminToken (ADMIN_TOKEN)', 'seed.devices.0.secret']);
  });

  it('refuses the example PostgreSQL password inside DATABASE_URL, as compose builds it', () => {
    expect(ENV_EXAMPLE.POSTGRES_PASSWORD).toMatch(/change-me/);
    const url = `postgres://gateway:${ENV_EXAMPLE.POSTGRES_PASSWORD}@postgres:5432/gateway`;
    const problems = problemsOf(() => loadConfig({ ADMIN_TOKEN: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', DATABASE_URL: url }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^cluster\.databaseUrl \(DATABASE_URL\): .*openssl rand -hex 32/);
    // and the message does not repeat the URL (it holds the password)
    expect(problems[0]).not.toContain(ENV_EXAMPLE.POSTGRES_PASSWORD!);
  });

  it('accepts a real secret', () => {
    expect(problemsOf(() => loadConfig({ ADMIN_TOKEN: 'a1b2c3d4e5f60718293a4b5c6d7e8f90' }))).toEqual([]);
  });

  it('`npm start` with the example admin token exits with code 2 and the message, and serves nothing', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'gw-placeholder-'));
    try {
      const run = spawnSync(process.execPath, ['dist/gateway/main.js'], {
        env: { ...process.env, ADMIN_TOKEN: ENV_EXAMPLE.ADMIN_TOKEN, DATA_DIR: dataDir, MQTT_PORT: '0', HTTP_PORT: '0' },
        encoding: 'utf8', timeout: 20_000,
      });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(/ADMIN_TOKEN\): is the placeholder from \.env\.example.*openssl rand -hex 32/);
      expect(run.stderr).not.toMatch(/Gateway ready/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
