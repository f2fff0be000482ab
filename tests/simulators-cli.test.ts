/** The simulator CLI's argument parser, as a function (no process spawned, no build needed). */
import { describe, expect, it } from 'vitest';
import { HELP, parseCli, parseDuration } from '../simulators/cli.js';
import { SimError } from '../simulators/errors.js';

const env = { ADMIN_TOKEN: 'env-token-0123456789abcdef' };

function parseError(argv: string[], e: NodeJS.ProcessEnv = env): SimError {
  try {
    parseCli(argv, e);
  } catch (err) {
    if (err instanceof SimError) return err;
    throw err;
  }
  throw new Error(`parseCli(${argv.join(' ')}) did not fail`);
}

describe('simulate CLI', () => {
  it('--help and no arguments print the overview in English and Chinese', () => {
    for (const argv of [[], ['--help'], ['-h'], ['help']]) {
      const p = parseCli(argv, env);
      expect(p.command).toBe('help');
      if (p.command === 'help') {
        expect(p.text).toContain('Usage');
        expect(p.text).toContain('用法');
        for (const c of ['list', 'fleet', 'scenario <name>', 'load', 'demo']) expect(p.text).toContain(c);
      }
    }
  });

  it('every command has its own --help, which needs no token', () => {
    for (const c of ['list', 'fleet', 'scenario', 'load', 'demo'] as const) {
      expect(parseCli([c, '--help'], {})).toEqual({ command: 'help', text: HELP[c] });
    }
    expect(HELP.load).toContain('--rate');
    expect(HELP.demo).toContain('--every');
    expect(HELP.fleet).toContain('--time-scale');
  });

  it('fleet: defaults and options', () => {
    const p = parseCli(['fleet'], env);
    expect(p).toMatchObject({
      command: 'fleet',
      common: { broker: 'mqtt://localhost:1883', api: 'http://localhost:8080', token: env.ADMIN_TOKEN, prefix: 'sim', qos: 1, secrets: undefined },
      fleet: { sites: 2, perKind: { elevator: 2, fire_panel: 1, smoke_detector: 2, fire_water: 1, water_pump: 1 }, intervalMs: 10_000, jitter: 0.2, batch: 1, durationMs: 0, timeScale: 1 },
    });
    const q = parseCli(['fleet', '--sites', '5', '--elevators', '4', '--interval', '2s', '--qos', '0', '--batch', '10', '--duration', '3m',
      '--time-scale', '60', '--token', 'cli-token', '--broker', 'mqtt://gw:1883', '--secrets', 's.json', '--prefix', 'demo1'], env);
    expect(q).toMatchObject({
      command: 'fleet',
      common: { broker: 'mqtt://gw:1883', token: 'cli-token', prefix: 'demo1', qos: 0, secrets: 's.json' },
      fleet: { sites: 5, perKind: { elevator: 4 }, intervalMs: 2000, batch: 10, durationMs: 180_000, timeScale: 60 },
    });
  });

  it('scenario: needs a known name', () => {
    const p = parseCli(['scenario', 'elevator.trapped-levelled', '--time-scale', '100', '--verify'], env);
    expect(p.command).toBe('scenario');
    if (p.command === 'scenario') {
      expect(p.scenario.name).toBe('elevator.trapped-levelled');
      expect(p).toMatchObject({ timeScale: 100, verify: true });
    }
    expect(parseError(['scenario']).code).toBe('SIM_BAD_ARGS');
    expect(parseError(['scenario', 'elevator.nope']).code).toBe('SIM_UNKNOWN_SCENARIO');
  });

  it('load: defaults, kinds by name or short name', () => {
    expect(parseCli(['load'], env)).toMatchObject({ command: 'load', devices: 100, rate: 5000, durationMs: 30_000, batch: 1, window: 100, kinds: ['elevator', 'fire_panel', 'smoke_detector', 'fire_water', 'water_pump', 'drainage'] });
    expect(parseCli(['load', '--kinds', 'elev,fire_water', '--rate', '12000', '--devices', '500'], env)).toMatchObject({ kinds: ['elevator', 'fire_water'], rate: 12_000, devices: 500 });
    expect(parseError(['load', '--kinds', 'toaster']).code).toBe('SIM_BAD_ARGS');
  });

  it('demo: every, first scenario delay, scenario selection', () => {
    const p = parseCli(['demo', '--every', '5m'], env);
    expect(p).toMatchObject({ command: 'demo', everyMs: 300_000, firstAfterMs: 20_000 });
    if (p.command === 'demo') {
      expect(p.scenarios.length).toBeGreaterThan(10);
      // the rotation alternates families, so a demo shows elevators, fire and water early on
      expect(new Set(p.scenarios.slice(0, 4).map((s) => s.name.split('.')[0])).size).toBe(4);
    }
    const q = parseCli(['demo', '--scenarios', 'fire.panel-alarm,water.flooding'], env);
    if (q.command === 'demo') expect(q.scenarios.map((s) => s.name)).toEqual(['fire.panel-alarm', 'water.flooding']);
    expect(parseError(['demo', '--scenarios', 'nope']).code).toBe('SIM_UNKNOWN_SCENARIO');
  });

  it('rejects bad input with a coded error and the command help', () => {
    const unknownOption = parseError(['fleet', '--bogus']);
    expect(unknownOption.code).toBe('SIM_BAD_ARGS');
    expect(unknownOption.message).toContain('--bogus');
    expect(unknownOption.message).toContain('Usage: simulate fleet');
    expect(parseError(['frobnicate']).code).toBe('SIM_BAD_ARGS');
    expect(parseError(['fleet', '--qos', '2']).code).toBe('SIM_BAD_ARGS');
    expect(parseError(['fleet', '--sites', 'two']).code).toBe('SIM_BAD_ARGS');
    expect(parseError(['fleet', '--interval', '10 parsecs']).code).toBe('SIM_BAD_ARGS');
    expect(parseError(['fleet', 'extra']).code).toBe('SIM_BAD_ARGS');
    expect(parseError(['fleet', '--prefix', 'a/b']).code).toBe('SIM_BAD_ARGS');
    const noToken = parseError(['fleet'], {});
    expect(noToken.code).toBe('SIM_BAD_ARGS');
    expect(noToken.message).toContain('ADMIN_TOKEN');
    expect(noToken.exitCode).toBe(2);
  });

  it('list needs no token', () => {
    expect(parseCli(['list', '--json'], {})).toEqual({ command: 'list', json: true });
  });

  it('durations', () => {
    expect(parseDuration('500ms', 'x')).toBe(500);
    expect(parseDuration('10s', 'x')).toBe(10_000);
    expect(parseDuration('1.5m', 'x')).toBe(90_000);
    expect(parseDuration('2h', 'x')).toBe(7_200_000);
    expect(parseDuration('250', 'x')).toBe(250);
    expect(() => parseDuration('soon', 'x')).toThrow(SimError);
  });
});
