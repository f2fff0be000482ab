/**
 * The embedded MQTT broker (Aedes): TCP, TLS when a certificate is configured, and WebSocket at
 * `/mqtt` on the HTTP server. Who a connection is, is login.ts's to decide; what a session may do
 * is decided here, deny by default: a device publishes only to its own telemetry, events and status
 * topics and subscribes only under `devices/{id}/`. Every device publish goes through the ingest
 * pipeline before the broker acknowledges it. Revoking a device or an account ends its live sessions.
 */
import { Aedes, type AedesPublishPacket, type PublishPacket, type Subscription } from 'aedes';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Config } from '../config.js';
import type { Logger } from '../../core/log.js';
import type { Metrics } from '../../core/metrics.js';
import type { AuditLog } from '../../core/audit.js';
import type { Db } from '../../core/db/sqlite.js';
import type { Device, Principal, Registry, RegistryEvents } from '../../registry/index.js';
import { DeviceContext, Verdict, type IngestPipeline, type Presence, type Rejection } from '../../ingest/index.js';
import { canPublishAsAccount, canSubscribe } from './topics.js';
import { ConnectionLimiter, PublishRateLimiter, type RateBucket } from './guards.js';
import { LiveForwarder, RelayAudience, RelayBudget, publishBytes, setWriteBuffer, type SharedFilters, type SubscriptionLookup } from './forwarder.js';
import { SqlitePersistence } from './persistence.js';
import { Login } from './login.js';
import { LoginQueue } from './login-queue.js';
import { boundEmitterDepth } from './emitter-depth.js';
import { withinCloseGrace } from './redis.js';
import { Acceptors } from './acceptors.js';
import { ProxyProtocol } from '../proxy-protocol.js';
import {
  certificateProof, frameLimit, guardPacketSize, identityId, listen, type AddressedStream, type GatewayClient, type Identity, type ParserHooks,
} from './session.js';



/** The client address a PROXY header named, per raw socket handed to the TLS server. */
const PROXIED = new WeakMap<Socket, string>();

/** The address the PROXY header named for a TLS connection: TLS runs on the raw socket, its `_parent`. */
function proxiedAddress(socket: TLSSocket): string | undefined {
  const raw = (socket as unknown as { _parent?: Socket })._parent;
  return raw ? PROXIED.get(raw) : undefined;
}

/** Where a rejected publish goes: `$`-topics match no `#` subscription and nobody may subscribe here, so it reaches no one. */
const DROP_TOPIC = '$gateway/dropped';

/**
 * Aedes hands a device's own packet, retargeted to DROP_TOPIC, to its emitter all the same, which
 * looks for subscribers that cannot exist. In cluster mode the emitter is Redis: every device message
 * was a Redis PUBLISH (encoded, sent, answered) that nobody received. Such a packet is done with here.
 */
function dropUnroutable(mq: object): void {
  const emitter = mq as { emit(packet: { topic: string }, done?: (err?: Error) => void): void };
  const emit = emitter.emit.bind(emitter);
  emitter.emit = (packet, done) => {
    if (packet.topic === DROP_TOPIC) done?.();
    else emit(packet, done);
  };
}

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
  /**
   * Cluster mode: Aedes' emitter and persistence shared through Redis (see redis.ts); replaces the SQLite
   * persistence. With `relayFilters` the relay audience spans the cluster; without, every live copy is routed.
   */
  transport?: { mq: unknown; persistence: unknown; relayFilters?: SharedFilters } | undefined;
  /** The Aedes id, unique per node and per process run (see redis.ts); a random UUID when absent. */
  nodeId?: string | undefined;
  /** Before a device's session is accepted (cluster mode: its rule state is loaded from the store). */
  beforeDevice?: ((deviceId: string) => Promise<void> | void) | undefined;
}

