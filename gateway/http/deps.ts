/** What the HTTP routes are given by the composition root. */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { Registry } from '../../registry/index.js';
import type { Presence } from '../../ingest/index.js';
import type { Principal } from '../../registry/index.js';
import type { DeadLetterStore } from '../../ingest/index.js';
import type { TimeSeriesWriter } from '../../ingest/index.js';
import type { AuditLog } from '../../core/audit.js';
import type { SiteHandovers } from '../../supervision/index.js';

export interface HttpDeps {
  log: Logger;
  metrics: Metrics;
  registry: Registry;
  presence: Presence;
  deadLetters: DeadLetterStore;
  writer: TimeSeriesWriter;
  audit: AuditLog;
  /** Site handovers and maintenance unit changes: open alerts move with them. */
  handovers: Pick<SiteHandovers, 'handOver' | 'cancel' | 'unitChanged'>;
  auth: { principalForToken(token: string): Principal | undefined };
  /** Changes are answered once durable, and refused (503) while the store cannot take them. */
  store: { durable(): Promise<void> | undefined; readonly saturated: boolean };
  /** Readiness checks beyond the writer (broker listening, store open). */
  ready: () => Array<{ name: string; ok: boolean; detail?: string }>;
  /** Routes other capabilities add (alerts, queues), registered under /api/v1. */
  extraRoutes?: FastifyPluginAsync[];
  /** Timeouts and TLS (the `http` settings); unset: the settings' defaults, in clear. */
  server?: HttpServerSettings | undefined;
}

export interface HttpServerSettings {
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  idleTimeoutMs: number;
  tls?: { certFile?: string | undefined; keyFile?: string | undefined } | undefined;
  /** The PROXY protocol from trusted balancers (gateway/proxy-protocol.ts `readProxyHeaders`); unset: off. */
  proxyProtocol?: 'off' | 'v1v2' | undefined;
  trustedProxies?: readonly string[] | undefined;
  proxyHeaderTimeoutMs?: number | undefined;
}
