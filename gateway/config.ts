/**
 * Settings: one zod schema, defaults in the schema, loaded from an optional JSON config file
 * (CONFIG_FILE) and overridden by environment variables. Every problem is reported at once with
 * its path; the result is deeply frozen so nothing can drift at run time.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { registrySeedSchema } from '../registry/index.js';
import { influxSettingsSchema, ingestLimitsSchema, presenceSettingsSchema, timeseriesSettingsSchema } from '../ingest/index.js';
import { alertsConfigSchema } from '../alerts/index.js';
import { supervisionConfigSchema } from '../supervision/index.js';
import { protocolsSettingsSchema } from '../protocols/index.js';
import { channelSecrets, notificationsSettingsSchema } from '../notifications/index.js';
import { parseAddressOrBlock } from './proxy-protocol.js';

const port = z.number().int().min(0).max(65535);

/** Load balancers allowed to send a PROXY header: IPs or CIDR blocks (a JSON list, or an env value separated by commas). */
const trustedProxiesSchema = z.preprocess((v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : v), z.array(z.string().superRefine((e, ctx) => {
  if (!parseAddressOrBlock(e)) ctx.addIssue({ code: 'custom', message: `"${e}" 不是 IP 地址或 CIDR 网段 / is not an IP address or CIDR block (e.g. 10.0.0.5, 10.0.0.0/24, fd00::/8)` });
}))).optional();

/** proxyProtocol without trustedProxies: there is no default, a wrong list lets anyone on it name any address. */
function needsTrustedProxies(section: 'mqtt' | 'http', env: string) {
  return (v: { proxyProtocol: string; trustedProxies?: string[] | undefined }, ctx: z.RefinementCtx) => {
    if (v.proxyProtocol === 'off' || v.trustedProxies?.length) return;
    ctx.addIssue({
      code: 'custom', path: ['trustedProxies'],
      message: `${section}.proxyProtocol 为 ${v.proxyProtocol} 时必须列出可信代理（负载均衡器的 IP 或 CIDR，环境变量 ${env}），没有默认值 / `
        + `required when ${section}.proxyProtocol is ${v.proxyProtocol}: list the load balancers allowed to send the PROXY header (IPs or CIDR blocks, env ${env}); there is no default`,
    });
  };
}

