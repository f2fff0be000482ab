/**
 * The NB-IoT platform push endpoints (registered under /api/v1 by protocols/index.ts):
 * - `GET|POST /ingest/onenet/:instance`: OneNET legacy and Studio (URL check and pushes);
 * - `POST /ingest/ctwing/:instance?token=…`: CTWing/AEP subscriptions; `GET` answers 200.
 * They authenticate by signature or URL secret themselves, so they are public to the bearer check.
 *
 * Answers, and why (research notes §1.4, §2.4, §3.4, §4):
 * - 404: no such instance; not a push we know (nothing to disable: it is misconfigured anyway).
 * - 200 for everything we will never take, however often it is re-sent: a bad signature or wrong
 *   CTWing token (counted, a dead letter, a warning at most once a minute: a wrong token in our
 *   config must be loud here, not make the carrier disable the push after 2000 failures), an
 *   unknown IMEI, an undecodable payload, a duplicate, a message type we do not use.
 * - 503 when the store did not take valid data (`ingress.submit` rejected), or has not within
 *   `answerWithinMs` (OneNET waits 5 s): the platform retries. That is safe for a short outage:
 *   Studio retries 16 times over 2 h 45 min, legacy OneNET stops a push only after 2000 failures
 *   or 24 h of failing, CTWing retries 3 times and pauses a receiver for one minute only after 100
 *   failures in a row; whereas answering 200 would lose the reading for sure. A retry of data that
 *   was stored after all is dropped as a duplicate.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../core/log.js';
import type { DeviceIngress, FieldDevice, FieldProtocol, ProtocolRejection } from '../ingress.js';
import type { ModelDecoder, NbiotSettings } from './config.js';
import { decodeReport, resolveModels } from './decoders.js';
import { BoundedMap, Dedupe } from './dedupe.js';
import { ctwingMessages, tokenMatches } from './ctwing.js';
import type { PlatformMessage } from './messages.js';
import { onenetMessages, parseEnvelope, rawQuery, verifyHandshake, verifyOnenetSignature } from './onenet.js';

export interface NbiotDeps {
  ingress: DeviceIngress;
  settings: NbiotSettings;
  log: Logger;
  now?: () => number;
}

type Platform = Extract<FieldProtocol, 'onenet' | 'ctwing'>;
type DataMessage = Extract<PlatformMessage, { type: 'data' }>;

const WARN_EVERY_MS = 60_000;
const TEXT = 'text/plain; charset=utf-8';

function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** The adapter's state (dedupe, aliases, warnings) and its handling of decoded platform messages. */
export class NbiotAdapter {
  readonly dedupe: Dedupe;
  /** `platform:platform-device-id` → IMEI, learnt from data reports, for online/offline messages without an IMEI. */
  private readonly aliases: BoundedMap<string>;
  private readonly models: ReadonlyMap<string, ModelDecoder>;
  private readonly now: () => number;
  private readonly lastWarning = new Map<string, number>();

  constructor(private readonly deps: NbiotDeps) {
    this.now = deps.now ?? Date.now;
    this.dedupe = new Dedupe(deps.settings.dedupeWindowMs, deps.settings.maxDedupeEntries);
    this.aliases = new BoundedMap(deps.settings.maxAliases);
    this.models = resolveModels(deps.settings);
  }

  /** A warning of this kind at most once a minute (the rest are counted in the metrics). */
  warn(kind: string, fields: Record<string, unknown>, message: string): void {
    const now = this.now();
    if (now - (this.lastWarning.get(kind) ?? -Infinity) < WARN_EVERY_MS) return;
    this.lastWarning.set(kind, now);
    this.deps.log.warn(fields, message);
  }

  /** A dead letter, counted by the ingress as the reason (`bad_signature`, `unknown_device`, `undecodable`, `bad_frame`). */
  reject(r: ProtocolRejection): void {
    this.deps.ingress.reject(r);
  }

  badSignature(protocol: Platform, instance: string, source: string, raw: string, what: string): void {
    this.reject({
      protocol, reason: 'bad_signature', raw, source,
      message: `${what}：请核对平台与网关配置中的 token / ${what}: check that the platform and protocols.nbiot.${protocol}.${instance} have the same token`,
    });
    this.warn(`bad_signature:${protocol}`, { protocol, instance, source }, `NB-IoT ${protocol} push refused (${what}); answered 200 so the platform keeps the push enabled; further ones are counted as bad_signature dead letters`);
  }

