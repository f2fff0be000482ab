/**
 * The embedded MQTT broker (Aedes): TCP, TLS when a certificate is configured, and WebSocket at
 * `/mqtt` on the HTTP server. Devices log in with their id and secret, or on the TLS port with a
 * client certificate naming them; accounts (agencies, admins) with their id and token, under a client
 * id of their own. Deny by default: a device publishes only to its own telemetry, events and status
 * topics and subscribes only under `devices/{id}/`. Every device publish goes through the ingest
 * pipeline before the broker acknowledges it. Revoking a device or an account ends its live sessions.
 */
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import { createServer, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import type { Config } from '../config.js';
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { AuditLog } from '../../core/audit.js';
import type { Device, DeviceCheck, Registry, RegistryEvents } from '../../registry/index.js';
import type { Presence } from '../../ingest/index.js';
import type { Principal } from '../../registry/index.js';
import { DeviceContext, Verdict, type IngestPipeline, type Rejection } from '../../ingest/index.js';
import { accountMayUseClientId, canPublishAsAccount, canSubscribe } from './topics.js';
import { ConnectionLimiter, LoginAudit, LoginThrottle, PublishRateLimiter, type Admission, type RateBucket } from './guards.js';
import { LiveForwarder, RelayBudget, publishBytes, setWriteBuffer, type RelayStream } from './forwarder.js';
import { SqlitePersistence } from './persistence.js';
import type { Db } from '../../core/db/sqlite.js';

/**
 * What we attach to an Aedes client once it has logged in. `epoch` is the party's revocation count
 * at login: a session registered after a revocation it did not see is cut off (see `revoke`). A
 * device's `rate` is its publish-rate bucket, held here so that the hot path reaches it without a
 * lookup.
 */
type Identity = { type: 'device'; ctx: DeviceContext; epoch: number; rate: RateBucket } | { type: 'account'; principal: Principal; epoch: number };
type GatewayClient = Client & { gw?: Identity };
/** What a client certificate proved, on the TLS port when client certificates are asked for. */
interface CertificateProof { verified: boolean; names: readonly string[] }
type AddressedStream = Duplex & Pick<RelayStream, 'gwRelayReserved' | 'gwRelayBehind'> & {
  /** The remote address, kept on the stream: a WebSocket stream has no remoteAddress of its own. */
  gwAddress?: string;
  /** Still counted among its address's connections that have not logged in. */
  gwPending?: boolean;
  gwCert?: CertificateProof;
  /** Raises the WebSocket frame limit from the pre-login size once logged in. */
  gwLoggedIn?: () => void;
};
type AuthCallback = (err: AuthenticateError | null, ok: boolean | null) => void;

/** CONNACK return codes of MQTT 3.1.1 [MQTT-3.2.2.3]. */
const IDENTIFIER_REJECTED = 2;
/** "Try later": a login refused unseen because too many attempts of its username or address already wait. */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** Where a rejected publish goes: `$`-topics match no `#` subscription and nobody may subscribe here, so it reaches no one. */
const DROP_TOPIC = '$gateway/dropped';

export interface BrokerDeps {
  config: Config;
  /** The gateway's store: MQTT session state lives there (`mqtt.persistence: sqlite`). */
  db: Db;
  log: Logger;
  metrics: Metrics;
  registry: Registry;
  presence: Presence;
  pipeline: IngestPipeline;
  /** Refused logins go there, folded so that a flood of them cannot flood it (see LoginAudit). */
  audit: AuditLog;
  /** An account subscribed to its alert queue (the authorities' reads are audited, like over HTTP). */
  onQueueSubscribe?: ((principal: Principal, queue: string) => void) | undefined;
}

export class Broker {
  aedes!: Aedes;
  private tcp: NetServer | undefined;
  private tls: TlsServer | undefined;
  private ws: WebSocketServer | undefined;
  private readonly contexts = new Map<string, DeviceContext>();
  private readonly connections: ConnectionLimiter;
  /** Connections per address that have not logged in yet: each may hold a parser buffer and a login. */
  private readonly pending: ConnectionLimiter;
  private readonly pendingStreams = new Set<AddressedStream>();
  private readonly logins: LoginThrottle;
  private readonly heldLogins = new Set<NodeJS.Timeout>();
  private readonly loginAudit: LoginAudit;
  private auditTimer: NodeJS.Timeout | undefined;
  /** Revocations per `device:{id}` / `account:{id}`; only revoked parties have an entry. */
  private readonly epochs = new Map<string, number>();
  private readonly rate: PublishRateLimiter;
  /** Publish-rate buckets per device id: one per device, not per session, so reconnecting buys no fresh burst. */
  private readonly buckets = new Map<string, RateBucket>();
  private forwarder!: LiveForwarder;
  private readonly relay: RelayBudget;
  private readonly registryListeners: Array<() => void> = [];

  constructor(private readonly deps: BrokerDeps) {
    const limits = deps.config.mqtt.limits;
    this.connections = new ConnectionLimiter(limits.maxConnectionsPerAddress);
    this.pending = new ConnectionLimiter(limits.maxPendingPerAddress);
    this.logins = new LoginThrottle({
      userFreeFailures: limits.loginFailuresBeforeDelay, addressFreeFailures: limits.addressLoginFailuresBeforeDelay,
      windowMs: limits.loginFailureWindowMs, baseDelayMs: limits.loginDelayMs, maxDelayMs: limits.loginMaxDelayMs, maxWaiting: limits.loginMaxWaiting,
    });
    this.loginAudit = new LoginAudit((address, detail) => {
      deps.log.info({ address, ...detail }, 'mqtt logins refused');
      deps.audit.record(`mqtt:${address}`, 'mqtt.login_refused', `address:${address}`, detail);
    });
    this.rate = new PublishRateLimiter(limits.publishPerSecond, limits.publishBurst);
    this.relay = new RelayBudget(limits.relayBufferBytes, deps.config.mqtt.drainTimeoutMs, (stream) => {
      deps.log.info({ address: (stream as AddressedStream).gwAddress }, 'mqtt subscriber disconnected: behind on live data for longer than the drain timeout');
    });
  }

  async start(): Promise<void> {
    const { config } = this.deps;
    this.aedes = await Aedes.createBroker({
      drainTimeout: config.mqtt.drainTimeoutMs,
      queueLimit: config.mqtt.queueLimit,
      connectTimeout: config.mqtt.connectTimeoutMs,
      maxClientsIdLength: config.mqtt.maxClientIdLength,
      concurrency: config.mqtt.concurrency,
      ...(config.mqtt.persistence === 'sqlite' ? { persistence: new SqlitePersistence(this.deps.db) } : {}),
      authenticate: this.authenticate,
      authorizePublish: this.authorizePublish,
      authorizeSubscribe: this.authorizeSubscribe,
      authorizeForward: this.authorizeForward,
    });
    const { presence, metrics, log } = this.deps;
    this.forwarder = new LiveForwarder(this.aedes, config.mqtt.limits.relayInFlight, (reason) => metrics.relaySkipped.labels(reason).inc());
    this.listen('deviceChanged', (device) => this.refreshDevice(device));
    // new credentials, disabled or gone: its live sessions end now, not at the next reconnect
    this.listen('deviceRevoked', (id) => this.revoke('device', id));
    this.listen('deviceRemoved', (id) => this.revoke('device', id));
    this.listen('accountRevoked', (id) => this.revoke('account', id));
    this.aedes.on('client', (client: GatewayClient) => {
      // the session is registered only now: a revocation since its login found nothing to close
      const identity = client.gw;
      if (identity && identity.epoch !== this.epochOf(identity.type, identityId(identity))) this.cutOff(client);
    });
    this.auditTimer = setInterval(() => this.loginAudit.flush(), 10_000);
    this.auditTimer.unref();
    this.aedes.on('clientReady', (client: GatewayClient) => {
      metrics.connections.inc();
      if (client.gw?.type === 'device') presence.connected(client.gw.ctx.device.id, client);
    });
    this.aedes.on('clientDisconnect', (client: GatewayClient) => {
      metrics.connections.dec();
      if (client.gw?.type === 'device') presence.disconnected(client.gw.ctx.device.id, client);
    });
    this.aedes.on('clientError', (client: GatewayClient, err: Error) => {
      log.debug({ clientId: client.id, err: err.message }, 'mqtt client error');
    });
    this.aedes.on('connectionError', (client: GatewayClient, err: Error) => {
      log.debug({ clientId: client?.id, err: err.message }, 'mqtt connection error');
    });
    this.deps.pipeline.onRejected(this.explainRejections);

    this.tcp = createServer((socket) => this.handle(socket, socket.remoteAddress));
    await listen(this.tcp, config.mqtt.port, config.mqtt.host);
    const tls = config.mqtt.tls;
    if (tls.certFile && tls.keyFile) {
      const clientCerts = tls.clientCerts !== 'off';
      this.tls = createTlsServer({
        cert: readFileSync(tls.certFile),
        key: readFileSync(tls.keyFile),
        ...(tls.caFile ? { ca: readFileSync(tls.caFile) } : {}),
        // Asked for, never demanded by TLS itself: accounts log in with their token and no certificate,
        // also under `required`, which the login enforces for devices. A certificate that does not
        // verify is not an error either; it just proves nothing (`authorized` is false).
        requestCert: clientCerts,
        rejectUnauthorized: false,
      }, (socket) => {
        if (clientCerts) (socket as AddressedStream).gwCert = certificateProof(socket);
        this.handle(socket, socket.remoteAddress);
      });
      await listen(this.tls, tls.port, config.mqtt.host);
    }
  }

  private listen<K extends keyof RegistryEvents>(event: K, fn: (...args: RegistryEvents[K]) => void): void {
    const { registry } = this.deps;
    registry.on(event, fn as never);
    this.registryListeners.push(() => registry.off(event, fn as never));
  }

  /** MQTT over WebSocket on the HTTP server's `/mqtt` path. */
  attachWebSocket(server: HttpServer): void {
    const mqtt = this.deps.config.mqtt;
    this.ws = new WebSocketServer({ noServer: true, maxPayload: mqtt.maxPacketBytes + 16 });
    server.on('upgrade', (req: IncomingMessage, socket, head) => {
      if (!req.url || new URL(req.url, 'http://x').pathname !== '/mqtt') {
        socket.destroy();
        return;
      }
      this.ws!.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', (err: Error & { code?: string }) => {
          if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.deps.metrics.connectsRefused.labels('packet_too_large').inc();
        });
        const stream = createWebSocketStream(ws) as AddressedStream;
        stream.on('error', () => stream.destroy());
        // the WebSocket layer buffers a whole frame before the MQTT parser sees a byte of it
        stream.gwLoggedIn = frameLimit(ws, Math.min(mqtt.maxConnectPacketBytes, mqtt.maxPacketBytes) + 16, mqtt.maxPacketBytes + 16);
        this.handle(stream, req.socket.remoteAddress);
      });
    });
  }

  ports(): { mqtt: number; mqtts?: number } {
    const mqtt = (this.tcp!.address() as { port: number }).port;
    return this.tls ? { mqtt, mqtts: (this.tls.address() as { port: number }).port } : { mqtt };
  }

  private handle(stream: AddressedStream, address = 'unknown'): void {
    const { config, metrics } = this.deps;
    if (!this.connections.acquire(address)) {
      metrics.connectsRefused.labels('too_many_connections').inc();
      stream.destroy();
      return;
    }
    if (!this.pending.acquire(address)) {
      this.connections.release(address);
      metrics.connectsRefused.labels('too_many_pending').inc();
      stream.destroy();
      return;
    }
    stream.gwAddress = address;
    stream.gwPending = true;
    // live copies are admitted only below this, so Aedes never waits for 'drain' on one (see forwarder.ts)
    setWriteBuffer(stream, config.mqtt.limits.relayBufferBytes);
    this.pendingStreams.add(stream);
    stream.once('close', () => {
      this.connections.release(address);
      this.loggedIn(stream);
      this.relay.closed(stream);
    });
    const client = this.aedes.handle(stream) as unknown as GatewayClient & ParserHooks;
    const before = Math.min(config.mqtt.maxConnectPacketBytes, config.mqtt.maxPacketBytes);
    guardPacketSize(client, stream, () => (client.gw ? config.mqtt.maxPacketBytes : before), () => metrics.connectsRefused.labels('packet_too_large').inc());
  }

  /** The stream no longer counts among its address's connections that have not logged in. */
  private loggedIn(stream: AddressedStream): void {
    if (!stream.gwPending) return;
    stream.gwPending = false;
    this.pendingStreams.delete(stream);
    this.pending.release(stream.gwAddress ?? 'unknown');
  }

  private deviceContext(id: string): DeviceContext | undefined {
    let ctx = this.contexts.get(id);
    if (!ctx) {
      const device = this.deps.registry.getDevice(id);
      if (!device) return undefined;
      ctx = new DeviceContext(device);
      this.contexts.set(id, ctx);
    }
    return ctx;
  }

  private bucketOf(id: string): RateBucket {
    let bucket = this.buckets.get(id);
    if (!bucket) {
      bucket = PublishRateLimiter.emptyBucket();
      this.buckets.set(id, bucket);
    }
    return bucket;
  }

  /** Every refused login: counted, audited (folded), and answered with its CONNACK code. */
  private refuse(client: GatewayClient, callback: AuthCallback, code: number, reason: string, username?: string): void {
    const { registry, metrics, log } = this.deps;
    metrics.connectsRefused.labels(reason).inc();
    // only a registered id is written down: a client that swapped its fields sends its secret as username
    const known = username !== undefined && (registry.getDevice(username) || registry.getAccount(username)) ? username : undefined;
    const address = addressOf(client);
    log.debug({ username: known, address, reason }, 'mqtt login refused');
    this.loginAudit.refused(address, reason, known);
    const err = new Error(reason) as AuthenticateError;
    err.returnCode = code;
    callback(err, null);
  }

  private accept(client: GatewayClient, identity: Identity, callback: AuthCallback): void {
    client.gw = identity;
    const stream = client.conn as AddressedStream;
    this.loggedIn(stream);
    stream.gwLoggedIn?.();
    callback(null, true);
  }

  /**
   * Order matters. A certificate is judged before anything else and needs no password, so a device
   * that proves itself that way is never held by the slow-down (nothing is being guessed). Then the
   * slow-down decides whether and when the password is looked at; only then is it checked.
   */
  private readonly authenticate = (client: GatewayClient, username: Readonly<string> | undefined, password: Readonly<Buffer> | undefined, callback: AuthCallback): void => {
    if (!username) return this.refuse(client, callback, BAD_USERNAME_OR_PASSWORD, 'no_credentials');
    const cert = (client.conn as AddressedStream).gwCert;
    if (cert?.verified && this.deps.registry.getDevice(username)) {
      if (!cert.names.includes(username)) return this.refuse(client, callback, NOT_AUTHORIZED, 'cert_mismatch', username);
      return this.loginDevice(client, username, callback);
    }
    const admission = this.logins.admit(addressOf(client), username);
    if (!admission) return this.refuse(client, callback, SERVER_UNAVAILABLE, 'login_throttled', username);
    if (admission.delayMs === 0) return this.checkPassword(client, username, password, admission, callback);
    this.deps.metrics.loginsHeld.inc();
    const timer = setTimeout(() => {
      this.heldLogins.delete(timer);
      if (client.closed) return admission.done();
      this.checkPassword(client, username, password, admission, callback);
    }, admission.delayMs);
    this.heldLogins.add(timer);
  };

  private checkPassword(client: GatewayClient, username: string, password: Buffer | undefined, admission: Admission, callback: AuthCallback): void {
    const check = this.deps.registry.checkDevice(username, password);
    if (!(check instanceof Promise)) return this.passwordChecked(client, username, password, check, admission, callback);
    check.then((result) => this.passwordChecked(client, username, password, result, admission, callback),
      () => this.passwordChecked(client, username, password, { ok: false, reason: 'bad_secret' }, admission, callback));
  }

  private passwordChecked(client: GatewayClient, username: string, password: Buffer | undefined, check: DeviceCheck, admission: Admission, callback: AuthCallback): void {
    admission.done();
    if (client.closed) return;
    const { registry } = this.deps;
    const address = addressOf(client);
    if (check.ok) {
      this.logins.succeeded(address, username);
      const cert = (client.conn as AddressedStream).gwCert;
      // judged after the password, so that this refusal tells only those who know it that the id is a device
      if (cert && !cert.verified && this.deps.config.mqtt.tls.clientCerts === 'required') return this.refuse(client, callback, NOT_AUTHORIZED, 'cert_required', username);
      return this.loginDevice(client, username, callback);
    }
    if (check.reason === 'disabled') return this.refuse(client, callback, NOT_AUTHORIZED, 'disabled', username);
    if (check.reason === 'bad_secret') {
      this.logins.failed(address, username);
      return this.refuse(client, callback, BAD_USERNAME_OR_PASSWORD, 'bad_secret', username);
    }
    const principal = registry.checkAccount(username, password);
    if (!principal) {
      this.logins.failed(address, username);
      return this.refuse(client, callback, BAD_USERNAME_OR_PASSWORD, 'unknown_user', username);
    }
    this.logins.succeeded(address, username);
    if (!accountMayUseClientId(principal.id, client.id, { account: (id) => registry.getAccount(id) !== undefined, device: (id) => registry.getDevice(id) !== undefined })) {
      return this.refuse(client, callback, IDENTIFIER_REJECTED, 'client_id_mismatch', username);
    }
    this.accept(client, { type: 'account', principal, epoch: this.epochOf('account', principal.id) }, callback);
  }

  /** A device whose secret or certificate checked out. */
  private loginDevice(client: GatewayClient, id: string, callback: AuthCallback): void {
    const device = this.deps.registry.getDevice(id);
    if (!device) return this.refuse(client, callback, BAD_USERNAME_OR_PASSWORD, 'unknown_user');
    if (device.disabled) return this.refuse(client, callback, NOT_AUTHORIZED, 'disabled', id);
    // the client id must equal the device id, so one device cannot take over another's session
    if (client.id !== id) return this.refuse(client, callback, IDENTIFIER_REJECTED, 'client_id_mismatch', id);
    this.accept(client, { type: 'device', ctx: this.deviceContext(id)!, epoch: this.epochOf('device', id), rate: this.bucketOf(id) }, callback);
  }

  private readonly authorizePublish = (client: GatewayClient | null, packet: PublishPacket, callback: (err?: Error | null) => void): void => {
    const identity = client?.gw;
    if (identity?.type === 'device') {
      const ctx = identity.ctx;
      if (this.rate.enabled) {
        const delay = this.rate.delayFor(identity.rate);
        if (delay > 0) {
          // held back, not refused: the device's next packets wait behind this one (backpressure)
          this.deps.metrics.publishThrottled.inc();
          setTimeout(this.ingestDevicePublish, delay, ctx, packet, callback);
          return;
        }
      }
      this.ingestDevicePublish(ctx, packet, callback);
      return;
    }
    if (identity?.type === 'account' && canPublishAsAccount(identity.principal, packet.topic)) return callback(null);
    // Accounts consume; only devices (and the gateway itself) publish.
    callback(new Error('not allowed to publish'));
  };

  /**
   * A device's publish goes to the ingest pipeline, which acknowledges it once stored. The packet
   * itself is then routed nowhere; subscribers get a copy from the forwarder, so a subscriber that
   * stops reading can never hold up a device (see forwarder.ts).
   */
  private readonly ingestDevicePublish = (ctx: DeviceContext, packet: PublishPacket, callback: (err?: Error | null) => void): void => {
    const topic = packet.topic;
    const payload = packet.payload as Buffer;
    if (topic === ctx.statusTopic) this.deps.presence.statusMessage(ctx.device.id, payload);
    const verdict = this.deps.pipeline.handle(ctx, topic, payload, callback);
    if (verdict === Verdict.Forward) this.forwarder.forward(topic, payload, packet.qos === 0 ? 0 : 1, packet.retain);
    packet.topic = DROP_TOPIC;
    packet.retain = false;
  };

  private readonly authorizeSubscribe = (client: GatewayClient | null, sub: Subscription, callback: (err: Error | null, sub?: Subscription | null) => void): void => {
    const identity = client?.gw;
    if (identity && canSubscribe(identity.type === 'device' ? { deviceId: identity.ctx.device.id } : { principal: identity.principal }, sub.topic)) {
      if (identity.type === 'account' && sub.topic.startsWith('alerts/')) this.deps.onQueueSubscribe?.(identity.principal, sub.topic.slice('alerts/'.length));
      return callback(null, sub);
    }
    // Negated, not an error: the SUBACK carries 0x80 and the connection stays up [MQTT-3.9.3].
    callback(null, null);
  };

  /**
   * Live device data is sent to a subscriber only within its budget of `mqtt.limits.relayBufferBytes`
   * waiting in the gateway; past it the subscriber misses live copies (counted) until it has caught up
   * (see forwarder.ts). Alert queues are never skipped: an agency's copy is kept in order (see
   * alerts/delivery/mqtt.ts).
   */
  private readonly authorizeForward = (client: GatewayClient, packet: AedesPublishPacket): AedesPublishPacket | null => {
    if (!packet.topic.startsWith('devices/')) return packet;
    if (this.relay.admit(client.conn as AddressedStream, publishBytes(packet.topic, packet.payload as Buffer))) return packet;
    this.deps.metrics.relaySkipped.labels('subscriber_behind').inc();
    return null;
  };

  /** Tells each device why its message was rejected, on `devices/{id}/errors`. */
  private readonly explainRejections = (rejections: readonly Rejection[]): void => {
    for (const r of rejections) {
      const payload = Buffer.from(JSON.stringify({ ts: Date.now(), topic: r.topic, reason: r.reason, message: r.message, issues: r.issues, ...(r.index === undefined ? {} : { index: r.index }) }));
      this.forwarder.forward(`devices/${r.deviceId}/errors`, payload, 0);
    }
  };

  /** Publishes a message from the gateway itself (alerts, errors). */
  publish(topic: string, payload: Buffer, qos: 0 | 1 = 1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (err) => (err ? reject(err) : resolve()));
    });
  }

  private epochOf(type: Identity['type'], id: string): number {
    return this.epochs.get(`${type}:${id}`) ?? 0;
  }

  /**
   * A device or account whose credentials stopped counting: its live sessions are closed now (an
   * account's under every client id it uses), its cached device context is dropped, and a session
   * that logged in before and registers after this is closed when it registers.
   */
  private revoke(type: Identity['type'], id: string): void {
    const key = `${type}:${id}`;
    this.epochs.set(key, (this.epochs.get(key) ?? 0) + 1);
    const clients = (this.aedes as unknown as { clients: Record<string, GatewayClient> }).clients;
    if (type === 'device') {
      this.contexts.delete(id);
      this.buckets.delete(id);
      const client = clients[id];
      if (client?.gw?.type === 'device' && client.gw.ctx.device.id === id) this.cutOff(client);
      return;
    }
    for (const client of Object.values(clients)) {
      if (client.gw?.type === 'account' && client.gw.principal.id === id) this.cutOff(client);
    }
  }

  /** Closes a session whose credentials were revoked; its will was set by whoever held them, so it is not published. */
  private cutOff(client: GatewayClient): void {
    this.deps.log.info({ clientId: client.id }, 'mqtt session closed: credentials revoked');
    (client as unknown as { will: unknown }).will = null;
    client.close();
  }

  /**
   * A device's registry entry changed (site, company, building…): the cache is rebuilt, and a live
   * session gets the new context at once, so its readings and alerts are not filed under the old
   * identity until it reconnects. Its rate bucket and timestamp counters carry over.
   */
  private refreshDevice(device: Device): void {
    this.contexts.delete(device.id);
    const client = (this.aedes as unknown as { clients: Record<string, GatewayClient> }).clients[device.id];
    const identity = client?.gw;
    if (identity?.type !== 'device' || identity.ctx.device.id !== device.id) return;
    const old = identity.ctx;
    const ctx = this.deviceContext(device.id);
    if (!ctx) return;
    ctx.lastTs = old.lastTs;
    ctx.sameTsCount = old.sameTsCount;
    client!.gw = { ...identity, ctx };
  }

  async close(): Promise<void> {
    this.ws?.close();
    for (const server of [this.tcp, this.tls]) if (server) server.close();
    for (const off of this.registryListeners.splice(0)) off();
    for (const timer of this.heldLogins) clearTimeout(timer);
    this.heldLogins.clear();
    // Aedes closes the sessions it knows; the sockets still logging in are ours to close
    for (const stream of this.pendingStreams) stream.destroy();
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    if (this.auditTimer) clearInterval(this.auditTimer);
    this.loginAudit.flush(true);
  }
}

