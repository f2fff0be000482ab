/**
 * The field protocols' way into the gateway (protocols/ingress.ts): registry lookups by id, IMEI
 * and transmission device address; device contexts kept current with the registry; messages
 * into the ingest pipeline with an answer each; heartbeats, connections and dead letters; metrics.
 *
 * Cluster mode: the node that hears a connectionless device (HTTP, NB-IoT, Modbus) keeps its rule
 * state, as for an MQTT connection (Presence.claim); taking it over reads that state from the store
 * first, so a device whose pushes land on another node after a balancer change loses nothing.
 */
import type { Registry, Device } from '../registry/index.js';
import { DeviceContext, type Channel, type IngestPipeline, type Presence } from '../ingest/index.js';
import type { Metrics } from '../core/metrics.js';
import type { DeviceIngress, FieldDevice, FieldProtocol, ProtocolRejection, SubmitResult } from '../protocols/index.js';

export interface FieldIngressDeps {
  registry: Registry;
  pipeline: IngestPipeline;
  presence: Presence;
  metrics: Metrics;
  /** Cluster mode: reads the device's rule state before this node keeps it (alerts.adoptDevice). */
  adopt?: ((deviceId: string) => Promise<void>) | undefined;
}

/** What `byId` and the others hand out: the adapter's view, with the context the pipeline needs. */
interface Handle extends FieldDevice { readonly ctx: DeviceContext }

export class FieldIngress implements DeviceIngress {
  private readonly handles = new Map<string, Handle>();
  /** Devices being taken over by this node (cluster mode): messages wait for their rule state. */
  private readonly adopting = new Map<string, Promise<void>>();
  private readonly forget = (id: string | Device) => { this.handles.delete(typeof id === 'string' ? id : id.id); };

  constructor(private readonly deps: FieldIngressDeps) {
    deps.registry.on('deviceChanged', this.forget);
    deps.registry.on('deviceRevoked', this.forget);
    deps.registry.on('deviceRemoved', this.forget);
  }

  close(): void {
    this.deps.registry.off('deviceChanged', this.forget);
    this.deps.registry.off('deviceRevoked', this.forget);
    this.deps.registry.off('deviceRemoved', this.forget);
  }

  byId(id: string): FieldDevice | undefined {
    return this.handleOf(this.deps.registry.getDevice(id));
  }

  byImei(imei: string): FieldDevice | undefined {
    return this.handleOf(this.deps.registry.deviceByImei(imei));
  }

  byUitdAddress(address: string): FieldDevice | undefined {
    return this.handleOf(this.deps.registry.deviceByUitdAddress(address.toLowerCase()));
  }

  async submit(device: FieldDevice, channel: Channel, objects: readonly Record<string, unknown>[], protocol: FieldProtocol): Promise<SubmitResult> {
    return this.submitPayload(device, channel, Buffer.from(JSON.stringify(objects.length === 1 ? objects[0] : objects)), protocol);
  }

  async submitPayload(device: FieldDevice, channel: Channel, payload: Buffer, protocol: FieldProtocol): Promise<SubmitResult> {
    const h = this.handle(device);
    await this.take(h.id);
    const result = await this.deps.pipeline.submit(h.ctx, channel, `${protocol}:${channel === 'event' ? h.ctx.eventsTopic : h.ctx.telemetryTopic}`, payload);
    if (result.accepted > 0) this.count(protocol, 'accepted', result.accepted);
    if (result.rejections.length > 0) this.count(protocol, 'rejected', result.rejections.length);
    return result;
  }

  heartbeat(device: FieldDevice, protocol: FieldProtocol): void {
    const h = this.handle(device);
    this.count(protocol, 'heartbeat');
    const taking = this.take(h.id);
    // a heartbeat has nothing to lose: if the rule state cannot be read now, the next message tries again
    taking.then(() => this.deps.pipeline.heartbeat(h.ctx), () => {});
  }

  async connected(device: FieldDevice, connection: object): Promise<void> {
    const h = this.handle(device);
    await this.deps.adopt?.(h.id);
    this.deps.presence.connected(h.id, connection);
  }

  disconnected(device: FieldDevice, connection: object): void {
    this.deps.presence.disconnected(device.id, connection);
  }

  reject(r: ProtocolRejection): void {
    this.count(r.protocol, r.reason);
    const deviceId = r.deviceId ?? '';
    const payload = typeof r.raw === 'string' ? r.raw : r.raw.toString('hex');
    this.deps.pipeline.deadLetter({ deviceId, topic: `${r.protocol}:${r.source ?? ''}`, reason: r.reason, message: r.message, payload });
  }

  count(protocol: FieldProtocol, outcome: string, n = 1): void {
    this.deps.metrics.protocolMessages.labels(protocol, outcome).inc(n);
  }

  connections(protocol: FieldProtocol, delta: number): void {
    this.deps.metrics.protocolConnections.labels(protocol).inc(delta);
  }

  private handleOf(device: Device | undefined): Handle | undefined {
    if (!device || device.disabled) return undefined;
    let h = this.handles.get(device.id);
    if (!h) {
      h = { id: device.id, kind: device.kind, model: device.model, ctx: new DeviceContext(device) };
      this.handles.set(device.id, h);
    }
    return h;
  }

  /** The adapter's device, as current as the registry: a device changed since it was looked up is looked up again. */
  private handle(device: FieldDevice): Handle {
    const h = this.handles.get(device.id) ?? this.handleOf(this.deps.registry.getDevice(device.id));
    // removed or disabled since: its messages still go to the context the adapter found it with
    return h ?? (device as Handle);
  }

  /** This node keeps the device's rule state from now (cluster mode), reading it first when it takes it over. */
  private take(id: string): Promise<void> {
    const pending = this.adopting.get(id);
    if (pending) return pending;
    if (!this.deps.presence.claim(id) || !this.deps.adopt) return Promise.resolve();
    const adopting = this.deps.adopt(id).finally(() => this.adopting.delete(id));
    this.adopting.set(id, adopting);
    return adopting;
  }
}
