/**
 * The alerts capability: rules over accepted data, the alert ledger, the responsibility list, the
 * agency queues and their delivery (MQTT, HTTP pull, SSE, webhooks), escalation and schedules.
 * `openAlerts` builds it; the composition root feeds it the ingest pipeline's accepted batches,
 * gives it the broker to publish on, and mounts its routes. Every committed change of an alert is
 * announced once to `onChange` listeners (changes.ts).
 */
import cron from 'node-cron';
import type { FastifyPluginAsync } from 'fastify';
import type { Database, Notice } from '../core/db/store.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { AuditLog } from '../core/audit.js';
import type { Registry } from '../registry/index.js';
import type { StreamGate } from '../core/streams.js';
import type { Accepted, Presence } from '../ingest/index.js';
import type { AlertsConfig } from './config.js';
import { systemClock, type Clock } from '../core/clock.js';
import { TimerHeap } from './heap.js';
import { AlertLedger } from './ledger.js';
import { QueueLog } from './queues.js';
import { AlertService } from './service.js';
import { RuleEngine, RULE_STATE_MIGRATIONS, type ClusterView, type MaintenanceRecord, type RuleStateTables } from './rules/engine.js';
import { MqttDelivery, type MqttPublisher } from './delivery/mqtt.js';
import { QueueStreams } from './delivery/sse.js';
import { WebhookDelivery } from './delivery/webhooks.js';
import { alertRoutes } from './routes.js';
import { createAlertMetrics } from './metrics.js';
import { QueueReadAudit } from './queue-reads.js';
import type { AlertChangeListener } from './changes.js';
import { AlertFacts } from './facts.js';
import { TestModes, testModeRoutes } from './test-mode.js';

export { alertsConfigSchema, type AlertsConfig } from './config.js';
export { ManualClock, systemClock, type Clock } from '../core/clock.js';
export { ALERT_TYPES, SEVERITIES, type AlertType, type Severity } from './catalog.js';
export type { Alert, AlertState, Action } from './model.js';
export type { Parties } from './service.js';
export type { MaintenanceRecord } from './rules/engine.js';
export type { QueueMessage, QueueEvent } from './queues.js';
export type { AlertChange, AlertChangeKind, AlertChangeListener, QueueDelivery } from './changes.js';
export { QUEUE_READ_AUDIT_WINDOW_MS } from './queue-reads.js';
export { signature as webhookSignature } from './delivery/webhooks.js';
export { alertTopic } from './delivery/mqtt.js';
export { AlertFacts, type AlertFact, type FactFilter } from './facts.js';

export interface AlertsDeps {
  config: AlertsConfig;
  db: Database;
  registry: Registry;
  audit: AuditLog;
  metrics: Metrics;
  log: Logger;
  clock?: Clock | undefined;
  /**
   * When each device last sent valid data: the offline rule reads it here rather than keeping its
   * own. It must run on the same clock as `clock`.
   */
  presence: Pick<Presence, 'get'>;
  /** Open streams per account, shared with the console's feed; the composition root ends a revoked account's streams through it. */
  streams?: StreamGate | undefined;
  /**
   * Cluster mode (docs/cluster.md): which devices are connected here, how late the leader may raise
   * an offline alert, and whether this node starts as the leader (false: it waits for `setLeading`).
   */
  cluster?: ClusterView | undefined;
}

