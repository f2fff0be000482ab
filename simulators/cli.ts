/**
 * The simulator command line (`npm run simulate -- <command>`). Parsing is a pure function
 * (`parseCli`) so it can be tested without spawning a process; `main` wires the parsed command to
 * the fleet, the scenarios and the load generator and owns the terminal output.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pathToFileURL } from 'node:url';
import { DEVICE_KINDS, type DeviceKind } from '../ingest/index.js';
import { parseDuration as parseDurationText } from '../core/duration.js';
import { GatewayApi } from './api.js';
import { SimError, SIM_ERRORS } from './errors.js';
import { Fleet } from './fleet.js';
import { runLoad, formatProgress, formatSummary } from './load.js';
import { planFleet, provision, readSecrets, renewRefusedSecrets, writeSecrets, KIND_SHORT, type PerKind } from './provision.js';
import { SCENARIOS, getScenario } from './scenarios/catalogue.js';
import { runScenarioStandalone } from './scenarios/standalone.js';
import type { AlertOutcome, Scenario } from './scenarios/types.js';
import { PEOPLE_SCENARIOS, getPeopleScenario, playPeopleScenario, type PeopleScenario } from './supervision/scenarios.js';
import { Cast, wallClock } from './supervision/cast.js';
import { runHistory } from './supervision/history.js';
import { parseFieldCli, runFieldCommand, type FieldCli } from './field/cli.js';

export interface CommonArgs {
  broker: string;
  api: string;
  token: string | undefined;
  prefix: string;
  secrets: string | undefined;
  qos: 0 | 1;
  json: boolean;
}

export interface FleetArgs {
  sites: number;
  perKind: Record<DeviceKind, number>;
  intervalMs: number;
  jitter: number;
  batch: number;
  durationMs: number;
  timeScale: number;
  seed: string | undefined;
  statsEveryMs: number;
}

export type ParsedCli =
  | { command: 'help'; text: string }
  | { command: 'list'; json: boolean }
  | { command: 'fleet'; common: CommonArgs; fleet: FleetArgs }
  | { command: 'scenario'; common: CommonArgs; scenario: Scenario; timeScale: number; verify: boolean }
  | { command: 'people'; common: CommonArgs; scenario: PeopleScenario; timeScale: number }
  | { command: 'history'; months: number; dataDir: string; seed: string | undefined; prefix: string; json: boolean }
  | { command: 'load'; common: CommonArgs; devices: number; kinds: DeviceKind[]; rate: number; durationMs: number; batch: number; window: number; progressEveryMs: number }
  | { command: 'demo'; common: CommonArgs; fleet: FleetArgs; everyMs: number; firstAfterMs: number; scenarios: Scenario[] }
  | { command: 'field'; field: FieldCli };

const COMMON_HELP = `Common options 通用选项:
  --broker URL        MQTT broker 代理地址 (default mqtt://localhost:1883)
  --api URL           gateway HTTP API 网关接口 (default http://localhost:8080)
  --token TOKEN       admin bearer token 管理员令牌 (default: $ADMIN_TOKEN)
  --prefix P          id prefix of the sites and devices this run registers 编号前缀 (default sim)
  --secrets FILE      read / save device secrets in FILE, so a later run reuses the devices
                      without issuing new secrets 设备密钥文件 (default: none)
  --qos 0|1           MQTT QoS of device messages (default 1)
  --json              machine-readable output
  -h, --help          this help 帮助`;

const FLEET_HELP = `Fleet options 设备群选项 (counts are per site 每个小区):
  --sites N               sites (小区) (default 2)
  --elevators N           elevators 电梯 (default 2)
  --fire-panels N         fire alarm panels 火灾报警控制器 (default 1)
  --smoke-detectors N     standalone smoke alarms 独立式烟感 (default 2)
  --fire-water N          fire-water pressure / tank monitors 消防水监测 (default 1)
  --water-pumps N         secondary water supply pump rooms 二次供水泵房 (default 1)
  --drainage N            basement sump pits / sewage-lift pumps 排水 (default 1)
  --interval DURATION     time between two readings of a device 上报间隔 (default 10s)
  --jitter FRACTION       ± random share of the interval 抖动 (default 0.2)
  --batch N               readings per telemetry message 批量条数 (default 1)
  --duration DURATION     stop after this long; 0 = until Ctrl-C 运行时长 (default 0)
  --time-scale X          simulated seconds per real second 时间倍速 (default 1)
  --seed S                seed for reproducible behaviour 随机种子
  --stats-every DURATION  status line interval 状态输出间隔 (default 10s)`;

export const HELP = {
  main: `Community IoT gateway simulators 社区物联网网关设备模拟器

Usage 用法: npm run simulate -- <command> [options]
       node dist/simulators/cli.js <command> [options]

Commands 命令:
  list               list the scenarios and the alert each should raise 列出场景
  fleet              run a fleet of simulated devices with normal behaviour 运行模拟设备群
  scenario <name>    run one scenario on its own devices 运行单个场景
  load               load test: publish telemetry at a given rate 压力测试
  demo               a small live fleet; every few minutes a scenario that raises an alert 演示模式
  history            fill a stopped installation with months of plausible history 生成历史数据
  gb26875            a GB/T 26875.3 transmission device 用户信息传输装置
  nbiot              an NB-IoT smoke alarm's push from OneNET or CTWing NB-IoT 平台推送
  modbus             a pump-room PLC on Modbus TCP 泵房 PLC
  http-device        a device sending over the HTTP API HTTP 上报设备

Run "<command> --help" for a command's options. 各命令选项见 "<command> --help"。
Durations 时长: 500ms, 10s, 3m, 1h, or plain milliseconds.

${COMMON_HELP}`,
  list: `Usage: simulate list [--json]

Lists every scenario: name, title (English / 中文), devices it needs, duration and the alert it
is meant to raise. 列出全部场景。`,
  fleet: `Usage: simulate fleet [options]

Registers sites and devices over the API (ids from --prefix; existing ones are reused, see
--secrets), connects every device and reports readings with normal behaviour until stopped.
注册小区与设备并持续上报正常数据。

${FLEET_HELP}

${COMMON_HELP}`,
  scenario: `Usage: simulate scenario <name> [options]

Registers one device per role of the scenario (site <prefix>-scn), plays the script and, with
--verify, checks through the API that the gateway stored what the scenario declares.
运行单个场景；--verify 通过接口核对网关已存储预期的数据。

Options 选项:
  --time-scale X      run X times faster than real time 时间倍速 (default 1)
  --verify            check the declared readings / events / dead letters afterwards 核对结果

${COMMON_HELP}

Scenarios: see "simulate list". 场景列表见 "simulate list"。
The supervision scenarios (rescue.arrival, visit.fake, order.returned-then-closed) also register a
company, a maintenance unit, market supervision and a street office with accounts, act over the API
as those people, and check what the gateway recorded (exit code 6 if not). --time-scale shortens
their waits (the gateway's own deadlines stay in real time).
监管场景会创建各方账号，以其身份调用接口，并核对网关记录。`,
  history: `Usage: simulate history --months N [--data-dir DIR] [--seed S] [--prefix P] [--json]

Fills an installation with N months of plausible history, ending now: 3 property companies, 3
maintenance units of different quality, 6 sites and 36 elevators; trapped passengers with
response and arrival, faults repaired on time or late, maintenance visits (some faked),
rectification orders (some returned), the daily checks. It runs the gateway in this process on
the data directory (stop the running gateway first) on a clock that starts N months ago, so
everything goes through the real paths. The other settings come from the environment and
CONFIG_FILE as for "npm start". 在停止的网关数据目录中生成 N 个月的历史数据，供考核、排名与季度通报使用。

Options 选项:
  --months N          months of history, 1 to 24 历史月数 (required)
  --data-dir DIR      the installation's data directory 数据目录 (default: $DATA_DIR or ./data)
  --seed S            the same seed gives the same history 随机种子 (default history)
  --prefix P          id prefix of what it registers 编号前缀 (default hist)
  --json              print the summary as JSON`,
  load: `Usage: simulate load [options]

Registers --devices devices (site <prefix>-load) and publishes valid telemetry at --rate messages
per second in total, with a progress line and a summary at the end. 压力测试。

Options 选项:
  --devices N         devices 设备数 (default 100)
  --kinds LIST        device kinds, round robin 设备类型 (default all: ${DEVICE_KINDS.join(',')})
  --rate N            messages per second, all devices together 每秒消息数 (default 5000)
  --duration DURATION publishing time 时长 (default 30s)
  --batch N           readings per message 每条消息读数 (default 1)
  --window N          unacknowledged messages per device before it waits 在途窗口 (default 100)
  --progress-every DURATION  progress line interval 进度间隔 (default 1s)

${COMMON_HELP}`,
  demo: `Usage: simulate demo [options]

Starts a small fleet producing live data and, every --every, injects the next scenario of the
rotation on free devices, so an alert is raised for everyone to see. Stops with Ctrl-C.
演示：运行小型设备群，并定期注入会触发告警的场景。

Options 选项:
  --every DURATION       time between two injected scenarios 场景间隔 (default 3m)
  --first-after DURATION first scenario after this warm-up 首个场景延时 (default 20s)
  --scenarios LIST       comma-separated scenario names (default: every scenario that raises an alert)

${FLEET_HELP}

${COMMON_HELP}`,
} as const;

const commonOptions = {
  broker: { type: 'string' },
  api: { type: 'string' },
  token: { type: 'string' },
  prefix: { type: 'string' },
  secrets: { type: 'string' },
  qos: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const fleetOptions = {
  sites: { type: 'string' },
  elevators: { type: 'string' },
  'fire-panels': { type: 'string' },
  'smoke-detectors': { type: 'string' },
  'fire-water': { type: 'string' },
  'water-pumps': { type: 'string' },
  drainage: { type: 'string' },
  interval: { type: 'string' },
  jitter: { type: 'string' },
  batch: { type: 'string' },
  duration: { type: 'string' },
  'time-scale': { type: 'string' },
  seed: { type: 'string' },
  'stats-every': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const OPTIONS = {
  list: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  fleet: { ...commonOptions, ...fleetOptions },
  scenario: { ...commonOptions, 'time-scale': { type: 'string' }, verify: { type: 'boolean' } },
  load: {
    ...commonOptions, devices: { type: 'string' }, kinds: { type: 'string' }, rate: { type: 'string' }, duration: { type: 'string' },
    batch: { type: 'string' }, window: { type: 'string' }, 'progress-every': { type: 'string' },
  },
  demo: { ...commonOptions, ...fleetOptions, every: { type: 'string' }, 'first-after': { type: 'string' }, scenarios: { type: 'string' } },
  history: { months: { type: 'string' }, 'data-dir': { type: 'string' }, seed: { type: 'string' }, prefix: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
} as const satisfies Record<string, ParseArgsConfig['options']>;

type Command = keyof typeof OPTIONS;
type Values = Record<string, string | boolean | undefined>;

/** A `--flag` duration: plain milliseconds, `500ms`, `10s`, `1.5m`, `1h30m`, `15d` (the settings' grammar, core/duration.ts). */
export function parseDuration(text: string, name: string): number {
  const ms = parseDurationText(text);
  if (ms === undefined) throw new SimError('SIM_BAD_ARGS', `--${name}: "${text}" is not a duration (500ms, 10s, 3m, 1h30m) / 时长格式错误`);
  return ms;
}

