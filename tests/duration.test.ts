/**
 * One duration grammar for the settings file and the simulator's flags: what either accepted
 * before is accepted by both, with the same value.
 */
import { describe, expect, it } from 'vitest';
import { durationSchema, parseDuration } from '../core/duration.js';
import { parseDuration as cliDuration } from '../simulators/cli.js';
import { SimError } from '../simulators/errors.js';
import { ConfigError, loadConfig } from '../gateway/config.js';

describe('durations', () => {
  it('reads milliseconds, one unit, several units and decimals', () => {
    const cases: Array<[string, number]> = [
      ['250', 250], ['0', 0], ['500ms', 500], ['10s', 10_000], ['45s', 45_000], ['1.5m', 90_000], ['30m', 1_800_000],
      ['2h', 7_200_000], ['1h30m', 5_400_000], ['15d', 1_296_000_000], ['1d12h', 129_600_000], ['1m500ms', 60_500], [' 3m ', 180_000],
    ];
    for (const [text, ms] of cases) {
      expect(parseDuration(text), text).toBe(ms);
      expect(cliDuration(text, 'x'), `--x ${text}`).toBe(ms);
      expect(durationSchema.parse(text), `setting ${text}`).toBe(ms);
    }
    expect(durationSchema.parse(45_000)).toBe(45_000);
  });

  it('refuses anything else: coded on the command line, with its path in the settings', () => {
    for (const text of ['', 'soon', '5 m', '-5s', '1h-30m', 'm', '1w', '1.s', '5mm']) {
      expect(parseDuration(text), text).toBeUndefined();
      expect(() => cliDuration(text, 'x'), text).toThrow(SimError);
      expect(durationSchema.safeParse(text).success, text).toBe(false);
    }
    expect(durationSchema.safeParse(-1).success).toBe(false);
    expect(durationSchema.safeParse(1.5).success).toBe(false);
    try {
      cliDuration('soon', 'interval');
      expect.unreachable();
    } catch (err) {
      expect((err as SimError).code).toBe('SIM_BAD_ARGS');
    }
    try {
      loadConfig({}, { alerts: { rules: { fire_water: { lowPressureAfter: 'soon' } } } });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.join('\n')).toMatch(/alerts\.rules\.fire_water\.lowPressureAfter/);
    }
  });

  it('the settings take the text forms the command line took (and the other way round)', () => {
    const c = loadConfig({}, { alerts: { tickMs: 100, staleReadingAfter: '90000', rules: { elevator: { presenceDebounce: '1.5s', maintenanceInterval: '2d12h' } } } });
    expect(c.alerts.staleReadingAfter).toBe(90_000);
    expect(c.alerts.rules.elevator.presenceDebounce).toBe(1500);
    expect(c.alerts.rules.elevator.maintenanceInterval).toBe(216_000_000);
  });
});