export const configSchema = z.object({
  mqtt: z.object({
    host: z.string().default('0.0.0.0'),
    /** Plain MQTT over TCP. */
    port: port.default(1883),
    /** MQTT over TLS; only started when certFile and keyFile are set. */
    tls: z.object({
      port: port.default(8883),
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
      /** The CA that issues device certificates: the only trust anchor for client certificates. */
      caFile: z.string().optional(),
      /**
       * Device client certificates on the TLS port. `optional`: a device whose verified certificate
       * names it (subject CN, or a DNS or URI SAN equal to its id) logs in without a password; a
       * certificate that does not verify counts for nothing. `required`: a device without one is
       * refused (CONNACK 5) on this port. Either way a verified certificate naming another device is
       * refused (5), and accounts log in with their token.
       */
      clientCerts: z.enum(['off', 'optional', 'required']).default('off'),
    }).superRefine((tls, ctx) => {
      if (tls.clientCerts !== 'off' && !tls.caFile) ctx.addIssue({ code: 'custom', path: ['caFile'], message: `clientCerts: ${tls.clientCerts} needs the CA that issues device certificates (caFile)` });
    }).prefault({}),
    /**
     * Cut off a subscriber whose socket has not drained for this long. Until then a frozen
     * subscriber holds the messages queued for it (and, for the alert queue it reads, the next ones):
     * 10 s keeps a fire alarm to other subscribers within GB 50440's 20 s.
     */
    drainTimeoutMs: z.number().int().min(0).default(10_000),
    /** Packets a client may queue before its session is set up. */
    queueLimit: z.number().int().min(1).default(100),
    /** Drop a connection that sends no CONNECT within this time. */
    connectTimeoutMs: z.number().int().min(100).default(30_000),
    /** Longest device id accepted as MQTT client id (MQTT 3.1 said 23; our ids can be longer). */
    maxClientIdLength: z.number().int().min(1).max(65535).default(128),
    /** Largest MQTT packet accepted; a bigger one closes the connection before it is buffered. */
    maxPacketBytes: z.number().int().min(1024).default(1024 * 1024),
    /**
     * Largest packet before login (the CONNECT, and anything sent before its CONNACK). A CONNECT holds a
     * client id, a username, a 43-character secret and perhaps a short will: a few hundred bytes. 16 KiB
     * leaves room for long wills and tokens, and makes a socket that has not logged in cost at most that
     * much instead of `maxPacketBytes`.
     */
    maxConnectPacketBytes: z.number().int().min(256).default(16 * 1024),
    /** Messages the broker's fan-out processes at once. */
    concurrency: z.number().int().min(1).default(1000),
    /**
     * Session state (persistent sessions' subscriptions and offline queues, retained messages, wills):
     * `sqlite` keeps it in the gateway's store, so an agency's persistent session gets what it missed
     * also across a restart; `memory` loses it at every restart.
     */
    persistence: z.enum(['sqlite', 'memory']).default('sqlite'),
    /**
     * The PROXY protocol (HAProxy's `send-proxy` / `send-proxy-v2`, versions 1 and 2) on the MQTT and
     * MQTT-over-TLS ports, for a gateway behind a TCP load balancer (deploy/haproxy.cfg). `off`: the
     * socket's peer is the client. `v1v2`: every connection must come from one of `trustedProxies` and
     * start with a PROXY header; the client address it names is the connection's for the per-address
     * limits, the login slow-down, the logs and the audit. Any other connection is closed unread
     * (counted: proxy_untrusted, proxy_header). The HTTP port has its own (`http.proxyProtocol`).
     */
    proxyProtocol: z.enum(['off', 'v1v2']).default('off'),
    /**
     * Child processes that hold the MQTT port's device sockets (0: this process holds them). An
     * operating system caps the files one process may have open, and each connection is one: with K
     * acceptors the gateway process holds none of them, so it can serve more devices than its own
     * limit (e.g. 100,000 where `ulimit -n` is 20,000: 6 acceptors of about 17,000). Each costs a
     * process (about 50 MB) and a copy of every byte through a pipe. Not with `proxyProtocol` (the
     * header is read here); the TLS and WebSocket ports keep their sockets in this process.
     */
    acceptors: z.number().int().min(0).max(64).default(0),
    /**
     * Who may send the PROXY header: the load balancers' addresses, IPs or CIDR blocks (a JSON list,
     * or MQTT_TRUSTED_PROXIES separated by commas). Required with `proxyProtocol: v1v2`, without a
     * default: a wrong list lets anyone on it name any address, so it must be the operator's.
     */
    trustedProxies: trustedProxiesSchema,
    /** A trusted proxy's connection must deliver its whole PROXY header within this (the spec asks for at least 3 s: a TCP retransmit). */
    proxyHeaderTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
    limits: z.object({
      /** Open connections from one address (0 = no limit). High: a whole community may sit behind one NAT address. */
      maxConnectionsPerAddress: z.number().int().min(0).default(10_000),
      /**
       * Logins from one address in progress at once (0 = no limit). A login takes about one round trip,
       * so a community reconnecting at 1,000 logins a second over a 100 ms link has about 100 at a time;
       * more wait their turn, unread (`loginQueueTimeoutMs`). An address holding sockets open before
       * login gets 128 × maxConnectPacketBytes.
       */
      maxPendingPerAddress: z.number().int().min(0).default(128),
      /**
       * How long a connection past `maxPendingPerAddress` waits, unread, for a login of its address to
       * end before it is closed (0: closed at once). In a reconnect storm a community's devices come
       * back in line instead of backing off. Below a device's own CONNACK wait (30 s in mqtt.js).
       */
      loginQueueTimeoutMs: z.number().int().min(0).max(600_000).default(25_000),
      /**
       * Failed logins of one username (device or account id) within `loginFailureWindowMs` before its next
       * attempts are held and spaced. 5: enough for a typo or a device retrying a stale secret twice.
       */
      loginFailuresBeforeDelay: z.number().int().min(0).default(5),
      /**
       * Failed logins from one address before all its attempts are held. A device retrying a wrong secret
       * every second fails about a dozen times a minute once its own username is held, so 100 lets several
       * broken devices share a community's NAT address without holding up the others.
       */
      addressLoginFailuresBeforeDelay: z.number().int().min(0).default(100),
      loginFailureWindowMs: z.number().int().min(1000).default(60_000),
      /** Spacing of held attempts past the allowance; it doubles with each failure up to `loginMaxDelayMs`. */
      loginDelayMs: z.number().int().min(0).default(1000),
      loginMaxDelayMs: z.number().int().min(0).default(30_000),
      /** Held attempts that may wait per username or address; more are refused at once (CONNACK 3), unchecked. */
      loginMaxWaiting: z.number().int().min(1).default(4),
      /** Messages per second one device may publish (0 = no limit); past it its acknowledgements are held back. */
      publishPerSecond: z.number().min(0).default(200),
      /** Burst above the rate a device may send at once (a batch replayed after an outage). */
      publishBurst: z.number().int().min(1).default(2000),
      /**
       * Live copies of device messages Aedes is routing at once; past it a copy is skipped for every
       * subscriber (counted, reason in_flight), never the stored data. A subscriber that stops reading
       * holds none (see relayBufferBytes): a copy is routed within a turn or two of the event loop, so
       * this is reached only if that many device messages arrive within one turn. 10,000: a quarter
       * second of the benchmark's top ingest rate (about 40,000 msg/s) arriving at once; the former 500
       * let a busy machine's bursts of a few hundred skip copies for healthy subscribers. A copy in
       * flight costs bookkeeping only; its payload is the buffer the ingest holds anyway.
       */
      relayInFlight: z.number().int().min(1).default(10_000),
      /**
       * Bytes of live device data that may wait in the gateway for one MQTT subscriber (on top of the
       * operating system's socket buffers). A subscriber that reads gets every live message unless it
       * falls further behind; then it misses live data (counted, reason subscriber_behind) until it has
       * caught up, and is disconnected if that takes longer than drainTimeoutMs. 1 MiB: seconds of a
       * busy feed, so a reader slowed by a busy machine or a bad link loses nothing, while a frozen
       * one costs at most this. A message larger than this never reaches live subscribers.
       */
      relayBufferBytes: z.number().int().min(16 * 1024).default(1024 * 1024),
    }).prefault({}),
  }).superRefine(needsTrustedProxies('mqtt', 'MQTT_TRUSTED_PROXIES')).refine((m) => m.acceptors === 0 || m.proxyProtocol === 'off', {
    path: ['acceptors'],
    message: 'mqtt.acceptors 不能与 mqtt.proxyProtocol 同时使用（PROXY 头在网关进程内读取）/ cannot be used with mqtt.proxyProtocol: the PROXY header is read in the gateway process',
  }).prefault({}),
  http: z.object({
    host: z.string().default('0.0.0.0'),
    port: port.default(8080),
    /**
     * Longest a client may take to send a whole request, headers and body; past it Node answers 408
     * and closes. Event streams are long responses, not long requests, so this does not cut them.
     */
    requestTimeoutMs: z.number().int().min(1000).default(30_000),
    /** Longest a client may take to send the request headers (capped at requestTimeoutMs): slow-header clients hold a socket each. */
    headersTimeoutMs: z.number().int().min(1000).default(10_000),
    /** An idle keep-alive connection is closed after this; above the usual 60 s of load balancers, so that the proxy closes first. */
    keepAliveTimeoutMs: z.number().int().min(1000).default(72_000),
    /**
     * A connection with no traffic either way for this long is closed (a client that stops reading a
     * large answer). Event streams are exempt: their heartbeat and buffer caps watch them. 0 = never.
     */
    idleTimeoutMs: z.number().int().min(0).default(120_000),
    /**
     * Event streams (the console's feed and queue streams together) one account may hold open; past
     * it 429. An account is a desk or an agency's system: a few browser tabs and a stream per queue.
     */
    streamsPerAccount: z.number().int().min(1).default(10),
    /**
     * The address residents reach the gateway at (the public elevator notice): printed in each
     * elevator's QR code. Unset: http://localhost:<port>, fine for a trial, wrong on a printed label.
     */
    publicBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Public notice requests one address may make per minute (residents scanning a label); past it 429. */
    publicNoticePerMinute: z.number().int().min(1).default(30),
    /** HTTPS (and MQTT over wss at /mqtt) on the same port when both are set. */
    tls: z.object({
      certFile: z.string().optional(),
      keyFile: z.string().optional(),
    }).refine((t) => Boolean(t.certFile) === Boolean(t.keyFile), 'certFile and keyFile must be set together').prefault({}),
    /**
     * The PROXY protocol on the HTTP port, behind a TCP balancer (deploy/haproxy.cfg: send-proxy-v2
     * and check-send-proxy). `v1v2`: a connection from one of `trustedProxies` must start with a
     * PROXY header (or is closed, counted in gateway_http_connections_refused_total), and the client
     * address it names is the request's: the public notice's per-address limit, the refused-token
     * slow-down, MQTT over WebSocket's per-address guards. A connection from any other address is
     * served directly with its own address (Prometheus, the container's health check).
     */
    proxyProtocol: z.enum(['off', 'v1v2']).default('off'),
    trustedProxies: trustedProxiesSchema,
    proxyHeaderTimeoutMs: z.number().int().min(100).max(60_000).default(5000),
  }).superRefine(needsTrustedProxies('http', 'HTTP_TRUSTED_PROXIES')).prefault({}),
  /** Durable state: registry, dead letters, embedded time series, the InfluxDB outage buffer. */
  dataDir: z.string().min(1).default('./data'),
  /** Bootstrap admin bearer token. Unset: one is generated at first start and printed once. */
  adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  influx: influxSettingsSchema.prefault({}),
  timeseries: timeseriesSettingsSchema.prefault({}),
  ingest: ingestLimitsSchema.prefault({}),
  presence: presenceSettingsSchema.prefault({}),
  /** Alert rules, the responsibility list, queues and their delivery (alerts/config.ts). */
  alerts: alertsConfigSchema.prefault({}),
  /** Maintenance visits, rectification orders, scorecards and the ranking (supervision/config.ts). */
  supervision: supervisionConfigSchema.prefault({}),
  /** Field protocols (SPEC 12): the HTTP device API, NB-IoT platform pushes, GB/T 26875.3, Modbus polling. */
  protocols: protocolsSettingsSchema.prefault({}),
  /** Notifications to people (SPEC 13): robots, SMS, voice, e-mail; pacing, retries and the on-call chain. */
  notifications: notificationsSettingsSchema.prefault({}),
  /** Registry seed: sites, devices and accounts created at start when missing. */
  seed: registrySeedSchema.prefault({}),
  /** Cluster mode (docs/cluster.md): without `databaseUrl` the gateway is one process on DATA_DIR's SQLite file. */
  cluster: z.object({
    /**
     * PostgreSQL (postgres://user:password@host:port/db): the registry, accounts, alert ledger,
     * queues, rule state, presence, dead letters and audit live there, shared by every node.
     */
    databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    /** Redis (redis://host:port): MQTT fan-out between nodes and MQTT sessions. */
    redisUrl: z.string().regex(/^rediss?:\/\//, 'must be a redis:// URL').optional(),
    /** This node's name in the API and the logs; default: the host name. */
    nodeId: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-", at most 64').optional(),
    /**
     * Writes waiting for PostgreSQL (while it is unreachable) beyond which new device messages are
     * not taken (the device resends later) and changes over HTTP are answered 503.
     */
    maxPendingWrites: z.number().int().min(100).default(100_000),
  }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;

/** One entry per environment variable: where it goes in the settings and how it is parsed. */
const ENV: Array<[string, string[], 'int' | 'string']> = [
  ['MQTT_PORT', ['mqtt', 'port'], 'int'],
  ['MQTT_HOST', ['mqtt', 'host'], 'string'],
  ['MQTT_TLS_PORT', ['mqtt', 'tls', 'port'], 'int'],
  ['MQTT_TLS_CERT', ['mqtt', 'tls', 'certFile'], 'string'],
  ['MQTT_TLS_KEY', ['mqtt', 'tls', 'keyFile'], 'string'],
  ['MQTT_TLS_CA', ['mqtt', 'tls', 'caFile'], 'string'],
  ['MQTT_TLS_CLIENT_CERTS', ['mqtt', 'tls', 'clientCerts'], 'string'],
  ['MQTT_PROXY_PROTOCOL', ['mqtt', 'proxyProtocol'], 'string'],
  ['MQTT_ACCEPTORS', ['mqtt', 'acceptors'], 'int'],
  ['MQTT_TRUSTED_PROXIES', ['mqtt', 'trustedProxies'], 'string'],
  ['HTTP_PROXY_PROTOCOL', ['http', 'proxyProtocol'], 'string'],
  ['HTTP_TRUSTED_PROXIES', ['http', 'trustedProxies'], 'string'],
  ['MQTT_PROXY_HEADER_TIMEOUT_MS', ['mqtt', 'proxyHeaderTimeoutMs'], 'int'],
  ['HTTP_PORT', ['http', 'port'], 'int'],
  ['HTTP_HOST', ['http', 'host'], 'string'],
  ['HTTP_TLS_CERT', ['http', 'tls', 'certFile'], 'string'],
  ['HTTP_TLS_KEY', ['http', 'tls', 'keyFile'], 'string'],
  ['HTTP_REQUEST_TIMEOUT_MS', ['http', 'requestTimeoutMs'], 'int'],
  ['HTTP_STREAMS_PER_ACCOUNT', ['http', 'streamsPerAccount'], 'int'],
  ['PUBLIC_BASE_URL', ['http', 'publicBaseUrl'], 'string'],
  ['DATA_DIR', ['dataDir'], 'string'],
  ['ADMIN_TOKEN', ['adminToken'], 'string'],
  ['LOG_LEVEL', ['logLevel'], 'string'],
  ['INFLUX_URL', ['influx', 'url'], 'string'],
  ['INFLUX_VERSION', ['influx', 'version'], 'string'],
  ['INFLUX_DATABASE', ['influx', 'database'], 'string'],
  ['INFLUX_USERNAME', ['influx', 'username'], 'string'],
  ['INFLUX_PASSWORD', ['influx', 'password'], 'string'],
  ['INFLUX_TOKEN', ['influx', 'token'], 'string'],
  ['INFLUX_ORG', ['influx', 'org'], 'string'],
  ['INFLUX_BUCKET', ['influx', 'bucket'], 'string'],
  ['TS_RETENTION_DAYS', ['timeseries', 'retentionDays'], 'int'],
  ['TS_BUFFER_MAX_BYTES', ['timeseries', 'bufferMaxBytes'], 'int'],
  ['DATABASE_URL', ['cluster', 'databaseUrl'], 'string'],
  ['REDIS_URL', ['cluster', 'redisUrl'], 'string'],
  ['NODE_ID', ['cluster', 'nodeId'], 'string'],
  ['GB26875_PORT', ['protocols', 'gb26875', 'port'], 'int'],
];

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`);
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Builds the settings from a config file (if CONFIG_FILE is set), environment variables and
 * overrides (tests). Throws one ConfigError listing every problem.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Record<string, unknown> = {}): Config {
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  if (env.CONFIG_FILE) {
    try {
      raw = JSON.parse(readFileSync(env.CONFIG_FILE, 'utf8')) as Record<string, unknown>;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        problems.push(`CONFIG_FILE ${env.CONFIG_FILE}: must hold a JSON object`);
        raw = {};
      }
    } catch (err) {
      problems.push(`CONFIG_FILE ${env.CONFIG_FILE}: ${(err as Error).message}`);
    }
  }
  for (const [name, path, type] of ENV) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (type === 'int') {
      const n = Number(value);
      if (!Number.isFinite(n)) {
        problems.push(`${name}: expected a number, got "${value}"`);
        continue;
      }
      setPath(raw, path, n);
    } else {
      setPath(raw, path, value);
    }
  }
  for (const [key, value] of Object.entries(overrides)) raw[key] = mergeDeep(raw[key], value);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  const config = parsed.data;
  const placeholders = placeholderSecrets(config);
  if (placeholders.length > 0) throw new ConfigError(placeholders);
  const tls = config.mqtt.tls;
  if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) {
    throw new ConfigError(['mqtt.tls: certFile and keyFile must be set together']);
  }
  if (config.influx.url && config.influx.version === '2' && !(config.influx.bucket || config.influx.database)) {
    throw new ConfigError(['influx.bucket: required for InfluxDB 2.x']);
  }
  return deepFreeze(config);
}

/**
 * A secret copied from `.env.example` (its values contain `change-me`) is public: anyone who has read
 * the repository knows it. Starting with one would put a gateway on the network that only looks
 * protected, so every such value stops the start, each with the command that makes a real one.
 */
const PLACEHOLDER = /change-?me/i;
const MAKE_SECRET = 'make a real one with: openssl rand -hex 32';

function placeholderSecrets(config: Config): string[] {
  const problems: string[] = [];
  const check = (path: string, value: string | undefined) => {
    if (value !== undefined && PLACEHOLDER.test(value)) problems.push(`${path}: is the placeholder from .env.example, not a secret; ${MAKE_SECRET}`);
  };
  check('adminToken (ADMIN_TOKEN)', config.adminToken);
  check('influx.token (INFLUX_TOKEN)', config.influx.token);
  check('influx.password (INFLUX_PASSWORD)', config.influx.password);
  check('cluster.databaseUrl (DATABASE_URL)', config.cluster.databaseUrl);
  check('cluster.redisUrl (REDIS_URL)', config.cluster.redisUrl);
  config.seed.devices.forEach((d, i) => check(`seed.devices.${i}.secret`, d.secret));
  config.seed.accounts.forEach((a, i) => check(`seed.accounts.${i}.token`, a.token));
  for (const [path, value] of channelSecrets(config.notifications.channels)) check(`notifications.channels.${path}`, value);
  return problems;
}

function mergeDeep(base: unknown, extra: unknown): unknown {
  if (base && extra && typeof base === 'object' && typeof extra === 'object' && !Array.isArray(base) && !Array.isArray(extra)) {
    const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
    for (const [k, v] of Object.entries(extra as Record<string, unknown>)) out[k] = mergeDeep(out[k], v);
    return out;
  }
  return extra;
}