function num(v: Values, name: string, fallback: number, check: (n: number) => boolean, what: string): number {
  const raw = v[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || !check(n)) throw new SimError('SIM_BAD_ARGS', `--${name}: "${String(raw)}" must be ${what}`);
  return n;
}
const int = (v: Values, name: string, fallback: number, min = 0) => num(v, name, fallback, (n) => Number.isInteger(n) && n >= min, `an integer ≥ ${min}`);
const dur = (v: Values, name: string, fallback: number) => (typeof v[name] === 'string' ? parseDuration(v[name] as string, name) : fallback);

function parseCommon(v: Values, env: NodeJS.ProcessEnv): CommonArgs {
  const qos = num(v, 'qos', 1, (n) => n === 0 || n === 1, '0 or 1') as 0 | 1;
  const prefix = (v.prefix as string | undefined) ?? 'sim';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,40}$/.test(prefix)) throw new SimError('SIM_BAD_ARGS', `--prefix: "${prefix}" must be letters, digits, _ . : - (at most 41)`);
  return {
    broker: (v.broker as string | undefined) ?? 'mqtt://localhost:1883',
    api: (v.api as string | undefined) ?? 'http://localhost:8080',
    token: (v.token as string | undefined) ?? env.ADMIN_TOKEN,
    prefix,
    secrets: v.secrets as string | undefined,
    qos,
    json: v.json === true,
  };
}