  /** Handles the messages of one push; the HTTP status to answer (200, or 503: retry). */
  async deliver(protocol: Platform, source: string, messages: readonly PlatformMessage[]): Promise<200 | 503> {
    const jobs: Promise<boolean>[] = [];
    for (const m of messages) {
      switch (m.type) {
        case 'ignored': this.deps.ingress.count(protocol, 'ignored'); break;
        case 'undecodable': this.reject({ protocol, reason: 'undecodable', message: m.message, raw: m.raw, source }); break;
        case 'status': this.status(protocol, m.imei, m.alias, m.online); break;
        case 'data': {
          const job = this.data(protocol, source, m);
          if (job) jobs.push(job);
          break;
        }
      }
    }
    if (jobs.length === 0) return 200;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => { timer = setTimeout(resolve, this.deps.settings.answerWithinMs, false); });
    const ok = await Promise.race([Promise.all(jobs).then((r) => r.every(Boolean)), late]);
    clearTimeout(timer);
    return ok ? 200 : 503;
  }

  private status(protocol: Platform, imei: string | undefined, alias: string | undefined, online: boolean): void {
    const known = imei ?? (alias === undefined ? undefined : this.aliases.get(`${protocol}:${alias}`));
    const device = known === undefined ? undefined : this.deps.ingress.byImei(known);
    if (!device) { this.deps.ingress.count(protocol, 'ignored'); return; }
    // a sleeping NB device (PSM) goes "offline" between reports: normal, never an alert
    if (!online) { this.deps.ingress.count(protocol, 'offline'); return; }
    this.deps.ingress.heartbeat(device, protocol); // counted there as `heartbeat`
  }

  /** Undefined when settled here (duplicate, dead letter, heartbeat); else the delivery (true: durable). */
  private data(protocol: Platform, source: string, m: DataMessage): Promise<boolean> | undefined {
    const { ingress } = this.deps;
    const now = this.now();
    if (m.keys.some((k) => this.dedupe.has(k, now))) { ingress.count(protocol, 'duplicate'); return undefined; }
    for (const k of m.keys) {
      const pending = this.dedupe.inflight.get(k);
      if (pending) { ingress.count(protocol, 'duplicate'); return pending as Promise<boolean>; }
    }
    if (m.imei !== undefined && m.alias !== undefined) this.aliases.set(`${protocol}:${m.alias}`, m.imei);
    const device = m.imei === undefined ? undefined : ingress.byImei(m.imei);
    if (!device) {
      const message = m.imei === undefined
        ? '消息中没有 IMEI，无法对应设备 / the message carries no IMEI: no device to match'
        : `没有登记 IMEI 为 ${m.imei} 的设备：请在设备登记中填写 IMEI / no registered device has IMEI ${m.imei}: set imei on the device`;
      this.reject({ protocol, reason: 'unknown_device', message, raw: m.raw, source });
      return undefined;
    }
    const model = device.model === undefined ? undefined : this.models.get(device.model);
    if (!model) {
      this.reject({
        protocol, reason: 'undecodable', raw: m.raw, source, deviceId: device.id,
        message: device.model === undefined
          ? `设备 ${device.id} 没有登记型号，无法选择 NB-IoT 解码器 / device ${device.id} has no model: no NB-IoT decoder to use`
          : `型号 ${device.model} 没有 NB-IoT 解码器（protocols.nbiot.models）/ model ${device.model} has no NB-IoT decoder (protocols.nbiot.models)`,
      });
      return undefined;
    }
    const decoded = decodeReport(model, device.kind, m.report);
    if (!decoded.ok) {
      this.reject({ protocol, reason: 'undecodable', message: `型号 ${device.model}: ${decoded.message}`, raw: m.raw, source, deviceId: device.id });
      return undefined;
    }
    if (decoded.telemetry.length === 0 && decoded.events.length === 0) {
      ingress.heartbeat(device, protocol); // counted there as `heartbeat`
      return undefined;
    }
    // started on the next tick, so that `inflight` holds it before it can settle
    const job = Promise.resolve().then(() => this.submit(protocol, device, decoded.telemetry, decoded.events, m.keys));
    for (const k of m.keys) this.dedupe.inflight.set(k, job);
    return job;
  }

  private async submit(protocol: Platform, device: FieldDevice, telemetry: Record<string, unknown>[], events: Record<string, unknown>[], keys: readonly string[]): Promise<boolean> {
    const { ingress } = this.deps;
    try {
      // the reading first: an alarm's details quote the detector's last reading
      if (telemetry.length > 0) await ingress.submit(device, 'telemetry', telemetry, protocol);
      if (events.length > 0) await ingress.submit(device, 'event', events, protocol);
      const now = this.now();
      for (const k of keys) this.dedupe.remember(k, now);
      return true; // `accepted` and `rejected` objects are counted by submit
    } catch (err) {
      this.warn(`store:${protocol}`, { protocol, deviceId: device.id, err: (err as Error).message }, 'NB-IoT push not stored (the store did not take it): answered 503, the platform retries');
      return false;
    } finally {
      for (const k of keys) this.dedupe.inflight.delete(k);
    }
  }
}

