/** What the HTTP routes are given by the composition root. */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Registry } from '../registry/registry.js';
import type { Presence } from '../presence.js';
import type { Principal } from '../access.js';
import type { DeadLetterStore } from '../../ingest/dead-letters.js';
import type { TimeSeriesWriter } from '../../ingest/writers/writer.js';
import type { AuditLog } from '../audit.js';

export interface HttpDeps {
  log: Logger;
  metrics: Metrics;
  registry: Registry;
  presence: Presence;
  deadLetters: DeadLetterStore;
  writer: TimeSeriesWriter;
  audit: AuditLog;
  auth: { principalForToken(token: string): Principal | undefined };
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
}