function parseFleet(v: Values, defaults: Partial<FleetArgs> = {}): FleetArgs {
  return {
    sites: int(v, 'sites', defaults.sites ?? 2, 1),
    perKind: {
      elevator: int(v, 'elevators', 2),
      fire_panel: int(v, 'fire-panels', 1),
      smoke_detector: int(v, 'smoke-detectors', 2),
      fire_water: int(v, 'fire-water', 1),
      water_pump: int(v, 'water-pumps', 1),
      drainage: int(v, 'drainage', 1),
    },
    intervalMs: dur(v, 'interval', 10_000),
    jitter: num(v, 'jitter', 0.2, (n) => n >= 0 && n < 1, 'between 0 and 1'),
    batch: int(v, 'batch', 1, 1),
    durationMs: dur(v, 'duration', 0),
    timeScale: num(v, 'time-scale', 1, (n) => n > 0, 'a number > 0'),
    seed: v.seed as string | undefined,
    statsEveryMs: dur(v, 'stats-every', 10_000),
  };
}

/** elevator, fire, fire_water, water, device, elevator, ...: a demo shows every kind early on. */
function interleaveFamilies(list: readonly Scenario[]): Scenario[] {
  const families = new Map<string, Scenario[]>();
  for (const s of list) {
    const f = s.name.split('.')[0]!;
    families.set(f, [...(families.get(f) ?? []), s]);
  }
  const out: Scenario[] = [];
  for (let i = 0; out.length < list.length; i++) for (const group of families.values()) if (group[i]) out.push(group[i]!);
  return out;
}