export class Broker {
  aedes!: Aedes;
  private tcp: NetServer | undefined;
  private mqttPort: number | undefined;
  private tls: TlsServer | undefined;
  /** With `mqtt.proxyProtocol`: the listener on the TLS port, which reads the PROXY header before handing the socket to `tls`. */
  private tlsListener: NetServer | undefined;
  private proxy: ProxyProtocol | undefined;
  private ws: WebSocketServer | undefined;
  /** With `mqtt.acceptors`: the child processes holding the MQTT port's sockets. */
  private acceptors: Acceptors | undefined;
  private readonly contexts = new Map<string, DeviceContext>();
  private readonly connections: ConnectionLimiter;
  /** Connections per address that have not logged in yet: each may hold a parser buffer and a login. */
  private readonly pending: ConnectionLimiter;
  private readonly pendingStreams = new Set<AddressedStream>();
  /** Connections waiting for their address's turn to log in (undefined: refused at once instead; see login-queue.ts). */
  private readonly waiting: LoginQueue<AddressedStream> | undefined;
  private closing = false;
  private readonly login: Login;
  /** Revocations per `device:{id}` / `account:{id}`; only revoked parties have an entry. */
  private readonly epochs = new Map<string, number>();
  private readonly rate: PublishRateLimiter;
  /** Publish-rate buckets per device id: one per device, not per session, so reconnecting buys no fresh burst. */
  private readonly buckets = new Map<string, RateBucket>();
  private forwarder!: LiveForwarder;
  /** Whether a device's live copy could reach anybody (see forwarder.ts). */
  private audience!: RelayAudience;
  private readonly relay: RelayBudget;
  private readonly registryListeners: Array<() => void> = [];

