/**
 * The field protocol simulators on the command line (`npm run simulate -- gb26875|nbiot|modbus|http-device`):
 * a GB/T 26875.3 transmission device, an NB-IoT platform's push, a Modbus pump-room controller and a
 * device on the HTTP API. Parsing is pure (`parseFieldCli`) so it is tested without a process.
 */
import { parseArgs } from 'node:util';
import { DEVICE_KINDS, type DeviceKind } from '../../ingest/index.js';
import { parseDuration } from '../../core/duration.js';
import { SimError } from '../errors.js';
import { GB26875_SCENARIOS, runGb26875Simulator, type Gb26875Scenario } from '../gb26875/device.js';
import { runNbiotSimulator, type NbiotSimulatorOptions } from '../nbiot/platforms.js';
import { MODBUS_SCENARIOS, runModbusSimulator, type ModbusScenario } from '../modbus/pump-controller.js';
import { runHttpDevice } from './http-device.js';

export const FIELD_HELP = {
  gb26875: `Usage: simulate gb26875 --address HEX12 [--host H] [--port N] [--scenario S] [--zone TEXT] [--point N]

A GB/T 26875.3 user information transmission device (用户信息传输装置): connects to the gateway's
listener (GB26875_PORT), sends the scenario's frames and prints the centre's 确认 / 否认.
模拟用户信息传输装置，按场景发送报文并显示确认/否认。

  --address HEX12   the device's source address, 12 hex digits in wire order (register it as
                    uitdAddress of a fire_panel), e.g. 40e201000000 传输装置地址 (required)
  --host H          gateway host (default localhost)
  --port N          the gateway's GB/T 26875.3 port (default 7533)
  --scenario S      ${GB26875_SCENARIOS.join(', ')} (default fire)
  --zone TEXT       部件说明 of the component (default 一层走廊)
  --point N         部件地址 (default 258)`,
  nbiot: `Usage: simulate nbiot --platform onenet|ctwing --instance NAME --token T --imei IMEI [options]

Pushes one NB-IoT smoke alarm message to the gateway as the carrier platform does (OneNET legacy or
Studio, signed with the token; CTWing with the token in the URL), retrying on a non-200 like the
platform. 以运营商平台的方式推送一条 NB-IoT 烟感消息。

  --api URL         gateway HTTP API (default http://localhost:8080)
  --platform P      onenet or ctwing (required)
  --instance NAME   the push instance configured in protocols.nbiot (required)
  --token T         the instance's token (required)
  --imei IMEI       the device's IMEI, registered on the device (required)
  --event E         alarm, clear, reading, heartbeat (default alarm)
  --dialect D       OneNET: legacy or studio (default legacy)
  --aes-key K       OneNET 安全模式 key (Studio: 16 characters; legacy: the 43-character EncodingAESKey)
  --model M         gw-smoke-v1 (OneNET default) or lian-nb-smoke (CTWing default)
  --verify          OneNET: check the push URL first, as the console does`,
  modbus: `Usage: simulate modbus [--port N] [--host H] [--unit N] [--scenario S]

A pump-room PLC (二次供水泵房控制器) serving the built-in register map pump-plc-std over Modbus TCP
until stopped; point protocols.modbus.targets at it. 模拟泵房 PLC（Modbus TCP）。

  --port N          port to serve on (default 5020)
  --host H          address to bind (default 0.0.0.0)
  --unit N          Modbus unit id (default 1)
  --scenario S      ${Object.keys(MODBUS_SCENARIOS).join(', ')} (default normal)`,
  'http-device': `Usage: simulate http-device --id ID --secret S --kind KIND [--api URL] [--interval D] [--count N] [--event]

A device without MQTT: posts readings to POST /api/v1/devices/{id}/telemetry with its secret as
Basic auth, resending what gets no 200. 通过 HTTP 接口上报数据的设备。

  --id ID           the device id (required)
  --secret S        the device secret (required)
  --kind KIND       ${DEVICE_KINDS.join(', ')} (required)
  --api URL         gateway HTTP API (default http://localhost:8080)
  --interval D      time between readings (default 10s)
  --count N         readings to send, 0 = until Ctrl-C (default 0)
  --event           send one event of the kind first`,
} as const;

export type FieldCommand = keyof typeof FIELD_HELP;
export const FIELD_COMMANDS = Object.keys(FIELD_HELP) as FieldCommand[];

export type FieldCli =
  | { command: 'gb26875'; host: string; port: number; address: string; scenario: Gb26875Scenario; zone?: string; point?: number }
  | { command: 'nbiot'; options: NbiotSimulatorOptions }
  | { command: 'modbus'; port: number; host: string; unitId: number; scenario: ModbusScenario }
  | { command: 'http-device'; api: string; id: string; secret: string; kind: DeviceKind; intervalMs: number; count: number; event: boolean };

const OPTIONS = {
  gb26875: { address: { type: 'string' }, host: { type: 'string' }, port: { type: 'string' }, scenario: { type: 'string' }, zone: { type: 'string' }, point: { type: 'string' } },
  nbiot: {
    api: { type: 'string' }, platform: { type: 'string' }, instance: { type: 'string' }, token: { type: 'string' }, imei: { type: 'string' },
    event: { type: 'string' }, dialect: { type: 'string' }, 'aes-key': { type: 'string' }, model: { type: 'string' }, verify: { type: 'boolean' },
  },
  modbus: { port: { type: 'string' }, host: { type: 'string' }, unit: { type: 'string' }, scenario: { type: 'string' } },
  'http-device': {
    id: { type: 'string' }, secret: { type: 'string' }, kind: { type: 'string' }, api: { type: 'string' }, interval: { type: 'string' },
    count: { type: 'string' }, event: { type: 'boolean' },
  },
} as const;

