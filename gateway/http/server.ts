/**
 * The HTTP side: one Fastify app with the REST API under /api/v1, health, metrics and the OpenAPI
 * document. Request schemas are zod (the same schemas the registry uses), compiled once at boot;
 * every error leaves as `{error: {code, message, details?}}` with the right status.
 */
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { CodedHttpError, GatewayError } from '../errors.js';
import type { Principal } from '../access.js';
import type { Logger } from '../log.js';
import { registryRoutes } from './routes/registry.js';
import { dataRoutes } from './routes/data.js';
import { healthRoutes } from './routes/health.js';
import type { HttpDeps } from './deps.js';

declare module 'fastify' {
  interface FastifyRequest { principal: Principal }
}

export type App = FastifyInstance<any, any, any, Logger, ZodTypeProvider>; // eslint-disable-line @typescript-eslint/no-explicit-any

export async function buildHttp(deps: HttpDeps): Promise<App> {
  const app = Fastify({
    loggerInstance: deps.log,
    // one log line per request would drown the ingest logs; errors are still logged
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
  }).withTypeProvider<ZodTypeProvider>() as unknown as App;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(swagger, {
    openapi: {
      info: { title: 'Community IoT gateway API / 社区物联网网关 API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.decorateRequest('principal', null as unknown as Principal);
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/api/v1/') || req.url === '/api/v1/openapi.json') return;
    req.principal = authenticate(req, deps);
  });

  app.setErrorHandler((err, req, reply) => {
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
  await app.register(registryRoutes(deps), { prefix: '/api/v1' });
  await app.register(dataRoutes(deps), { prefix: '/api/v1' });
  for (const extra of deps.extraRoutes ?? []) await app.register(extra, { prefix: '/api/v1' });
  return app;
}

function authenticate(req: FastifyRequest, deps: HttpDeps): Principal {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!match) throw new GatewayError('GW_UNAUTHORIZED', 'missing bearer token: send Authorization: Bearer <token>');
  const principal = deps.auth.principalForToken(match[1]!);
  if (!principal) throw new GatewayError('GW_UNAUTHORIZED', 'unknown or disabled token');
  return principal;
}
