/**
 * The HTTP side: one Fastify app with the REST API under /api/v1, health, metrics and the OpenAPI
 * document. Request schemas are zod (the same schemas the registry uses), compiled once at boot;
 * every error leaves as `{error: {code, message, details?}}` with the right status.
 *
 * Authentication is decided by the route the router matched, never by the raw URL: the router
 * decodes percent-escapes and takes the path out of an absolute URI in the request line, so a test
 * on `req.url` and the route actually run can disagree. Every route under /api/v1 needs a principal
 * unless it is marked `config: { public: true }`; three checks stand behind that, each enough alone:
 * the onRequest hook that authenticates, a preHandler attached to each such route when it is
 * registered, and `req.principal` itself, which refuses with 401 where nobody authenticated.
 */
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { CodedHttpError, GatewayError } from '../../core/errors.js';
import { StoreUnavailableError } from '../../core/db/store.js';
import { configSchema } from '../config.js';
import type { Principal } from '../../registry/index.js';
import type { Logger } from '../../core/log.js';
import { registryRoutes } from './routes/registry.js';
import { registryIoRoutes } from './routes/registry-io.js';
import { dataRoutes } from './routes/data.js';
import { healthRoutes } from './routes/health.js';
import { AuthFailureAudit } from './auth-failures.js';
import { ProxyProtocol, readProxyHeaders } from '../proxy-protocol.js';
import type { HttpDeps, HttpServerSettings } from './deps.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; reading it where nobody authenticated throws GW_UNAUTHORIZED. */
    principal: Principal;
  }
  interface FastifyContextConfig {
    /** A route under /api/v1 that answers without a token (the OpenAPI document). */
    public?: boolean;
  }
}

export type App = FastifyInstance<any, any, any, Logger, ZodTypeProvider>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const API_PREFIX = '/api/v1';

/** How long requests in flight get to finish when the gateway stops, before their connections are closed. */
const CLOSE_GRACE_MS = 2000;

/** By the route's registered path (prefix included), as the router matched it. */
function needsPrincipal(routeUrl: string | undefined, config: { public?: boolean } | undefined): boolean {
  if (routeUrl === undefined) return false; // no route matched: the 404 handler, which reveals nothing
  return (routeUrl === API_PREFIX || routeUrl.startsWith(`${API_PREFIX}/`)) && config?.public !== true;
}

const kPrincipal = Symbol('principal');
type Authenticated = FastifyRequest & { [kPrincipal]?: Principal };

const storeUnavailable = () => new GatewayError('GW_STORE_UNAVAILABLE', '存储暂不可用，未作更改，请稍后重试 / the store is unavailable; nothing was changed, try again later');

const unauthenticated = () => new GatewayError('GW_UNAUTHORIZED', 'missing bearer token: send Authorization: Bearer <token>');

/**
 * The API docs may load only themselves: swagger-ui's page, scripts and styles are all files of its
 * own (no inline script), and it fetches the OpenAPI document and "try it out" calls from here.
 */
const DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
  + "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const DEFAULT_SERVER: HttpServerSettings = configSchema.shape.http.parse(undefined);

/** The HTTP port's PROXY protocol reader: refusals counted, and said in the log once a minute (a balancer without send-proxy refuses everyone). */
function httpProxyProtocol(deps: HttpDeps, settings: HttpServerSettings): ProxyProtocol {
  let lastWarning = 0;
  return new ProxyProtocol({
    trustedProxies: settings.trustedProxies ?? [],
    timeoutMs: settings.proxyHeaderTimeoutMs ?? 5000,
    untrusted: 'direct',
    refused: (reason, address, why) => {
      deps.metrics.httpConnectsRefused.labels(reason).inc();
      const now = Date.now();
      if (now - lastWarning < 60_000) return;
      lastWarning = now;
      deps.log.warn({ address, reason, why }, 'http connection refused: a trusted proxy (http.trustedProxies) must send a PROXY header (http.proxyProtocol); further refusals are counted in gateway_http_connections_refused_total');
    },
  });
}