type Values = Record<string, string | boolean | undefined>;

function bad(command: FieldCommand, message: string): SimError {
  return new SimError('SIM_BAD_ARGS', `${message}\n\n${FIELD_HELP[command]}`);
}

function required(command: FieldCommand, v: Values, name: string): string {
  const value = v[name];
  if (typeof value !== 'string' || value === '') throw bad(command, `--${name} is required / 缺少 --${name}`);
  return value;
}

function int(command: FieldCommand, v: Values, name: string, fallback: number, min: number, max: number): number {
  const value = v[name];
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw bad(command, `--${name} must be an integer from ${min} to ${max}, got "${String(value)}"`);
  return n;
}

function oneOf<T extends string>(command: FieldCommand, v: Values, name: string, allowed: readonly T[], fallback: T): T {
  const value = v[name];
  if (value === undefined) return fallback;
  if (!(allowed as readonly unknown[]).includes(value)) throw bad(command, `--${name} must be one of ${allowed.join(', ')}, got "${String(value)}"`);
  return value as T;
}

/** `undefined` when the command is not a field protocol simulator; `{ help }` for --help. */
export function parseFieldCli(command: string, argv: readonly string[]): FieldCli | { help: string } | undefined {
  if (!(command in FIELD_HELP)) return undefined;
  const c = command as FieldCommand;
  if (argv.includes('--help') || argv.includes('-h')) return { help: FIELD_HELP[c] };
  let v: Values;
  try {
    ({ values: v } = parseArgs({ args: [...argv], options: OPTIONS[c], allowPositionals: false, strict: true }) as { values: Values });
  } catch (err) {
    throw bad(c, (err as Error).message);
  }
  switch (c) {
    case 'gb26875': {
      const address = required(c, v, 'address').toLowerCase();
      if (!/^[0-9a-f]{12}$/.test(address)) throw bad(c, `--address must be 12 hex digits, got "${address}"`);
      return {
        command: c, address, host: (v.host as string | undefined) ?? 'localhost', port: int(c, v, 'port', 7533, 1, 65535),
        scenario: oneOf(c, v, 'scenario', GB26875_SCENARIOS, 'fire'),
        ...(v.zone === undefined ? {} : { zone: v.zone as string }), ...(v.point === undefined ? {} : { point: int(c, v, 'point', 0, 0, 0xffffffff) }),
      };
    }
    case 'nbiot': {
      const platform = oneOf(c, v, 'platform', ['onenet', 'ctwing'] as const, 'onenet');
      if (v.platform === undefined) throw bad(c, '--platform is required / 缺少 --platform');
      const options: NbiotSimulatorOptions = {
        api: (v.api as string | undefined) ?? 'http://localhost:8080', platform, instance: required(c, v, 'instance'), token: required(c, v, 'token'),
        imei: required(c, v, 'imei'), event: oneOf(c, v, 'event', ['alarm', 'clear', 'reading', 'heartbeat'] as const, 'alarm'),
        dialect: oneOf(c, v, 'dialect', ['legacy', 'studio'] as const, 'legacy'),
        ...(v['aes-key'] === undefined ? {} : { aesKey: v['aes-key'] as string }),
        ...(v.model === undefined ? {} : { model: oneOf(c, v, 'model', ['gw-smoke-v1', 'lian-nb-smoke'] as const, 'gw-smoke-v1') }),
        verify: v.verify === true,
      };
      return { command: c, options };
    }
    case 'modbus':
      return {
        command: c, port: int(c, v, 'port', 5020, 0, 65535), host: (v.host as string | undefined) ?? '0.0.0.0', unitId: int(c, v, 'unit', 1, 0, 255),
        scenario: oneOf(c, v, 'scenario', Object.keys(MODBUS_SCENARIOS) as ModbusScenario[], 'normal'),
      };
    case 'http-device': {
      const intervalMs = v.interval === undefined ? 10_000 : parseDuration(v.interval as string);
      if (intervalMs === undefined || intervalMs < 100) throw bad(c, `--interval must be a duration of at least 100ms (e.g. 500ms, 10s, 1m), got "${String(v.interval)}"`);
      return {
        command: c, api: (v.api as string | undefined) ?? 'http://localhost:8080', id: required(c, v, 'id'), secret: required(c, v, 'secret'),
        kind: (required(c, v, 'kind'), oneOf(c, v, 'kind', DEVICE_KINDS, 'elevator')), intervalMs, count: int(c, v, 'count', 0, 0, 1_000_000), event: v.event === true,
      };
    }
  }
}

export async function runFieldCommand(parsed: FieldCli, signal: AbortSignal, print: (line: string) => void): Promise<number> {
  switch (parsed.command) {
    case 'gb26875':
      await runGb26875Simulator({ host: parsed.host, port: parsed.port, address: parsed.address, scenario: parsed.scenario,
        ...(parsed.zone === undefined ? {} : { zone: parsed.zone }), ...(parsed.point === undefined ? {} : { point: parsed.point }) }, print);
      return 0;
    case 'nbiot': {
      const result = await runNbiotSimulator(parsed.options, print);
      return result.status === 200 ? 0 : 1;
    }
    case 'modbus':
      await runModbusSimulator({ port: parsed.port, host: parsed.host, unitId: parsed.unitId, scenario: parsed.scenario, signal }, print);
      return 0;
    case 'http-device':
      await runHttpDevice(parsed, signal, print);
      return 0;
  }
}