/** Parses the arguments after the script name. Throws SimError('SIM_BAD_ARGS') with a message for a person. */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedCli {
  const [first, ...rest] = argv;
  if (!first || first === '-h' || first === '--help' || first === 'help') return { command: 'help', text: HELP.main };
  const field = parseFieldCli(first, rest);
  if (field) return 'help' in field ? { command: 'help', text: field.help } : { command: 'field', field };
  if (!(first in OPTIONS)) throw new SimError('SIM_BAD_ARGS', `unknown command "${first}" / 未知命令\n\n${HELP.main}`);
  const command = first as Command;
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...rest], options: OPTIONS[command], allowPositionals: true, strict: true }) as { values: Values; positionals: string[] });
  } catch (err) {
    throw new SimError('SIM_BAD_ARGS', `${(err as Error).message}\n\n${HELP[command]}`);
  }
  if (values.help) return { command: 'help', text: HELP[command] };
  const maxPositionals = command === 'scenario' ? 1 : 0;
  if (positionals.length > maxPositionals) throw new SimError('SIM_BAD_ARGS', `unexpected argument "${positionals[maxPositionals]}"\n\n${HELP[command]}`);
  if (command === 'list') return { command: 'list', json: values.json === true };
  if (command === 'history') {
    if (values.months === undefined) throw new SimError('SIM_BAD_ARGS', `--months is required / 请指定 --months\n\n${HELP.history}`);
    const prefix = (values.prefix as string | undefined) ?? 'hist';
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/.test(prefix)) throw new SimError('SIM_BAD_ARGS', `--prefix: "${prefix}" must be letters, digits, _ - (at most 21)`);
    return {
      command, prefix, json: values.json === true, seed: values.seed as string | undefined,
      months: num(values, 'months', 3, (n) => Number.isInteger(n) && n >= 1 && n <= 24, 'an integer from 1 to 24'),
      dataDir: (values['data-dir'] as string | undefined) ?? env.DATA_DIR ?? './data',
    };
  }

  const common = parseCommon(values, env);
  if (!common.token) throw new SimError('SIM_BAD_ARGS', 'no admin token: pass --token or set ADMIN_TOKEN (the gateway prints it at first start) / 缺少管理员令牌');
  switch (command) {
    case 'fleet':
      return { command, common, fleet: parseFleet(values) };
    case 'scenario': {
      const name = positionals[0];
      if (!name) throw new SimError('SIM_BAD_ARGS', `which scenario? / 请指定场景\n\n${HELP.scenario}`);
      const people = getPeopleScenario(name);
      if (people) return { command: 'people', common, scenario: people, timeScale: num(values, 'time-scale', 1, (n) => n > 0, 'a number > 0') };
      const scenario = getScenario(name);
      if (!scenario) throw new SimError('SIM_UNKNOWN_SCENARIO', `unknown scenario "${name}" / 未知场景; known: ${[...SCENARIOS, ...PEOPLE_SCENARIOS].map((s) => s.name).join(', ')}`);
      return { command, common, scenario, timeScale: num(values, 'time-scale', 1, (n) => n > 0, 'a number > 0'), verify: values.verify === true };
    }
    case 'load': {
      const kinds = typeof values.kinds === 'string'
        ? values.kinds.split(',').map((k) => k.trim()).filter(Boolean).map((k) => {
          const kind = DEVICE_KINDS.find((x) => x === k || KIND_SHORT[x] === k);
          if (!kind) throw new SimError('SIM_BAD_ARGS', `--kinds: unknown kind "${k}"; kinds: ${DEVICE_KINDS.join(', ')}`);
          return kind;
        })
        : [...DEVICE_KINDS];
      if (kinds.length === 0) throw new SimError('SIM_BAD_ARGS', '--kinds: at least one kind');
      return {
        command, common, kinds,
        devices: int(values, 'devices', 100, 1),
        rate: num(values, 'rate', 5000, (n) => n > 0, 'a number > 0'),
        durationMs: dur(values, 'duration', 30_000),
        batch: int(values, 'batch', 1, 1),
        window: int(values, 'window', 100, 1),
        progressEveryMs: dur(values, 'progress-every', 1000),
      };
    }
    case 'demo': {
      const names = typeof values.scenarios === 'string' ? values.scenarios.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
      const scenarios = names
        ? names.map((n) => getScenario(n) ?? (() => { throw new SimError('SIM_UNKNOWN_SCENARIO', `unknown scenario "${n}"`); })())
        // the rotation plays on the fleet's own devices: a scenario that needs its devices registered
        // a certain way (rated speed, building, model) would show something else there
        : interleaveFamilies(SCENARIOS.filter((s) => !s.deviceFields && s.alerts.some((a) => a.expect !== 'suppressed')));
      return { command, common, fleet: parseFleet(values), everyMs: dur(values, 'every', 180_000), firstAfterMs: dur(values, 'first-after', 20_000), scenarios };
    }
  }
}