function addressOf(client: Client): string {
  return (client.conn as AddressedStream).gwAddress ?? 'unknown';
}

function identityId(identity: Identity): string {
  return identity.type === 'device' ? identity.ctx.device.id : identity.principal.id;
}

/**
 * The names a verified client certificate vouches for: its subject CN and its DNS and URI SANs.
 * Node prints a SAN value with special characters as a JSON string; such a value can never equal
 * an id (ids have none), but it is decoded rather than split blindly, so a crafted value cannot
 * smuggle in a name of its own.
 */
function certificateProof(socket: TLSSocket): CertificateProof {
  if (!socket.authorized) return { verified: false, names: [] };
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.subject) return { verified: false, names: [] };
  const names: string[] = [];
  for (const cn of [cert.subject.CN as string | string[] | undefined].flat()) if (typeof cn === 'string') names.push(cn);
  for (const [type, value] of altNames(cert.subjectaltname ?? '')) if (type === 'DNS' || type === 'URI') names.push(value);
  return { verified: true, names };
}

function altNames(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let end: number;
    let value: string;
    if (text[colon + 1] === '"') {
      let k = colon + 2;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      end = k + 1;
      try { value = JSON.parse(text.slice(colon + 1, end)) as string; } catch { value = ''; }
    } else {
      const comma = text.indexOf(', ', colon + 1);
      end = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, end);
    }
    out.push([type, value]);
    i = end + 2;
  }
  return out;
}