export async function buildHttp(deps: HttpDeps): Promise<App> {
  const settings = deps.server ?? DEFAULT_SERVER;
  // Node refuses a headers timeout longer than the whole request's
  const headersTimeout = Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs);
  const nodeOptions = {
    requestTimeout: settings.requestTimeoutMs,
    headersTimeout,
    // Node looks for expired requests only this often (30 s by default): check often enough that a
    // slow client is cut close to its deadline, not up to a whole period after it
    connectionsCheckingInterval: Math.max(100, Math.floor(Math.min(headersTimeout, 30_000) / 4)),
  };
  const tls = settings.tls?.certFile && settings.tls.keyFile
    ? { cert: readFileSync(settings.tls.certFile), key: readFileSync(settings.tls.keyFile) }
    : undefined;

  const app = Fastify({
    loggerInstance: deps.log,
    // one log line per request would drown the ingest logs; errors are still logged
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    requestTimeout: settings.requestTimeoutMs,
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    connectionTimeout: settings.idleTimeoutMs,
    ...(tls ? { https: { ...tls, ...nodeOptions } } : { http: nodeOptions }),
  } as Parameters<typeof Fastify>[0]).withTypeProvider<ZodTypeProvider>() as unknown as App;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  if (settings.proxyProtocol === 'v1v2') readProxyHeaders(app.server, httpProxyProtocol(deps, settings));

  // first of all, so that it sees every route registered after it
  const requirePrincipal = async (req: FastifyRequest) => {
    if (!(req as Authenticated)[kPrincipal]) throw unauthenticated();
  };
  app.addHook('onRoute', (route) => {
    if (!needsPrincipal(route.url, route.config)) return;
    const own = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
    route.preHandler = [requirePrincipal, ...own];
  });

  app.decorateRequest('principal', {
    getter(this: Authenticated): Principal {
      const p = this[kPrincipal];
      // a handler reaching for the caller where nobody authenticated refuses, whatever let it run
      if (!p) throw unauthenticated();
      return p;
    },
    setter(this: Authenticated, p: Principal) { this[kPrincipal] = p; },
  });

  // A socket that connected and never sent a request (a browser's or fetch's pre-connection) is
  // not idle to Node, so server.close() would wait for its timeout (about 70 s) before the process
  // could stop. After a grace for the requests in flight, the connections left are closed.
  app.addHook('preClose', async () => {
    const timer = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
    timer.unref();
    app.server.once('close', () => clearTimeout(timer));
  });

  const failures = new AuthFailureAudit(deps.audit);
  app.addHook('onClose', async () => failures.close());
  const authenticate = (req: FastifyRequest): Principal => {
    const header = req.headers.authorization;
    if (!header) throw unauthenticated();
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const principal = match ? deps.auth.principalForToken(match[1]!) : undefined;
    if (!principal) {
      failures.failed(req.ip);
      throw new GatewayError('GW_UNAUTHORIZED', 'unknown or disabled token');
    }
    return principal;
  };
  app.addHook('onRequest', async (req) => {
    if (needsPrincipal(req.routeOptions.url, req.routeOptions.config)) req.principal = authenticate(req);
  });

  // A change is answered once it is durable (at once on SQLite; after the write-behind commit on
  // PostgreSQL), and refused before it is made while too much already waits for an unreachable store.
  const changes = (method: string) => method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
  app.addHook('preHandler', async (req) => {
    if (changes(req.method) && deps.store.saturated) throw storeUnavailable();
  });
  app.addHook('preSerialization', async (req, reply, payload) => {
    // a refusal's audit entry too (4xx); not a failure's (5xx), which must not wait for what failed
    if (changes(req.method) && reply.statusCode < 500) await deps.store.durable();
    return payload;
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Community IoT gateway API / 社区物联网网关 API', version: '1' },
      // basic: devices sending data over HTTP (protocols/http), with their id and secret
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, basic: { type: 'http', scheme: 'basic' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(async (docs) => {
    docs.addHook('onSend', async (_req, reply) => {
      reply.header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');
    });
    // without the top bar: its logo is an SVG with an inline <style> (which the policy refuses), and
    // its box loads an API description from any address; the gateway documents its own API only
    await docs.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP, uiConfig: { layout: 'BaseLayout' } });
  });
  app.get(`${API_PREFIX}/openapi.json`, { schema: { hide: true }, config: { public: true } }, async () => app.swagger());

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof StoreUnavailableError) {
      req.log.warn({ err }, 'change not made: store unavailable');
      const e = storeUnavailable();
      return reply.status(e.statusCode).send({ error: { code: e.code, message: e.message } });
    }
    if (err instanceof CodedHttpError) {
      return reply.status(err.statusCode).send({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const details = err.validation.map((v) => ({ path: `${err.validationContext ?? ''}${v.instancePath.replace(/\//g, '.')}`, message: v.message }));
      return reply.status(400).send({ error: { code: 'GW_BAD_REQUEST', message: `invalid request: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details } });
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, 'request failed');
    const code = status === 413 ? 'GW_PAYLOAD_TOO_LARGE' : status === 404 ? 'GW_NOT_FOUND' : status < 500 ? 'GW_BAD_REQUEST' : 'GW_INTERNAL';
    return reply.status(status).send({ error: { code, message: status >= 500 ? 'internal error' : (err as Error).message } });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: { code: 'GW_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } }));

  await app.register(healthRoutes(deps));
  await app.register(registryRoutes(deps), { prefix: API_PREFIX });
  await app.register(registryIoRoutes(deps), { prefix: API_PREFIX });
  await app.register(dataRoutes(deps), { prefix: API_PREFIX });
  for (const extra of deps.extraRoutes ?? []) await app.register(extra, { prefix: API_PREFIX });
  return app;
}
