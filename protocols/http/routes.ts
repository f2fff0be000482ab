/**
 * The HTTP device API (SPEC 12), for devices that cannot do MQTT: `POST /api/v1/devices/{id}/telemetry`
 * and `/events` with the same payloads as MQTT and `Authorization: Basic base64(deviceId:secret)`.
 *
 * The same contract as a publish: the kind's schema, dead letters and `devices/{id}/errors` for what
 * is rejected, and 200 only once the message is durable (a device that gets no 200 resends). Logins
 * share the MQTT slow-down and the per-device rate limit, so a second protocol buys neither fresh
 * guesses nor a second budget.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CodedHttpError, GatewayError } from '../../core/errors.js';
import type { DeviceIngress } from '../ingress.js';

export interface HttpDeviceDeps {
  ingress: DeviceIngress;
  /** Checks a device secret under the login slow-down (gateway/broker/login.ts). */
  checkSecret(address: string, id: string, secret: string): Promise<{ ok: true } | { ok: false; reason: 'unknown_device' | 'bad_secret' | 'disabled' | 'throttled' }>;
  /** 0 when the device may send now; else the ms until it may (the MQTT per-device rate limit). */
  rateLimitWait(id: string): number;
  /** A body above this is refused with 413 before it is read (the pipeline's own limit, `ingest.maxPayloadBytes`, is below it and gives a dead letter). */
  bodyLimit: number;
}

/** Nothing in the message was stored: every object was rejected (each one a dead letter, listed in `details`). */
const rejected = (message: string, details: unknown) => new CodedHttpError('INGEST_REJECTED', 400, message, details);

const params = z.object({ id: z.string().min(1).max(128) });
const BASIC = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i;

function credentials(req: FastifyRequest): { id: string; secret: string } | undefined {
  const match = BASIC.exec(req.headers.authorization ?? '');
  if (!match) return undefined;
  const text = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon <= 0 ? undefined : { id: text.slice(0, colon), secret: text.slice(colon + 1) };
}

function unauthorized(reply: FastifyReply, message: string): GatewayError {
  reply.header('www-authenticate', 'Basic realm="devices", charset="UTF-8"');
  return new GatewayError('GW_UNAUTHORIZED', message);
}

export function httpDeviceRoutes(deps: HttpDeviceDeps): FastifyPluginAsync {
  return async (app) => {
    // the payload is the device's bytes, checked by the pipeline like an MQTT payload (not JSON, too deep…), whatever its content type says
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.bodyLimit }, (_req, body, done) => done(null, body));
    for (const builtIn of ['application/json', 'text/plain']) {
      app.addContentTypeParser(builtIn, { parseAs: 'buffer', bodyLimit: deps.bodyLimit }, (_req, body, done) => done(null, body));
    }
    const r = app.withTypeProvider<ZodTypeProvider>();
    for (const [path, channel] of [['telemetry', 'telemetry'], ['events', 'event']] as const) {
      r.post(`/devices/:id/${path}`, {
        // authenticated here, by the device's own secret, not by an account's bearer token
        config: { public: true },
        schema: {
          tags: ['devices'], summary: `A device sends ${path} over HTTP (Basic auth: device id and secret); 200 once stored`,
          params, security: [{ basic: [] }],
        },
      }, async (req, reply) => {
        const given = credentials(req);
        if (!given) throw unauthorized(reply, '缺少设备凭据 / missing device credentials: send Authorization: Basic base64(deviceId:secret)');
        if (given.id !== req.params.id) throw new GatewayError('GW_FORBIDDEN', `设备只能为自己发送数据 / a device sends only its own data: the credentials are for ${given.id}, not ${req.params.id}`);
        const check = await deps.checkSecret(req.ip, given.id, given.secret);
        if (!check.ok) {
          if (check.reason === 'throttled') {
            reply.header('retry-after', '60');
            throw new GatewayError('GW_RATE_LIMITED', '登录失败次数过多，请稍后再试 / too many failed logins; try again later');
          }
          if (check.reason === 'disabled') throw new GatewayError('GW_FORBIDDEN', '设备已停用 / this device is disabled');
          throw unauthorized(reply, '设备编号或密钥错误 / unknown device or wrong secret');
        }
        const device = deps.ingress.byId(given.id);
        if (!device) throw unauthorized(reply, '设备编号或密钥错误 / unknown device or wrong secret');
        const wait = deps.rateLimitWait(device.id);
        if (wait > 0) {
          deps.ingress.count('http', 'throttled');
          reply.header('retry-after', String(Math.ceil(wait / 1000)));
          throw new GatewayError('GW_RATE_LIMITED', `超过设备发送速率限制，请 ${Math.ceil(wait / 1000)} 秒后重发 / over the device's message rate; resend after ${Math.ceil(wait / 1000)} s`);
        }
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const result = await deps.ingress.submitPayload(device, channel, body, 'http').catch(() => {
          // not stored: the device keeps the message and resends it, as an MQTT device does without its PUBACK
          throw new GatewayError('GW_STORE_UNAVAILABLE', '存储暂不可用，数据未存储，请重发 / the store is unavailable; nothing was stored, resend later');
        });
        const shown = result.rejections.map(({ reason, message, issues, index }) => ({ reason, message, issues, ...(index === undefined ? {} : { index }) }));
        if (result.accepted === 0 && shown.length > 0) {
          throw rejected(`数据未存储，原因见 details（已记入死信）/ nothing stored: ${shown[0]!.message}${shown.length > 1 ? ` (and ${shown.length - 1} more)` : ''}`, shown);
        }
        return { accepted: result.accepted, rejected: shown };
      });
    }
  };
}
