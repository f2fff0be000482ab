/**
 * What a field-protocol adapter (HTTP devices, NB-IoT platform pushes, GB/T 26875.3, Modbus) is
 * given to feed the gateway: the same pipeline as MQTT (the kind's schema, dead letters, presence,
 * rules), with an answer per message so that the adapter acknowledges only once its data is durable.
 *
 * The adapters decode their protocol into our device payload (SPEC 2: the kind's fields, `ts`,
 * events with `type`) and hand over plain objects; validation is never theirs to repeat. Bytes that
 * cannot be decoded, or that name no registered device, are theirs to reject here: a dead letter
 * with the reason and the raw bytes, counted.
 *
 * The implementation is the composition root's (gateway/field-ingress.ts); adapters depend only on
 * this interface, so each is tested against the real gateway without knowing how it is wired.
 */
import type { Channel, DeviceKind, Rejection, RejectReason } from '../ingest/index.js';

export const FIELD_PROTOCOLS = ['http', 'onenet', 'ctwing', 'gb26875', 'modbus'] as const;
export type FieldProtocol = (typeof FIELD_PROTOCOLS)[number];

/** A registered device as an adapter sees it. Opaque beyond these fields: pass it back to `submit`. */
export interface FieldDevice {
  readonly id: string;
  readonly kind: DeviceKind;
  /** The registry's model (型号): selects an NB-IoT decoder or a Modbus register map. */
  readonly model: string | undefined;
}

/** What became of one message handed to `submit`. */
export interface SubmitResult {
  /** Objects stored (and evaluated by the rules). */
  accepted: number;
  /** This message's rejections, each also kept as a dead letter and explained on `devices/{id}/errors`. */
  rejections: Rejection[];
}

/**
 * Why bytes were refused before they reached a device's schema (a dead letter's `reason`):
 * - `bad_frame`: not a frame of the protocol (checksum, markers, length, truncated);
 * - `bad_signature`: a push whose signature or secret does not verify;
 * - `unknown_device`: a well-formed message naming no registered device (IMEI, UITD address);
 * - `undecodable`: a well-formed message the device model's decoder cannot map onto our fields.
 */
export const PROTOCOL_REJECT_REASONS = ['bad_frame', 'bad_signature', 'unknown_device', 'undecodable'] as const satisfies readonly RejectReason[];
export type ProtocolRejectReason = (typeof PROTOCOL_REJECT_REASONS)[number];

export interface ProtocolRejection {
  protocol: FieldProtocol;
  reason: ProtocolRejectReason;
  /** Said to a person: what was wrong and what to check (Chinese first is welcome, English required). */
  message: string;
  /** The raw bytes (kept as hex) or text, bounded by `ingest.deadLetterPayloadBytes`. */
  raw: Buffer | string;
  /** The device, when known (a bad frame on a connection whose device is known). */
  deviceId?: string | undefined;
  /** Where it came from, e.g. the remote address or the push instance; kept in the dead letter's `topic`. */
  source?: string | undefined;
}

export interface DeviceIngress {
  /** Lookups; undefined for unknown and for disabled devices. */
  byId(id: string): FieldDevice | undefined;
  /** By IMEI (15 digits), an optional device attribute. */
  byImei(imei: string): FieldDevice | undefined;
  /** By GB/T 26875.3 source address: 12 lower-case hex digits in wire order, e.g. `40e201000000`. */
  byUitdAddress(address: string): FieldDevice | undefined;

  /**
   * Hands decoded objects of one message to the pipeline. Resolves once they (and their dead
   * letters) are durable; rejects if the store did not take them, so the adapter must not
   * acknowledge (the sender retries). Never rejects for bad data: that is in `rejections`.
   */
  submit(device: FieldDevice, channel: Channel, objects: readonly Record<string, unknown>[], protocol: FieldProtocol): Promise<SubmitResult>;
  /** The same for a JSON payload as a device would publish it over MQTT (the HTTP device API). */
  submitPayload(device: FieldDevice, channel: Channel, payload: Buffer, protocol: FieldProtocol): Promise<SubmitResult>;
  /** The device is alive though it sent no data (a heartbeat frame, a platform's "online"): it is not offline. */
  heartbeat(device: FieldDevice, protocol: FieldProtocol): void;
  /** A connection-oriented device (GB/T 26875.3 over TCP) connected; `connection` identifies it, as for MQTT. Resolves when its rule state is ready. */
  connected(device: FieldDevice, connection: object): Promise<void>;
  disconnected(device: FieldDevice, connection: object): void;
  /** A dead letter for bytes that never reached a device's schema; counted as `rejected` of that reason. */
  reject(rejection: ProtocolRejection): void;
  /**
   * Adapter metrics: `gateway_protocol_messages_total{protocol, outcome}`. Outcomes: `accepted`,
   * `rejected` (objects), `duplicate`, `bad_signature`, `unknown_device`, `bad_frame`, `undecodable`,
   * `heartbeat`, `ignored` (a message type we do not use), `offline` (a platform says a device
   * sleeps), `throttled` (HTTP: over the device's rate), `connection_refused` (GB/T 26875.3: past
   * maxConnections), and for Modbus `poll_ok`, `poll_failed`, `poll_timeout`.
   */
  count(protocol: FieldProtocol, outcome: string, n?: number): void;
  /** Open connections or sessions of an adapter: `gateway_protocol_connections{protocol}`. */
  connections(protocol: FieldProtocol, delta: number): void;
}