// ------------------------------------------------------------------ running

const time = () => new Date().toTimeString().slice(0, 8);
const say = (line: string) => process.stdout.write(`[${time()}] ${line}\n`);

function perKindLine(p: PerKind): string {
  return DEVICE_KINDS.filter((k) => (p[k] ?? 0) > 0).map((k) => `${p[k]} ${k}`).join(', ');
}

async function provisionFleet(common: CommonArgs, sites: number, perKind: PerKind, siteSuffix?: string) {
  const api = new GatewayApi(common.api, common.token);
  const secrets = common.secrets ? readSecrets(common.secrets) : undefined;
  const plan = planFleet({ prefix: siteSuffix ? `${common.prefix}-${siteSuffix}` : common.prefix, sites, perKind });
  const result = await provision(api, plan, { secrets, onProgress: say });
  if (common.secrets) writeSecrets(common.secrets, result.devices, common.api, secrets);
  say(`provisioned 已注册: ${result.devices.length} devices 设备 on ${plan.sites.length} sites 小区 ` +
    `(created 新建 ${result.devicesCreated}, reused 复用 ${result.devicesReused}, new secret 新密钥 ${result.devicesRotated}, sites created ${result.sitesCreated})`);
  return { api, devices: result.devices };
}

/** How `list` says what a scenario's alert is meant to do. */
const OUTCOME_TEXT: Record<AlertOutcome, string> = {
  raised: '',
  suppressed: ' (suppressed 抑制)',
  released: ' (suppressed, then released 抑制后推送)',
  unconfirmed: ' (unconfirmed, to the fire service after the verify window 未确认)',
};

