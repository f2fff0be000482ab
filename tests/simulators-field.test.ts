/**
 * The field protocol simulators' command line (`simulate gb26875|nbiot|modbus|http-device`): parsing
 * with clear refusals, and the HTTP device against a real gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCli } from '../simulators/cli.js';
import { SimError } from '../simulators/errors.js';
import { runHttpDevice } from '../simulators/field/http-device.js';
import { registerDevice, startTestGateway, type TestGateway } from './harness/gateway.js';

function refusal(argv: string[]): SimError {
  try {
    parseCli(argv);
  } catch (err) {
    if (err instanceof SimError) return err;
    throw err;
  }
  throw new Error(`accepted: ${argv.join(' ')}`);
}

describe('simulate <field protocol> parsing', () => {
  it('reads each command with its defaults', () => {
    expect(parseCli(['gb26875', '--address', '40E201000000'])).toEqual({
      command: 'field', field: { command: 'gb26875', address: '40e201000000', host: 'localhost', port: 7533, scenario: 'fire' },
    });
    const nb = parseCli(['nbiot', '--platform', 'ctwing', '--instance', 'ct', '--token', 'x'.repeat(16), '--imei', '860374051096202', '--event', 'clear']);
    expect(nb).toMatchObject({ command: 'field', field: { command: 'nbiot', options: { platform: 'ctwing', instance: 'ct', event: 'clear', api: 'http://localhost:8080' } } });
    expect(parseCli(['modbus', '--port', '0', '--scenario', 'pump-fault'])).toMatchObject({ field: { command: 'modbus', port: 0, scenario: 'pump-fault', unitId: 1 } });
    expect(parseCli(['http-device', '--id', 'd1', '--secret', 's', '--kind', 'water_pump', '--interval', '2s', '--count', '3']))
      .toMatchObject({ field: { command: 'http-device', id: 'd1', kind: 'water_pump', intervalMs: 2000, count: 3, event: false } });
  });

  it('refuses what is missing or wrong, naming the option, with the command\'s help', () => {
    const noAddress = refusal(['gb26875']);
    expect(noAddress.code).toBe('SIM_BAD_ARGS');
    expect(noAddress.message).toContain('--address');
    expect(noAddress.message).toContain('Usage: simulate gb26875');
    expect(refusal(['gb26875', '--address', 'xyz']).message).toContain('12 hex digits');
    expect(refusal(['gb26875', '--address', '40e201000000', '--scenario', 'boom']).message).toContain('--scenario must be one of');
    expect(refusal(['nbiot', '--instance', 'a', '--token', 't', '--imei', '1']).message).toContain('--platform');
    expect(refusal(['modbus', '--port', '70000']).message).toContain('--port');
    expect(refusal(['http-device', '--id', 'd', '--secret', 's']).message).toContain('--kind');
    expect(refusal(['http-device', '--id', 'd', '--secret', 's', '--kind', 'toaster']).message).toContain('--kind must be one of');
    expect(refusal(['http-device', '--id', 'd', '--secret', 's', '--kind', 'elevator', '--interval', 'soon']).message).toContain('--interval');
  });

  it('answers --help and lists the commands in the main help', () => {
    expect(parseCli(['modbus', '--help'])).toMatchObject({ command: 'help' });
    const main = parseCli([]) as { text: string };
    for (const c of ['gb26875', 'nbiot', 'modbus', 'http-device']) expect(main.text).toContain(c);
  });
});

describe('simulate http-device', () => {
  let t: TestGateway;
  beforeAll(async () => { t = await startTestGateway(); });
  afterAll(async () => { await t.dispose(); });

  it('posts readings with its secret and prints each answer', async () => {
    const secret = await registerDevice(t, { id: 'sim-http-1', kind: 'drainage' });
    const lines: string[] = [];
    await runHttpDevice({ api: t.httpUrl, id: 'sim-http-1', secret, kind: 'drainage', intervalMs: 100, count: 2, event: true }, new AbortController().signal, (l) => lines.push(l));
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.includes('HTTP 200'))).toBe(true);
    const stored = await t.api('GET', '/api/v1/devices/sim-http-1/telemetry');
    expect(stored.body.count).toBe(2);
  });
});