export interface Alerts {
  readonly clock: Clock;
  readonly service: AlertService;
  readonly ledger: AlertLedger;
  readonly queues: QueueLog;
  readonly engine: RuleEngine;
  /** A period's alerts as the supervision figures read them (facts.ts). */
  readonly facts: AlertFacts;
  /** Ingest listener: accepted readings and events, after they are stored. */
  readonly onAccepted: (items: readonly Accepted[]) => void;
  /** Records an authority reading its queue (the audit is folded per account and queue: queue-reads.ts). */
  readonly queueRead: QueueReadAudit['record'];
  /** Hears every change of every alert once, after its commit (changes.ts); returns the unsubscribe. */
  onChange(listener: AlertChangeListener): () => void;
  /** Fastify plugin for /api/v1. */
  readonly routes: FastifyPluginAsync;
  /** Publishes queue messages on `alerts/{queue}`. */
  attachBroker(broker: MqttPublisher): void;
  /** Restores state and starts the timers, schedules and webhooks. */
  start(): void;
  /** Runs due timers now (also runs on its own every `tickMs`, and whenever a manual clock moves). */
  tick(): void;
  /** Runs the inspection and maintenance checks now (also runs per `schedules.cron`). */
  runSchedules(): void;
  /** Where the valid maintenance visits are kept (supervision): the 15-day check counts only those. */
  useMaintenanceRecord(record: MaintenanceRecord): void;
  /** A valid maintenance visit was recorded for the elevator: its maintenance check runs again now. */
  maintenanceVisited(deviceId: string): void;
  /**
   * Cluster mode: this node takes or gives up the cluster-wide timers (deadlines and escalation,
   * verify windows, offline checks, the daily schedules, webhooks, queue pruning). The embedded
   * mode leads from `start`.
   */
  setLeading(leading: boolean): void;
  /** Another node's committed change (cluster mode). */
  onNotice(notice: Notice): Promise<void>;
  /** A device logs in on this node (cluster mode): its rule state is read from the store first. */
  adoptDevice(deviceId: string): Promise<void>;
  /** Devices other nodes heard from (the leader's offline watch). */
  seen(deviceIds: Iterable<string>): void;
  /** Reads the active alerts again (a commit was refused, or notices were missed). */
  resync(): Promise<void>;
  stop(): Promise<void>;
}