function listText(json: boolean): string {
  if (json) {
    return JSON.stringify([
      ...SCENARIOS.map((s) => ({ name: s.name, title: s.title, devices: s.devices, durationMs: s.durationMs, alerts: s.alerts, expect: s.expect })),
      ...PEOPLE_SCENARIOS.map((s) => ({ name: s.name, title: s.title, description: s.description, durationMs: s.durationMs, supervision: true })),
    ], null, 2);
  }
  const width = Math.max(...[...SCENARIOS, ...PEOPLE_SCENARIOS].map((s) => s.name.length));
  const devices = SCENARIOS.map((s) => {
    const alerts = s.alerts.map((a) => `${a.type}${OUTCOME_TEXT[a.expect]}`).join(', ') || 'no alert 无告警 (checks stored data)';
    return `${s.name.padEnd(width)}  ${s.title.zh} / ${s.title.en}\n${' '.repeat(width)}  devices ${Object.values(s.devices).join(' + ')}, ${Math.round(s.durationMs / 1000)} s → ${alerts}`;
  });
  const people = PEOPLE_SCENARIOS.map((s) => `${s.name.padEnd(width)}  ${s.title.zh} / ${s.title.en}\n${' '.repeat(width)}  supervision 监管闭环, ${Math.round(s.durationMs / 60_000)} min: ${s.description}`);
  return [...devices, ...people].join('\n');
}

/** Resolves on Ctrl-C / SIGTERM or after `ms` (0 = never). */
function untilStopped(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
    if (ms > 0) setTimeout(resolve, ms).unref();
  });
}

async function runFleetCommand(common: CommonArgs, f: FleetArgs, signal: AbortSignal, demo?: { everyMs: number; firstAfterMs: number; scenarios: Scenario[] }): Promise<void> {
  const { api, devices } = await provisionFleet(common, f.sites, f.perKind);
  const fleet = new Fleet({ mqttUrl: common.broker, devices, intervalMs: f.intervalMs, jitter: f.jitter, qos: common.qos, batchSize: f.batch, timeScale: f.timeScale, ...(f.seed ? { seed: f.seed } : {}) });
  say(`connecting 连接中 ${devices.length} devices to ${common.broker} (${perKindLine(f.perKind)} per site)`);
  let connected = await fleet.start();
  if (connected < devices.length) {
    const renewed = await renewRefusedSecrets(api, fleet.devices);
    if (renewed.length > 0) {
      say(`${renewed.length} devices were refused (stale secret); issued new secrets 已为被拒设备重新签发密钥`);
      if (common.secrets) writeSecrets(common.secrets, fleet.devices.map((d) => d.spec), common.api, readSecrets(common.secrets));
      connected = fleet.stats().connected;
    }
  }
  say(`${connected}/${devices.length} connected 已连接; reporting every 每 ${f.intervalMs / 1000} s${f.timeScale !== 1 ? `, time ×${f.timeScale}` : ''}. Ctrl-C to stop 按 Ctrl-C 停止`);
  if (connected < devices.length) say(`warning 警告: ${devices.length - connected} devices not connected yet; they keep retrying (wrong secret? try without --secrets) 部分设备未连接`);
  const statsTimer = setInterval(() => {
    const s = fleet.stats();
    say(`online 在线 ${s.connected}/${s.devices}  readings 读数 ${s.readings}  events 事件 ${s.events}  acked 已确认 ${s.acked}  errors 错误 ${s.errors}` +
      `${s.dropped ? `  dropped 丢弃 ${s.dropped}` : ''}${s.refused ? `  refused 拒绝登录 ${s.refused}` : ''}${s.busy ? `  in scenarios 场景中 ${s.busy}` : ''}`);
  }, f.statsEveryMs);
  let demoTimer: NodeJS.Timeout | undefined;
  if (demo) {
    let next = 0;
    const inject = () => {
      for (let tries = 0; tries < demo.scenarios.length; tries++) {
        const scenario = demo.scenarios[next++ % demo.scenarios.length]!;
        let run;
        try {
          run = fleet.inject(scenario, { onStep: (line) => say(`  step 步骤 ${line}`) });
        } catch (err) {
          if (err instanceof SimError && err.code === 'SIM_NO_DEVICES') continue; // devices busy with a longer scenario: try the next one
          throw err;
        }
        const alerts = scenario.alerts.filter((a) => a.expect !== 'suppressed').map((a) => a.type).join(', ');
        say(`▶ scenario 注入场景 ${scenario.name}: ${scenario.title.zh} / ${scenario.title.en} (${Math.round(scenario.durationMs / f.timeScale / 1000)} s) → expect alert 预期告警 ${alerts}`);
        void run.then((r) => say(`■ scenario done 场景结束 ${r.scenario} on ${Object.values(r.devices).join(', ')}${r.errors.length ? ` errors: ${r.errors.join('; ')}` : ''}`), (err) => say(`scenario failed 场景失败: ${(err as Error).message}`));
        return;
      }
      say('no free devices for any scenario; waiting 设备均在场景中，稍后再试');
    };
    const first = setTimeout(() => { inject(); demoTimer = setInterval(inject, demo.everyMs); }, demo.firstAfterMs);
    signal.addEventListener('abort', () => clearTimeout(first), { once: true });
    say(`demo 演示: first scenario in ${demo.firstAfterMs / 1000} s, then every 每 ${demo.everyMs / 1000} s; rotation: ${demo.scenarios.map((s) => s.name).join(', ')}`);
  }
  await untilStopped(f.durationMs, signal);
  clearInterval(statsTimer);
  if (demoTimer) clearInterval(demoTimer);
  say('stopping 正在停止…');
  await fleet.stop();
  const s = fleet.stats();
  say(`done 完成: readings 读数 ${s.readings}, events 事件 ${s.events}, acked 已确认 ${s.acked}, errors 错误 ${s.errors}, dropped 丢弃 ${s.dropped}, connects 连接 ${s.connects}`);
}