  constructor(private readonly deps: BrokerDeps) {
    const limits = deps.config.mqtt.limits;
    this.connections = new ConnectionLimiter(limits.maxConnectionsPerAddress);
    this.pending = new ConnectionLimiter(limits.maxPendingPerAddress);
    this.waiting = limits.loginQueueTimeoutMs > 0 ? new LoginQueue(limits.loginQueueTimeoutMs, (stream) => {
      deps.metrics.connectsRefused.labels('login_queue_timeout').inc();
      stream.destroy();
    }) : undefined;
    deps.metrics.watchLoginsWaiting(() => this.waiting?.size ?? 0);
    this.login = new Login(deps, {
      deviceIdentity: (id) => {
        const ctx = this.deviceContext(id);
        return ctx && { type: 'device', ctx, epoch: this.epochOf('device', id), rate: this.bucketOf(id) };
      },
      accountIdentity: (principal) => ({ type: 'account', principal, epoch: this.epochOf('account', principal.id) }),
      ...(deps.beforeDevice ? { beforeDevice: deps.beforeDevice } : {}),
      accepted: (stream) => {
        this.loggedIn(stream);
        stream.gwLoggedIn?.();
      },
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
      ...(this.deps.nodeId ? { id: this.deps.nodeId } : {}),
      ...(this.deps.transport ? { mq: this.deps.transport.mq, persistence: this.deps.transport.persistence }
        : config.mqtt.persistence === 'sqlite' ? { persistence: new SqlitePersistence(this.deps.db) } : {}),
      authenticate: this.login.authenticate,
      authorizePublish: this.authorizePublish,
      authorizeSubscribe: this.authorizeSubscribe,
      authorizeForward: this.authorizeForward,
    });
    boundEmitterDepth((this.aedes as unknown as { mq: object }).mq);
    dropUnroutable((this.aedes as unknown as { mq: object }).mq);
    const { presence, metrics, log } = this.deps;
    this.forwarder = new LiveForwarder(this.aedes, config.mqtt.limits.relayInFlight, (reason) => metrics.relaySkipped.labels(reason).inc());
    // in cluster mode everything is forwarded until the filters granted on the other nodes are known
    this.audience = new RelayAudience((this.aedes as unknown as { persistence: SubscriptionLookup }).persistence, this.deps.transport !== undefined);
    metrics.watchRelay(() => this.forwarder.routed, () => this.audience.forwardingAll);
    this.listen('deviceChanged', (device) => this.refreshDevice(device));
    // new credentials, disabled or gone: its live sessions end now, not at the next reconnect
    this.listen('deviceRevoked', (id) => this.revoke('device', id));
    this.listen('deviceRemoved', (id) => this.revoke('device', id));
    this.listen('accountRevoked', (id) => this.revoke('account', id));
    // A session counts (and its device is online, and owned by this node in a cluster) from its
    // registration to its unregistration: Aedes pairs these two events. Not from 'clientReady', which
    // comes only once the session's offline queue is read (from Redis in a cluster: late under load),
    // and may come after a client that dropped at once has already disconnected, which would leave it
    // online for good.
    this.aedes.on('client', (client: GatewayClient) => {
      metrics.connections.inc();
      if (client.gw?.type === 'device') presence.connected(client.gw.ctx.device.id, client);
      // the session is registered only now: a revocation since its login found nothing to close
      const identity = client.gw;
      if (identity && identity.epoch !== this.epochOf(identity.type, identityId(identity))) this.cutOff(client);
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
    // before any device is accepted: subscribed to the other nodes' grants, then read those made before
    await this.deps.transport?.relayFilters?.start({
      heard: (filter) => this.audience.granted(filter),
      lost: () => this.audience.forwardAll(true),
      synced: () => this.audience.forwardAll(false),
    });
  }

  /**
   * Opens the MQTT ports (and starts the acceptor processes). Separate from `start` so that the
   * gateway opens them last: a device that connects is then answered at once, where during the rest
   * of the start (100,000 devices' rule state restored, seconds) its login would wait unread, and a
   * reconnect storm would be spent on logins their devices had already given up on.
   */
  async openPorts(): Promise<void> {
    const { config, log } = this.deps;
    const proxy = this.proxy = config.mqtt.proxyProtocol === 'off' ? undefined : this.proxyProtocol();
    const acceptors = this.acceptors = config.mqtt.acceptors > 0 ? new Acceptors({
      count: config.mqtt.acceptors,
      onStream: (stream, address) => this.handle(stream as AddressedStream, address),
      onFull: () => this.deps.metrics.connectsRefused.labels('acceptors_full').inc(),
      onExit: (index, code, signal) => log.warn({ acceptor: index, code, signal }, 'mqtt acceptor process exited with its connections; starting it again'),
    }) : undefined;
    acceptors?.start();
    this.tcp = proxy
      ? createServer((socket) => proxy.accept(socket, (s, address) => this.handle(s, address)))
      : acceptors
        // not a byte read here: the socket is the acceptor's once handed over
        ? createServer({ pauseOnConnect: true }, (socket) => acceptors.adopt(socket))
        // paused: nothing is read from a connection that waits for its login's turn (see login-queue.ts)
        : createServer({ pauseOnConnect: true }, (socket) => this.handle(socket, socket.remoteAddress));
    await listen(this.tcp, config.mqtt.port, config.mqtt.host);
    // kept: with acceptors the gateway's own listener closes once they have the port
    this.mqttPort = (this.tcp.address() as { port: number }).port;
    acceptors?.share(this.tcp);
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
        let address = socket.remoteAddress;
        if (proxy) {
          address = proxiedAddress(socket);
          // cannot happen while Node's TLSSocket keeps its socket as `_parent`; never the proxy's address instead
          if (address === undefined) { socket.destroy(); return; }
        }
        if (clientCerts) (socket as AddressedStream).gwCert = certificateProof(socket);
        this.handle(socket, address);
      });
      if (proxy) {
        // the header comes before the TLS handshake: read from the raw socket, then TLS starts on it
        // (the bytes after the header, put back on the socket, are the first the handshake reads)
        const server = this.tls;
        this.tlsListener = createServer((raw) => proxy.accept(raw, (s, address) => {
          PROXIED.set(s, address);
          server.emit('connection', s);
        }));
      }
      await listen(this.tlsListener ?? this.tls, tls.port, config.mqtt.host);
    }
  }

  private proxyProtocol(): ProxyProtocol {
    const { config, metrics, log } = this.deps;
    let lastWarning = 0;
    return new ProxyProtocol({
      trustedProxies: config.mqtt.trustedProxies ?? [],
      timeoutMs: config.mqtt.proxyHeaderTimeoutMs,
      refused: (reason, address, why) => {
        metrics.connectsRefused.labels(reason).inc();
        // a load balancer without send-proxy, or a wrong trustedProxies, refuses every device: say so, once a minute
        const now = Date.now();
        if (now - lastWarning >= 60_000) {
          lastWarning = now;
          log.warn({ address, reason, why }, 'mqtt connection refused: PROXY protocol (mqtt.proxyProtocol) expects a header from a trusted proxy (mqtt.trustedProxies); further refusals are counted in gateway_mqtt_connects_refused_total');
        } else {
          log.debug({ address, reason, why }, 'mqtt connection refused: PROXY protocol');
        }
      },
    });
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
    const mqtt = this.mqttPort!;
    const tls = this.tlsListener ?? this.tls;
    return tls ? { mqtt, mqtts: (tls.address() as { port: number }).port } : { mqtt };
  }

  private handle(stream: AddressedStream, address = 'unknown'): void {
    const { metrics } = this.deps;
    if (!this.connections.acquire(address)) {
      metrics.connectsRefused.labels('too_many_connections').inc();
      stream.destroy();
      return;
    }
    const turn = this.pending.acquire(address);
    if (!turn && !this.waiting) {
      this.connections.release(address);
      metrics.connectsRefused.labels('too_many_pending').inc();
      stream.destroy();
      return;
    }
    stream.gwAddress = address;
    stream.once('close', () => {
      this.connections.release(address);
      if (this.waiting?.remove(address, stream)) return;
      this.loggedIn(stream);
      this.relay.closed(stream);
    });
    if (turn) {
      this.startLogin(stream);
      return;
    }
    // its address has as many logins in progress as it may: it waits, unread, for one of them to end
    stream.gwHold?.();
    this.waiting!.add(address, stream);
    metrics.loginsQueued.inc();
  }

  /** Its address's turn: the stream is read and logs in (Aedes). */
  private startLogin(stream: AddressedStream): void {
    const { config, metrics } = this.deps;
    stream.gwPending = true;
    // live copies are admitted only below this, so Aedes never waits for 'drain' on one (see forwarder.ts)
    setWriteBuffer(stream, config.mqtt.limits.relayBufferBytes);
    this.pendingStreams.add(stream);
    stream.gwRelease?.();
    const client = this.aedes.handle(stream) as unknown as GatewayClient & ParserHooks;
    const before = Math.min(config.mqtt.maxConnectPacketBytes, config.mqtt.maxPacketBytes);
    guardPacketSize(client, stream, () => (client.gw ? config.mqtt.maxPacketBytes : before), () => metrics.connectsRefused.labels('packet_too_large').inc());
  }

  /** The stream no longer counts among its address's logins in progress: the next waiting there has its turn. */
  private loggedIn(stream: AddressedStream): void {
    if (!stream.gwPending) return;
    stream.gwPending = false;
    this.pendingStreams.delete(stream);
    const address = stream.gwAddress ?? 'unknown';
    this.pending.release(address);
    const next = this.closing ? undefined : this.waiting?.take(address);
    if (!next) return;
    this.pending.acquire(address);
    this.startLogin(next);
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

  /** The HTTP device API's Basic auth, under the MQTT logins' slow-down (see Login.checkDeviceSecret). */
  checkDeviceSecret(address: string, id: string, secret: string): ReturnType<Login['checkDeviceSecret']> {
    return this.login.checkDeviceSecret(address, id, secret);
  }

  /** The per-device rate limit shared with MQTT: 0 when a message may go now, else the ms to wait (nothing taken). */
  rateLimitWait(id: string): number {
    return this.rate.enabled ? this.rate.tryTake(this.bucketOf(id)) : 0;
  }

  private bucketOf(id: string): RateBucket {
    let bucket = this.buckets.get(id);
    if (!bucket) {
      bucket = PublishRateLimiter.emptyBucket();
      this.buckets.set(id, bucket);
    }
    return bucket;
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
    // a copy nobody could receive is not routed; a retained one always is (the copy is what the broker retains)
    if (verdict === Verdict.Forward && (packet.retain || this.audience.wanted(topic))) this.forwarder.forward(topic, payload, packet.qos === 0 ? 0 : 1, packet.retain);
    packet.topic = DROP_TOPIC;
    packet.retain = false;
  };

  private readonly authorizeSubscribe = (client: GatewayClient | null, sub: Subscription, callback: (err: Error | null, sub?: Subscription | null) => void): void => {
    const identity = client?.gw;
    if (identity && canSubscribe(identity.type === 'device' ? { deviceId: identity.ctx.device.id } : { principal: identity.principal }, sub.topic)) {
      if (identity.type === 'account' && sub.topic.startsWith('alerts/')) this.deps.onQueueSubscribe?.(identity.principal, sub.topic.slice('alerts/'.length));
      const filter = this.audience.granted(sub.topic);
      const shared = this.deps.transport?.relayFilters;
      if (!shared || filter === undefined) return callback(null, sub);
      // cluster mode: the SUBACK waits until Redis has taken the filter and told the live nodes (see RelayAudience);
      // a filter it did not take fails the subscription (Aedes closes the connection, the client subscribes again)
      shared.share(filter).then(() => callback(null, sub), (err: Error) => {
        this.deps.log.warn({ err, filter }, 'mqtt subscription failed: the other nodes could not be told of its filter (Redis)');
        callback(err);
      });
      return;
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
      // a field protocol's bytes that named no registered device: nobody to tell
      if (r.deviceId === '') continue;
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

  /** The acceptor processes' ids (none without `mqtt.acceptors`). */
  acceptorPids(): number[] {
    return this.acceptors?.pids() ?? [];
  }

  /** With `mqtt.acceptors`: the connections each holds, and how many they accepted themselves or were handed. */
  acceptorStats(): ReturnType<Acceptors['stats']> | undefined {
    return this.acceptors?.stats();
  }

  async close(): Promise<void> {
    this.ws?.close();
    for (const server of [this.tcp, this.tlsListener ?? this.tls]) if (server) server.close();
    this.acceptors?.stopAccepting();
    this.acceptors?.holdConnections();
    this.proxy?.close();
    for (const off of this.registryListeners.splice(0)) off();
    this.login.cancelHeld();
    // Aedes closes the sessions it knows; the sockets still logging in, or waiting to, are ours to close
    this.closing = true;
    for (const stream of this.waiting?.clear() ?? []) stream.destroy();
    for (const stream of this.pendingStreams) stream.destroy();
    const closed = withoutStackTraces(() => new Promise<void>((resolve) => this.aedes.close(() => resolve())));
    // In a cluster, a session's close waits for Redis (its will, its `$SYS` notice): with Redis gone it
    // would wait forever. Past the grace the transport's close drops the connections, which fails those
    // waits, and the sessions end then.
    await (this.deps.transport ? withinCloseGrace(closed) : closed);
    this.login.close();
  }

  /**
   * Closes the devices' sockets the acceptor processes still hold, all at once: the last step of the
   * gateway's stop (see `Acceptors.holdConnections`). Without acceptors the sessions' close did it.
   */
  dropConnections(): void {
    this.acceptors?.close();
  }
}

/**
 * Runs `fn` with stack traces off. Aedes closes its sessions in one synchronous loop, and each
 * session's close makes an Error for its pending writes' callbacks (nearly always none): at 100,000
 * sessions, capturing their stacks took a fifth of the close's CPU samples (docs/performance.md)
 * while the devices waited to reconnect. Nothing is thrown there; the limit is back when `fn` returns.
 */
function withoutStackTraces<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
