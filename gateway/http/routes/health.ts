/** Liveness, readiness and Prometheus metrics (unauthenticated: no secrets, meant for the operator's network). */
import type { FastifyPluginAsync } from 'fastify';
import type { HttpDeps } from '../deps.js';

export function healthRoutes(deps: HttpDeps): FastifyPluginAsync {
  return async (app) => {
    app.get('/healthz', { schema: { tags: ['health'], security: [] } }, async () => ({ status: 'ok' }));

    app.get('/readyz', { schema: { tags: ['health'], security: [] } }, async (_req, reply) => {
      const w = deps.writer.health();
      const checks = [...deps.ready(), { name: `timeseries:${w.backend}`, ok: w.ok, detail: w.lastError ?? `${w.pendingPoints} points pending` }];
      const ok = checks.every((c) => c.ok);
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
    });

    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
      const w = deps.writer.health();
      deps.metrics.pointsBuffered.set(w.pendingPoints);
      return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    });
  };
}