/** The push routes, with the raw-body parsing they need (kept to this plugin by Fastify's encapsulation). */
export function nbiotRoutes(deps: NbiotDeps): FastifyPluginAsync {
  return async (app) => {
    const adapter = new NbiotAdapter(deps);
    const { settings } = deps;
    // the raw text, whatever the content type says: the legacy signature covers the msg text as sent
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: settings.bodyLimitBytes }, (_req, body, done) => done(null, body));

    const routeOptions = (summary: string) => ({ bodyLimit: settings.bodyLimitBytes, config: { public: true }, schema: { tags: ['nbiot'], summary, security: [] } });
    const text = (reply: FastifyReply, status: number, body: string) => reply.code(status).type(TEXT).send(body);
    const notFound = (reply: FastifyReply, what: string) => text(reply, 404, `未配置的推送实例 ${what} / no such push instance: ${what}`);
    const instanceOf = (req: FastifyRequest) => (req.params as { instance: string }).instance;
    const bodyOf = (req: FastifyRequest) => (typeof req.body === 'string' ? req.body : '');

    /** URL verification: echo `msg` exactly, as text, only if the signature is the token's. */
    const handshake = (req: FastifyRequest, reply: FastifyReply, name: string, token: string) => {
      const query = rawQuery(req.url);
      const check = verifyHandshake(token, query);
      if (check.ok) return text(reply, 200, check.msg);
      if (check.missing) return text(reply, 400, 'OneNET URL 验证需要 msg、nonce、signature 参数 / OneNET URL verification needs msg, nonce and signature');
      adapter.badSignature('onenet', name, `onenet/${name} ${req.ip}`, req.url.slice(req.url.indexOf('?') + 1), 'URL 验证签名不符 / URL verification signature mismatch');
      return text(reply, 403, 'URL 验证签名不符，请核对 token / the URL verification signature does not match: check the token');
    };

    const onenetGet = async (req: FastifyRequest, reply: FastifyReply) => {
      const name = instanceOf(req);
      const instance = own(settings.onenet, name);
      if (!instance) return notFound(reply, `onenet/${name}`);
      return handshake(req, reply, name, instance.token);
    };

    app.get('/ingest/onenet/:instance', routeOptions('OneNET push URL verification (URL验证 / 实例验证)'), onenetGet);

    app.post('/ingest/onenet/:instance', routeOptions('OneNET push (legacy HTTP推送 and Studio 数据推送)'), async (req, reply) => {
      const name = instanceOf(req);
      const instance = own(settings.onenet, name);
      if (!instance) return notFound(reply, `onenet/${name}`);
      const body = bodyOf(req);
      if (body.trim() === '' && req.url.includes('?')) return handshake(req, reply, name, instance.token);
      const source = `onenet/${name} ${req.ip}`;
      const env = parseEnvelope(body, instance.dialect);
      if ('error' in env) {
        adapter.reject({ protocol: 'onenet', reason: 'bad_frame', message: env.error, raw: body, source });
        return text(reply, 200, 'ok');
      }
      const signed = env.dialect === 'studio' ? env.msg : env.signed;
      if (!verifyOnenetSignature(instance.token, env.nonce, signed, env.signature)) {
        adapter.badSignature('onenet', name, source, body, '推送签名不符 / push signature mismatch');
        return text(reply, 200, 'ok');
      }
      const messages = onenetMessages(env, instance, name, settings.maxBatch, body);
      const status = await adapter.deliver('onenet', source, messages);
      return text(reply, status, status === 200 ? 'ok' : '暂时无法保存，请重试 / not stored yet, retry');
    });

    app.get('/ingest/ctwing/:instance', routeOptions('CTWing subscription URL check'), async (req, reply) => {
      const name = instanceOf(req);
      if (!own(settings.ctwing, name)) return notFound(reply, `ctwing/${name}`);
      return text(reply, 200, 'ok');
    });

    app.post('/ingest/ctwing/:instance', routeOptions('CTWing/AEP subscription push (订阅推送), secret in ?token='), async (req, reply) => {
      const name = instanceOf(req);
      const instance = own(settings.ctwing, name);
      if (!instance) return notFound(reply, `ctwing/${name}`);
      const body = bodyOf(req);
      const source = `ctwing/${name} ${req.ip}`;
      const raw = rawQuery(req.url).get('token');
      let token: string | undefined;
      try { token = raw === undefined ? undefined : decodeURIComponent(raw); } catch { token = undefined; }
      if (!tokenMatches(instance.token, token)) {
        adapter.badSignature('ctwing', name, source, body, token === undefined ? 'URL 中没有 token / no token in the URL' : 'URL 中的 token 不符 / wrong token in the URL');
        return text(reply, 200, 'ok');
      }
      const status = await adapter.deliver('ctwing', source, ctwingMessages(body, name));
      return text(reply, status, status === 200 ? 'ok' : '暂时无法保存，请重试 / not stored yet, retry');
    });
  };
}
