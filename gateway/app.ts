/**
 * The composition root: builds every part of the gateway in order and wires them together.
 * `main.ts` listens and handles signals; tests call `startGateway` with ephemeral ports.
 * Order matters: the store and time-series writer are ready before the broker accepts a
 * connection, and on close the broker stops accepting before the writer flushes and the store
 * commits what is pending.
 *
 * The store is DATA_DIR's SQLite file, or PostgreSQL when `cluster.databaseUrl` is set
 * (core/db/store.ts): every capability above runs the same code on either.
 */
// first: before anything loads mqtt-packet (see the module)
import './broker/quiet-debug.js';
import { mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from './config.js';
import { createLogger, type Logger } from '../core/log.js';
import { createMetrics, type Metrics } from '../core/metrics.js';
import { openDatabase, sqliteDatabase, type Db } from '../core/db/sqlite.js';
import { startCheckpointer } from '../core/db/checkpointer.js';
import { openPostgresDatabase } from '../core/db/postgres.js';
import type { Database } from '../core/db/store.js';
import { AuditLog } from '../core/audit.js';
import { Registry } from '../registry/index.js';
import { Presence } from '../ingest/index.js';
import { Broker } from './broker/broker.js';
import { buildHttp, type App } from './http/server.js';
import { ADMIN_PRINCIPAL, isAdminToken, resolveAdminToken } from '../registry/index.js';
import { DeadLetterStore } from '../ingest/index.js';
import { IngestPipeline } from '../ingest/index.js';
import { createWriter, type TimeSeriesWriter } from '../ingest/index.js';
import { seedRegistry } from '../registry/index.js';
import { openAlerts, systemClock, type Alerts, type Clock } from '../alerts/index.js';
import { consolePlugin } from '../dashboards/console/plugin.js';
import { StreamGate } from '../core/streams.js';
import { dateIn } from '../core/dates.js';
import { LeaderElection } from '../core/db/leader.js';
import { openSupervision, type Supervision, type VisitSource } from '../supervision/index.js';
import { createRedisTransport, type RedisTransport } from './broker/redis.js';
import { NodeDirectory } from './cluster/nodes.js';
import { clusterRoutes } from './http/routes/cluster.js';
import { publicNoticeRoutes, publicState } from './http/routes/public-notice.js';
import { openFieldProtocols, type FieldProtocols } from '../protocols/index.js';
import { FieldIngress } from './field-ingress.js';
import { Laps, type LapsResult } from '../core/laps.js';
import { openNotifications, type Notifications } from '../notifications/index.js';

export interface Gateway {
  config: Config;
  log: Logger;
  metrics: Metrics;
  /** The durable store every capability writes to. */
  database: Database;
  /** DATA_DIR's SQLite file: the whole store in the embedded mode; in cluster mode only the MQTT sessions when there is no Redis. */
  db: Db;
  registry: Registry;
  presence: Presence;
  writer: TimeSeriesWriter;
  deadLetters: DeadLetterStore;
  pipeline: IngestPipeline;
  broker: Broker;
  alerts: Alerts;
  supervision: Supervision;
  /** Field protocol adapters (HTTP devices, NB-IoT pushes, GB/T 26875.3, Modbus). */
  protocols: FieldProtocols;
  /** Messages to the people on duty: robots, SMS, voice, e-mail, the on-call chain. */
  notifications: Notifications;
  http: App;
  /** This node's name (cluster.nodeId, or the host name). */
  nodeId: string;
  /** Who runs the cluster-wide timers (cluster mode); absent in the embedded mode, where this node always does. */
  leader?: LeaderElection;
  nodes: NodeDirectory;
  /** Set only on the first start without ADMIN_TOKEN: the generated admin token, to show once. */
  generatedAdminToken?: string;
  /** Actual ports (useful when configured as 0). */
  ports(): { mqtt: number; http: number; mqtts?: number };
  /** How long the start took, step by step (also logged with 'gateway started'). */
  startup: LapsResult;
  /** Stops everything; resolves with how long it took, step by step (also logged with 'gateway stopped'). */
  close(): Promise<LapsResult | undefined>;
}

/** The advisory lock key of the cluster-wide timers' leader (any constant no other lock of ours uses). */
const TIMER_LEADER_LOCK = 0x67775f74;
const VERSION = process.env.npm_package_version ?? 'dev';

export interface GatewayOptions {
  log?: Logger;
  /** The time alert rules, deadlines and schedules run on (tests pass a ManualClock). */
  clock?: Clock;
}

export async function startGateway(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.log ?? createLogger(config.logLevel);
  const laps = new Laps();
  const metrics = createMetrics();
  mkdirSync(config.dataDir, { recursive: true });
  const db = openDatabase(config.dataDir, 'gateway.sqlite');
  const checkpointer = startCheckpointer(db);
  const nodeId = config.cluster.nodeId ?? hostname();
  const database = config.cluster.databaseUrl
    ? await openPostgresDatabase({
      connectionString: config.cluster.databaseUrl,
      nodeId,
      maxPendingWrites: config.cluster.maxPendingWrites,
      onError: (err, what) => log.error({ err }, what),
      onCommit: (_writes, seconds) => { metrics.storeCommits.inc(); metrics.storeCommitLatency.observe(seconds); },
      onFailure: (transient) => metrics.storeCommitFailures.labels(transient ? 'transient' : 'refused').inc(),
    })
    : sqliteDatabase(db);
  const audit = await AuditLog.open(database);
  const clock = opts.clock ?? systemClock;
  laps.lap('store');
  // entries are dated on the alert clock: a site's first period of responsibility starts when it was created
  const registry = await Registry.open(database, audit, () => clock.now());
  seedRegistry(registry, config.seed, log);
  const admin = await resolveAdminToken(database, config.adminToken);
  laps.lap('registry');

  // presence is the one record of when a device last sent data, and the offline rule reads it: same clock as the alerts
  const presence = await Presence.open(database, config.presence.persistIntervalMs, () => clock.now());
  const deadLetters = await DeadLetterStore.open(database, config.ingest.deadLetterCap, (n) => metrics.deadLettersDropped.inc(n));
  laps.lap('presence');
  const writer = await createWriter(config, log, metrics);
  await writer.start();
  laps.lap('timeseries');

  const validCounters = new Map<string, ReturnType<typeof metrics.objectsValid.labels>>();
  const pipeline = new IngestPipeline(writer, deadLetters, config.ingest, {
    received: (channel, n) => metrics.messagesReceived.labels(channel).inc(n),
    valid: (kind, n) => {
      let c = validCounters.get(kind);
      if (!c) validCounters.set(kind, (c = metrics.objectsValid.labels(kind)));
      c.inc(n);
    },
    rejected: (reason, n) => metrics.rejected.labels(reason).inc(n),
    commitSeconds: (s) => metrics.commitLatency.observe(s),
    deferred: (n) => metrics.ingestDeferred.inc(n),
  }, ingestStore(database), (err, what) => log.error({ err }, what));
  pipeline.onAccepted(presence.onAccepted);
  presence.start();

  // every event stream (queue streams, the console's feed) is counted per account, and ends when the account is revoked
  const streams = new StreamGate(config.http.streamsPerAccount);
  const endStreams = (accountId: string) => {
    const n = streams.revoke(accountId);
    if (n > 0) log.info({ accountId, streams: n }, 'account revoked: its open streams ended');
  };
  registry.on('accountRevoked', endStreams);
  const clustered = database.dialect === 'postgres';
  // last-seen times reach the leader through the store, up to two persist intervals late
  const cluster = clustered ? {
    isLocal: (id: string) => presence.isLocal(id),
    connectedElsewhere: (id: string) => presence.connectedElsewhere(id),
    offlineGraceMs: 2 * config.presence.persistIntervalMs,
  } : undefined;
  const alerts = await openAlerts({ config: config.alerts, db: database, registry, audit, metrics, log, clock, presence, streams, cluster });
  pipeline.onAccepted(alerts.onAccepted);
  laps.lap('alerts');

  // cluster mode: MQTT fan-out and sessions through Redis; the Aedes id is unique per process run (see broker/redis.ts)
  const aedesId = `${nodeId}-${randomUUID().slice(0, 8)}`;
  let transport: RedisTransport | undefined;
  if (config.cluster.redisUrl) {
    transport = await createRedisTransport(config.cluster.redisUrl, {
      nodeId: aedesId, concurrency: config.mqtt.concurrency, onError: (err, connection) => log.warn({ err, connection }, 'redis connection failed'),
    });
  } else if (clustered) {
    log.warn('cluster mode without REDIS_URL: MQTT subscribers hear only what their own node publishes; run one node, or set REDIS_URL');
  }
  const broker = new Broker({
    config, db, log, metrics, registry, presence, pipeline, audit, onQueueSubscribe: (p, queue) => alerts.queueRead(p, queue, 'mqtt'),
    ...(transport ? { transport, nodeId: aedesId } : {}),
    ...(clustered ? { beforeDevice: (id: string) => alerts.adoptDevice(id) } : {}),
  });
  await broker.start();
  // after the broker, so that alerts raised by restored timers can be published
  alerts.attachBroker(broker);
  alerts.start();
  laps.lap('rules');
  // handovers fixed for later, open visits and order deadlines fall due on the alert clock, on the node that leads the timers
  const supervision = await openSupervision({
    db: database, registry, alerts, telemetry: writer, presence, clock, config: config.supervision, timeZone: config.alerts.schedules.timezone,
    audit, log, dataDir: config.dataDir, clustered,
  });
  const { handovers } = supervision;
  supervision.start();
  laps.lap('supervision');

  // the people on duty hear of what their party's queue receives; the leader sends
  const notifications = await openNotifications({
    db: database, alerts, registry, audit, clock, settings: config.notifications, metrics, log, clustered,
    baseUrl: config.http.publicBaseUrl ?? `http://localhost:${config.http.port}`, timeZone: config.alerts.schedules.timezone,
  });
  await notifications.start();
  laps.lap('notifications');

  // devices that do not speak our MQTT contract: into the same pipeline, with the MQTT logins' slow-down and rate limit
  const fieldIngress = new FieldIngress({ registry, pipeline, presence, metrics, adopt: clustered ? (id) => alerts.adoptDevice(id) : undefined });
  const protocols = openFieldProtocols({
    ingress: fieldIngress, settings: config.protocols, log,
    deviceName: (id) => { const d = registry.getDevice(id); return d && (d.location ?? d.id); },
    devices: {
      checkSecret: async (address, id, secret) => {
        const check = await broker.checkDeviceSecret(address, id, secret);
        return check.ok ? { ok: true } : { ok: false, reason: check.reason };
      },
      rateLimitWait: (id) => broker.rateLimitWait(id),
    },
  });
  await protocols.start();

  // cluster mode: what the other nodes commit reaches this node's memory, and one node leads the timers
  let leader: LeaderElection | undefined;
  const nodes = new NodeDirectory({
    store: database.store(), nodeId, version: VERSION,
    connections: () => {
      const devices = presence.localCount;
      return { devices, agencies: Math.max(0, broker.aedes.connectedClients - devices), streams: streams.total };
    },
    isLeader: () => leader?.isLeader ?? true,
    onError: (err, what) => log.warn({ err }, what),
  });
  let presenceSince = 0;
  let takingLead: Promise<void> | undefined;
  let pullTimer: NodeJS.Timeout | undefined;
  if (clustered && config.cluster.databaseUrl) {
    database.listen((notice) => {
      if (notice.topic === 'presence') return presence.remote(notice.ids);
      const work = notice.topic === 'registry' ? registry.refresh(notice.ids)
        : notice.topic === 'resync' ? Promise.all([registry.reload(), alerts.resync(), notifications.reload()])
          : notice.topic === 'supervision' ? supervision.onNotice(notice.ids)
            : notice.topic === 'notifications' ? notifications.onNotice(notice.ids)
            : alerts.onNotice(notice);
      work.catch((err: unknown) => log.error({ err, topic: notice.topic }, 'taking another node\'s change failed'));
    });
    database.onRefused(() => {
      alerts.resync().catch((err: unknown) => log.error({ err }, 'reading the active alerts again failed'));
      notifications.reload().catch((err: unknown) => log.error({ err }, 'reading the notification contacts again failed'));
    });
    const pull = async () => {
      const { deviceIds, newest } = await presence.pull(presenceSince);
      presenceSince = newest;
      alerts.seen(deviceIds);
    };
    leader = new LeaderElection({
      connectionString: config.cluster.databaseUrl,
      key: TIMER_LEADER_LOCK,
      retryMs: 1000,
      onChange: (leading) => {
        log.info({ nodeId, leading }, leading ? 'this node now runs the cluster-wide timers' : 'this node no longer runs the cluster-wide timers');
        // the directory shows the new leader now, not at the next heartbeat
        void nodes.beat();
        if (leading) {
          // the last-seen times of every device first, so that no device is judged silent on this node's partial view
          takingLead = pull().catch((err: unknown) => log.error({ err }, 'reading last-seen times failed')).finally(() => {
            alerts.setLeading(leader?.isLeader ?? false);
            supervision.setLeading(leader?.isLeader ?? false);
            protocols.setLeading(leader?.isLeader ?? false);
            notifications.setLeading(leader?.isLeader ?? false);
          });
        } else {
          alerts.setLeading(false);
          supervision.setLeading(false);
          protocols.setLeading(false);
          notifications.setLeading(false);
        }
      },
      onError: (err) => log.warn({ err }, 'leader election: lost the connection'),
    });
    await leader.start();
    await takingLead;
    pullTimer = setInterval(() => {
      if (leader?.isLeader) pull().catch((err: unknown) => log.warn({ err }, 'reading last-seen times failed'));
    }, config.presence.persistIntervalMs);
    pullTimer.unref();
  } else {
    // one node: it polls the Modbus controllers
    protocols.setLeading(true);
  }
  nodes.start();
  laps.lap('protocols_and_cluster');

  const changes = database.store<unknown>();
  metrics.watchStore(() => database.health());
  const http = await buildHttp({
    log, metrics, registry, presence, deadLetters, writer, audit, handovers,
    store: { durable: () => changes.durable(), get saturated() { return database.saturated; } },
    extraRoutes: [alerts.routes, ...supervision.routes, clusterRoutes({ nodes, nodeId }), ...protocols.routes, ...notifications.routes],
    server: config.http,
    auth: { principalForToken: (token) => (isAdminToken(token, admin.hash) ? ADMIN_PRINCIPAL : registry.principalForToken(token)) },
    ready: () => [
      { name: 'broker', ok: !broker.aedes.closed },
      storeCheck(database),
    ],
  });
  // the operator console: its page at `/` (public, holds no data) and its live feed under /api/v1/console
  await http.register(consolePlugin({ alerts, streams }));
  // the public elevator notice (no login): what residents may know of their lift, and its printable QR label
  await http.register(publicNoticeRoutes({
    publicBaseUrl: config.http.publicBaseUrl ?? `http://localhost:${config.http.port}`,
    rateLimit: { perMinute: config.http.publicNoticePerMinute, burst: config.http.publicNoticePerMinute },
    onLimited: () => metrics.publicNoticeLimited.inc(),
    elevator: elevatorNotices({ registry, presence, alerts, visits: supervision.visits, timeZone: config.alerts.schedules.timezone }),
  }));
  for (const routes of supervision.publicRoutes) await http.register(routes);
  broker.attachWebSocket(http.server);
  laps.lap('http');
  // last: the devices' logins are answered from their first byte (see Broker.openPorts)
  await broker.openPorts();
  await http.listen({ port: config.http.port, host: config.http.host });
  laps.lap('ports');

  let closed = false;
  const gateway: Gateway = {
    config, log, metrics, database, db, registry, nodeId, nodes, ...(leader ? { leader } : {}), presence, writer, deadLetters, pipeline, broker, alerts, supervision, protocols, notifications, http,
    ...(admin.generated ? { generatedAdminToken: admin.generated } : {}),
    ports: () => ({ ...broker.ports(), http: (http.server.address() as { port: number }).port }),
    startup: laps.result(),
    async close() {
      if (closed) return undefined;
      closed = true;
      const stopping = new Laps();
      if (pullTimer) clearInterval(pullTimer);
      // the adapters first: what they still hand over goes in while the pipeline and the store are up
      await protocols.stop();
      fieldIngress.close();
      stopping.lap('protocols');
      // what changed since the last periodic save, saved while the devices are still connected: at
      // city scale thousands of rows, which after the broker's close were seconds the devices waited
      presence.persist();
      stopping.lap('presence_early');
      await broker.close();
      await transport?.close();
      stopping.lap('broker');
      await leader?.stop();
      await nodes.stop();
      registry.off('accountRevoked', endStreams);
      supervision.stop();
      await notifications.stop();
      // before the HTTP server: it would wait for the open event streams
      await alerts.stop();
      stopping.lap('alerts');
      await http.close();
      stopping.lap('http');
      presence.stop();
      stopping.lap('presence');
      await writer.close();
      stopping.lap('timeseries');
      // the checkpoints' connection first: the last connection to close copies the log and removes it
      await checkpointer.close();
      await database.close();
      if (db.open) db.close();
      stopping.lap('store');
      // last: with acceptor processes the devices' sockets stay open until everything above is done
      broker.dropConnections();
      const took = stopping.result();
      log.info({ stopMs: took.steps, totalMs: took.totalMs }, 'gateway stopped');
      return took;
    },
  };
  log.info({ ...gateway.ports(), dataDir: config.dataDir, timeseries: writer.backend, startMs: gateway.startup.steps, totalMs: gateway.startup.totalMs }, 'gateway started');
  return gateway;
}

/** The ingest group commit on the store: dead letters join the group's unit of work, and devices wait for it to be durable. */
function ingestStore(database: Database) {
  const store = database.store<unknown>();
  return { transaction: (fn: () => void) => store.transaction(fn), durable: () => store.durable(), get saturated() { return database.saturated; } };
}

function storeCheck(database: Database): { name: string; ok: boolean; detail?: string } {
  const h = database.health();
  const detail = h.lastError ?? (h.dialect === 'postgres' ? `${h.pendingWrites} writes pending` : undefined);
  return { name: `store:${h.dialect}`, ok: h.ok, ...(detail === undefined ? {} : { detail }) };
}

/**
 * What the public notice shows of an elevator (see http/routes/public-notice.ts), found by its
 * registration code through an index kept current by the registry's change events.
 */
function elevatorNotices(deps: { registry: Registry; presence: Presence; alerts: Alerts; visits: Pick<VisitSource, 'lastValidVisitAt'>; timeZone: string }) {
  const byCode = new Map<string, string>();
  const codeOf = new Map<string, string>();
  const index = (d: { id: string; kind: string; registrationCode?: string | undefined }) => {
    const old = codeOf.get(d.id);
    if (old !== undefined && old !== d.registrationCode) {
      byCode.delete(old);
      codeOf.delete(d.id);
    }
    if (d.kind === 'elevator' && d.registrationCode) {
      byCode.set(d.registrationCode, d.id);
      codeOf.set(d.id, d.registrationCode);
    }
  };
  for (const d of deps.registry.listDevices()) index(d);
  deps.registry.on('deviceChanged', index);
  return (code: string) => {
    const id = byCode.get(code);
    const d = id === undefined ? undefined : deps.registry.getDevice(id);
    if (!d || d.kind !== 'elevator' || d.disabled || d.registrationCode !== code) return undefined;
    const seen = deps.presence.get(d.id);
    const active = [...deps.alerts.ledger.activeAlerts()].filter((a) => a.deviceId === d.id);
    const offline = !seen?.lastSeenAt || active.some((a) => a.type === 'device.offline' && a.conditionActive);
    const unit = d.maintenanceUnitId ? deps.registry.getMaintenanceUnit(d.maintenanceUnitId) : undefined;
    return {
      registrationCode: code, siteName: deps.registry.getSite(d.siteId)?.name ?? '', location: d.location ?? null,
      // a unit carried forward from an id alone has no phone yet: the page says it is not registered
      maintenanceUnit: unit ? { name: unit.name, phone: unit.phone || null } : null,
      lastMaintenanceVisit: lastVisit(deps.visits.lastValidVisitAt(d.id), deps.timeZone),
      nextInspectionDue: d.nextInspectionDue ?? null,
      state: publicState({ offline, mode: seen?.latest.mode, alerts: active }),
    };
  };
}

/** The day of the last valid maintenance visit (YYYY-MM-DD in the installation's time zone), as the notice shows it. */
function lastVisit(at: number | undefined, timeZone: string): string | null {
  return at === undefined ? null : dateIn(at, timeZone);
}