/**
 * Sets the WebSocket's frame limit to `before` until the client has logged in, and returns what
 * raises it to `after`. Reaches into ws's receiver (ws 8), which has no public setter; without it
 * the server-wide limit (`after`) stays in force.
 */
function frameLimit(ws: WebSocket, before: number, after: number): () => void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
  if (!receiver || typeof receiver._maxPayload !== 'number') return () => undefined;
  receiver._maxPayload = before;
  return () => { receiver._maxPayload = after; };
}

function listen(server: NetServer | TlsServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

type ParserHooks = { _parser?: { _parseLength?: () => boolean; packet: { length: number } } };

/**
 * Closes a connection as soon as a packet header announces more than `max()` bytes, before the body
 * is buffered: mqtt-packet has no size limit of its own, so a single huge PUBLISH could take the
 * process's memory. `max` is asked per packet: before login it is the small CONNECT limit. Hooks the
 * parser's length step (mqtt-packet 9).
 */
function guardPacketSize(client: ParserHooks, stream: Duplex, max: () => number, onTooLarge: () => void): void {
  const parser = client._parser;
  const parseLength = parser?._parseLength;
  if (!parser || !parseLength) return;
  parser._parseLength = function (this: typeof parser) {
    const ok = parseLength.call(this);
    if (ok && this.packet.length > max()) {
      onTooLarge();
      stream.destroy();
      return false;
    }
    return ok;
  };
}
