/**
 * The composition root: builds every part of the gateway in order and wires them together.
 * `main.ts` listens and handles signals; tests call `startGateway` with ephemeral ports.
 * Order matters: the store and time-series writer are ready before the broker accepts a
 * connection, and on close the broker stops accepting before the writer flushes.
 */
import { mkdirSync } from 'node:fs';
import type { Config } from './config.js';
import { createLogger, type Logger } from '../core/log.js';
import { createMetrics, type Metrics } from '../core/metrics.js';
import { openDatabase, type Db } from '../core/db/sqlite.js';
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
import { createAlerts, systemClock, type Alerts, type Clock } from '../alerts/index.js';
import { consolePlugin } from '../dashboards/console/plugin.js';
import { StreamGate } from '../core/streams.js';

export interface Gateway {
  config: Config;
  log: Logger;
  metrics: Metrics;
  db: Db;
  registry: Registry;
  presence: Presence;
  writer: TimeSeriesWriter;
  deadLetters: DeadLetterStore;
  pipeline: IngestPipeline;
  broker: Broker;
  alerts: Alerts;
  http: App;
  /** Set only on the first start without ADMIN_TOKEN: the generated admin token, to show once. */
  generatedAdminToken?: string;
  /** Actual ports (useful when configured as 0). */
  ports(): { mqtt: number; http: number; mqtts?: number };
  close(): Promise<void>;
}

export interface GatewayOptions {
  log?: Logger;
  /** The time alert rules, deadlines and schedules run on (tests pass a ManualClock). */
  clock?: Clock;
}

export async function startGateway(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.log ?? createLogger(config.logLevel);
  const metrics = createMetrics();
  mkdirSync(config.dataDir, { recursive: true });
  const db = openDatabase(config.dataDir, 'gateway.sqlite');
  const audit = new AuditLog(db);
  const registry = new Registry(db, audit);
  seedRegistry(registry, config.seed, log);
  const admin = resolveAdminToken(db, config.adminToken);

  const clock = opts.clock ?? systemClock;
  // presence is the one record of when a device last sent data, and the offline rule reads it: same clock as the alerts
  const presence = new Presence(db, config.presence.persistIntervalMs, () => clock.now());
  const deadLetters = new DeadLetterStore(db, config.ingest.deadLetterCap, (n) => metrics.deadLettersDropped.inc(n));
  const writer = await createWriter(config, log, metrics);
  await writer.start();

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
  }, (fn) => db.transaction(fn)(), (err, what) => log.error({ err }, what));
  pipeline.onAccepted(presence.onAccepted);
  presence.start();

  // every event stream (queue streams, the console's feed) is counted per account, and ends when the account is revoked
  const streams = new StreamGate(config.http.streamsPerAccount);
  const endStreams = (accountId: string) => {
    const n = streams.revoke(accountId);
    if (n > 0) log.info({ accountId, streams: n }, 'account revoked: its open streams ended');
  };
  registry.on('accountRevoked', endStreams);
  const alerts = createAlerts({ config: config.alerts, db, registry, audit, metrics, log, clock, presence, streams });
  pipeline.onAccepted(alerts.onAccepted);

  const broker = new Broker({ config, db, log, metrics, registry, presence, pipeline, audit, onQueueSubscribe: (p, queue) => alerts.queueRead(p, queue, 'mqtt') });
  await broker.start();
  // after the broker, so that alerts raised by restored timers can be published
  alerts.attachBroker(broker);
  alerts.start();

  const http = await buildHttp({
    log, metrics, registry, presence, deadLetters, writer, audit,
    extraRoutes: [alerts.routes],
    server: config.http,
    auth: { principalForToken: (token) => (isAdminToken(token, admin.hash) ? ADMIN_PRINCIPAL : registry.principalForToken(token)) },
    ready: () => [
      { name: 'broker', ok: !broker.aedes.closed },
      { name: 'store', ok: db.open },
    ],
  });
  // the operator console: its page at `/` (public, holds no data) and its live feed under /api/v1/console
  await http.register(consolePlugin({ alerts, streams }));
  broker.attachWebSocket(http.server);
  await http.listen({ port: config.http.port, host: config.http.host });

  let closed = false;
  const gateway: Gateway = {
    config, log, metrics, db, registry, presence, writer, deadLetters, pipeline, broker, alerts, http,
    ...(admin.generated ? { generatedAdminToken: admin.generated } : {}),
    ports: () => ({ ...broker.ports(), http: (http.server.address() as { port: number }).port }),
    async close() {
      if (closed) return;
      closed = true;
      await broker.close();
      registry.off('accountRevoked', endStreams);
      // before the HTTP server: it would wait for the open event streams
      await alerts.stop();
      await http.close();
      presence.stop();
      await writer.close();
      db.close();
    },
  };
  log.info({ ...gateway.ports(), dataDir: config.dataDir, timeseries: writer.backend }, 'gateway started');
  return gateway;
}