async function runScenarioCommand(p: Extract<ParsedCli, { command: 'scenario' }>, signal: AbortSignal): Promise<number> {
  const { common, scenario } = p;
  const api = new GatewayApi(common.api, common.token);
  const secrets = common.secrets ? readSecrets(common.secrets) : undefined;
  say(`scenario 场景 ${scenario.name}: ${scenario.title.zh} / ${scenario.title.en}`);
  say(`  ${scenario.description}`);
  say(`  ${Math.round(scenario.durationMs / p.timeScale / 1000)} s; expected alert 预期告警: ${scenario.alerts.map((a) => `${a.type} (${a.expect})`).join(', ')}`);
  const result = await runScenarioStandalone(scenario, {
    mqttUrl: common.broker, api, prefix: common.prefix, timeScale: p.timeScale, qos: common.qos, verify: p.verify, secrets, signal,
    onStep: (line) => say(`  step 步骤 ${line}`),
    onProvisioned: (devices) => { if (common.secrets) writeSecrets(common.secrets, devices, common.api, secrets); },
  });
  if (common.json) {
    process.stdout.write(JSON.stringify({ run: result.run, results: result.results, ok: result.ok }, null, 2) + '\n');
  } else {
    for (const e of result.run.errors) say(`  error 错误: ${e}`);
    for (const r of result.results ?? []) say(`  ${r.ok ? '✓' : '✗'} ${r.deviceId} ${r.detail}${r.expectation.note ? ` (${r.expectation.note})` : ''}`);
    say(result.ok ? 'scenario finished 场景完成' : 'scenario finished with problems 场景完成但有问题');
  }
  if (!result.ok && p.verify) return SIM_ERRORS.SIM_EXPECTATION_FAILED;
  return 0;
}