export async function openAlerts(deps: AlertsDeps): Promise<Alerts> {
  const { config, db, log } = deps;
  const clock = deps.clock ?? systemClock;
  const heap = new TimerHeap();
  const onError = (err: unknown, what: string) => log.error({ err }, what);
  const ledger = await AlertLedger.open(db, onError);
  const queues = await QueueLog.open(db, onError);
  const ruleStore = db.store<RuleStateTables>();
  await ruleStore.migrate('alert-rules', RULE_STATE_MIGRATIONS);
  const sse = new QueueStreams(queues, { heartbeatMs: config.sse.heartbeat, maxPending: config.sse.maxPending, pageLimit: config.queues.pageLimit }, deps.streams);
  const reads = new QueueReadAudit(deps.audit, clock);
  let mqtt: MqttDelivery | undefined;
  // the gauges read their sources at scrape time, when everything below exists
  const metrics = createAlertMetrics(deps.metrics.registry, {
    activeAlerts: () => { let n = 0; for (const _ of ledger.activeAlerts()) n++; return n; },
    queueHeads: () => queues.headsSeen(),
    webhookLag: () => webhooks.lag(),
    sseClients: () => sse.size,
  });
  const service = new AlertService({ store: ruleStore, ledger, queues, audit: deps.audit, config, clock, heap, log });
  ledger.onChange((c) => {
    if (c.kind === 'raised') metrics.raised.labels(c.alert.type, c.alert.severity).inc();
    else if (c.kind === 'escalated' && c.reason) metrics.escalated.labels(c.reason).inc();
  });
  const engine = new RuleEngine({ store: ruleStore, registry: deps.registry, service, heap, clock, config, log, presence: deps.presence, cluster: deps.cluster });
  // fire devices' test mode: its end is a timer in the same heap, on the same clock, run by the leader
  const testModes = new TestModes({ registry: deps.registry, heap, clock, isLeading: () => service.isLeading, log });
  const routes = alertRoutes({ service, ledger, queues, sse, config, reads, siteName: (id) => deps.registry.getSite(id)?.name });
  const testModeApi = testModeRoutes(testModes);
  // a cluster node leads only once elected (setLeading); the embedded gateway is its own leader
  if (deps.cluster) service.setLeading(false);
  await engine.load();
  const webhooks = await WebhookDelivery.open(db, queues, config.webhooks, log, {
    delivered: (id) => metrics.webhookDelivered.labels(id).inc(),
    failed: (id) => metrics.webhookFailed.labels(id).inc(),
  }, { audit: deps.audit });
  queues.onMessage(sse.onMessage);
  queues.onMessage(webhooks.onMessage);

  const timers: NodeJS.Timeout[] = [];
  const tasks: Array<{ destroy(): void | Promise<void> }> = [];
  let unsubscribeClock: (() => void) | undefined;
  let started = false;
  let leaderDuties = false;
  const safely = (what: string, fn: () => void) => () => {
    try { fn(); } catch (err) { log.error({ err }, what); }
  };
  const onDeviceChanged = (device: Parameters<RuleEngine['deviceChanged']>[0]) => {
    if (started) safely('alert rules: device change failed', () => engine.deviceChanged(device))();
    if (started) testModes.deviceChanged(device);
  };
  const daily = safely('alert schedules failed', () => {
    engine.runSchedules();
    queues.prune(clock.now() - config.queues.retentionDays * 86_400_000, (pruned) => {
      if (pruned > 0) log.info({ pruned }, 'old alert queue messages deleted');
    });
  });

  /** The leader's own work beyond the timers in the heap: the daily schedules and the webhooks. */
  const startLeaderDuties = () => {
    if (leaderDuties) return;
    leaderDuties = true;
    const task = cron.schedule(config.schedules.cron, daily, { timezone: config.schedules.timezone, name: 'alert-schedules', noOverlap: true });
    tasks.push(task);
    if (config.schedules.runAtStart) daily();
    webhooks.start();
  };
  const stopLeaderDuties = async () => {
    if (!leaderDuties) return;
    leaderDuties = false;
    // destroy, not stop: node-cron keeps every task in a process-wide registry until destroyed
    for (const t of tasks) await t.destroy();
    tasks.length = 0;
    await webhooks.close();
  };

  const takeRemote = (changed: ReadonlyArray<{ before: Readonly<import('./model.js').Alert> | undefined; after: Readonly<import('./model.js').Alert> | undefined }>) => {
    for (const { before, after } of changed) {
      service.remoteChanged(before, after);
      const a = after ?? before;
      if (a) engine.remoteAlert(a, after !== undefined && ledger.getActive(after.id) !== undefined);
    }
  };

  const alerts: Alerts = {
    clock, service, ledger, queues, engine, facts: new AlertFacts(db),
    onAccepted: engine.onAccepted,
    onChange: (listener) => ledger.onChange(listener),
    routes: async (app, opts) => {
      await routes(app, opts);
      await testModeApi(app, opts);
    },
    queueRead: (p, queue, via, cursors) => reads.record(p, queue, via, cursors),
    attachBroker(broker) {
      mqtt = new MqttDelivery(broker, log);
      queues.onMessage(mqtt.onMessage);
    },
    start() {
      service.start();
      engine.start();
      testModes.scheduleAll();
      started = true;
      deps.registry.on('deviceChanged', onDeviceChanged);
      timers.push(setInterval(safely('alert timers failed', () => engine.tick()), config.tickMs));
      for (const t of timers) t.unref();
      unsubscribeClock = clock.onAdvance?.(safely('alert timers failed', () => engine.tick()));
      if (service.isLeading) startLeaderDuties();
      engine.tick();
    },
    setLeading(leading) {
      if (leading === service.isLeading) return;
      service.setLeading(leading);
      if (leading) {
        engine.watchAll();
        testModes.scheduleAll();
        if (started) startLeaderDuties();
        safely('alert timers failed', () => engine.tick())();
      } else {
        void stopLeaderDuties();
      }
    },
    async onNotice(notice) {
      if (notice.topic === 'resync') return alerts.resync();
      if (notice.topic === 'alerts') {
        takeRemote(await ledger.refresh(notice.ids.map(Number).filter(Number.isSafeInteger)));
      } else if (notice.topic === 'queues') {
        for (const q of notice.ids) {
          // MQTT subscribers had the message from the appending node (through Redis); streams and webhooks here read it
          await sse.catchUp(q);
          webhooks.wake(q);
        }
      }
    },
    adoptDevice: (deviceId) => engine.adopt(deviceId),
    seen: (deviceIds) => engine.seen(deviceIds),
    async resync() {
      takeRemote(await ledger.reloadActive());
    },
    tick: () => engine.tick(),
    runSchedules: () => engine.runSchedules(),
    useMaintenanceRecord: (record) => engine.useMaintenanceRecord(record),
    maintenanceVisited: (deviceId) => safely('maintenance check failed', () => engine.maintenanceVisited(deviceId))(),
    async stop() {
      started = false;
      deps.registry.off('deviceChanged', onDeviceChanged);
      for (const t of timers) clearInterval(t);
      timers.length = 0;
      unsubscribeClock?.();
      sse.close();
      mqtt?.close();
      await stopLeaderDuties();
      engine.flush();
    },
  };
  return alerts;
}