async function runPeopleCommand(p: Extract<ParsedCli, { command: 'people' }>): Promise<number> {
  const { common, scenario } = p;
  say(`scenario 场景 ${scenario.name}: ${scenario.title.zh} / ${scenario.title.en}`);
  say(`  ${scenario.description}`);
  const clock = wallClock(p.timeScale);
  const cast = await Cast.assemble({ apiUrl: common.api, mqttUrl: common.broker, adminToken: common.token, prefix: common.prefix, clock });
  try {
    const result = await playPeopleScenario(scenario, cast, clock, (line) => say(`  ${line}`));
    if (common.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    else for (const c of result.checks) say(`  ${c.ok ? '✓' : '✗'} ${c.what}${c.ok ? '' : ` ${JSON.stringify(c.detail)}`}`);
    return result.ok ? 0 : SIM_ERRORS.SIM_EXPECTATION_FAILED;
  } finally {
    await cast.close();
  }
}

async function runHistoryCommand(p: Extract<ParsedCli, { command: 'history' }>): Promise<void> {
  say(`history 历史数据: ${p.months} months 个月 into ${p.dataDir}`);
  const summary = await runHistory({ dataDir: p.dataDir, months: p.months, seed: p.seed, prefix: p.prefix, onProgress: (line) => { if (!p.json) say(`  ${line}`); } });
  if (summary.generatedAdminToken) {
    // a new installation: the gateway made its admin token now, and nobody else will show it
    process.stderr.write(`\n  Admin token (shown once, keep it safe) / 管理员令牌（仅显示一次，请妥善保存）:\n\n    ${summary.generatedAdminToken}\n\n`);
  }
  const { generatedAdminToken: _shownAbove, ...printable } = summary;
  if (p.json) process.stdout.write(JSON.stringify(printable, null, 2) + '\n');
  else say(`done 完成: ${summary.elevators} elevators 电梯, ${summary.trapped} trapped 困人, ${summary.faults} faults 故障, ${summary.visits} visits 维保 (${summary.fakeVisits} faked 虚假), ${summary.orders} orders 整改通知`);
}

async function runLoadCommand(p: Extract<ParsedCli, { command: 'load' }>, signal: AbortSignal): Promise<void> {
  const { common } = p;
  const perKind: PerKind = {};
  for (let i = 0; i < p.devices; i++) { const k = p.kinds[i % p.kinds.length]!; perKind[k] = (perKind[k] ?? 0) + 1; }
  const { devices } = await provisionFleet(common, 1, perKind, 'load');
  say(`load 压测: ${devices.length} devices, ${p.rate} msg/s, ${p.durationMs / 1000} s, QoS ${common.qos}, batch ${p.batch} → ${common.broker}`);
  const tty = process.stdout.isTTY && !common.json;
  const summary = await runLoad({
    mqttUrl: common.broker, devices, ratePerSecond: p.rate, durationMs: p.durationMs, qos: common.qos, batchSize: p.batch, inflightWindow: p.window, signal,
    progressIntervalMs: p.progressEveryMs,
    onProgress: common.json ? undefined : (pr) => {
      if (tty) process.stdout.write(`\r${formatProgress(pr)}   `);
      else say(formatProgress(pr));
    },
  });
  if (tty) process.stdout.write('\n');
  if (common.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else process.stdout.write(formatSummary(summary) + '\n');
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  let parsed: ParsedCli;
  try {
    parsed = parseCli(argv);
  } catch (err) {
    if (err instanceof SimError) { process.stderr.write(`${err.message}\n`); return err.exitCode; }
    throw err;
  }
  if (parsed.command === 'help') { process.stdout.write(parsed.text + '\n'); return 0; }
  if (parsed.command === 'list') { process.stdout.write(listText(parsed.json) + '\n'); return 0; }
  const stop = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    // the first Ctrl-C stops cleanly (flush, disconnect, summary); a second one exits at once
    if (++interrupts > 1) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    switch (parsed.command) {
      case 'fleet': await runFleetCommand(parsed.common, parsed.fleet, stop.signal); return 0;
      case 'demo': await runFleetCommand(parsed.common, parsed.fleet, stop.signal, parsed); return 0;
      case 'scenario': return await runScenarioCommand(parsed, stop.signal);
      case 'people': return await runPeopleCommand(parsed);
      case 'history': await runHistoryCommand(parsed); return 0;
      case 'load': await runLoadCommand(parsed, stop.signal); return 0;
      case 'field': return await runFieldCommand(parsed.field, stop.signal, (line) => process.stdout.write(line + '\n'));
    }
  } catch (err) {
    if (err instanceof SimError) { process.stderr.write(`error 错误 [${err.code}]: ${err.message}\n`); return err.exitCode; }
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // output piped into `head` and closed: stop quietly, as Unix tools do
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(0); throw err; });
  main().then((code) => { process.exitCode = code; }, (err) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exitCode = 1; });
}
