/**
 * The GB/T 26875.3 server's settings (config key `protocols.gb26875`, env `GB26875_PORT`). Every
 * field has a default, so `gb26875SettingsSchema.parse({})` is a server that is off.
 */
import { z } from 'zod';

const address = z.string().regex(/^[0-9a-fA-F]{12}$/, '12 hex digits (6 bytes, wire order)').transform((s) => s.toLowerCase());

/** Per device model (the registry's 型号): what its transmission devices do differently from the standard. */
export const gb26875ModelSchema = z.object({
  /**
   * The model reports a real fire as 0x0002 (bit0 = 0, which the standard reads as 测试: DG's capture
   * does). Set it for such a model, or its fires are tests that never reach the fire service.
   */
  ignoreTestBit: z.boolean().default(false),
});
export type Gb26875Model = z.infer<typeof gb26875ModelSchema>;

export const gb26875SettingsSchema = z.object({
  /** TCP port to listen on; unset = the server is off (SPEC 12). 0 = an ephemeral port (tests). The standard names none; DG uses 7533. */
  port: z.number().int().min(0).max(65535).optional(),
  host: z.string().default('0.0.0.0'),
  /** Our address as the source of 确认 / 否认. All-zero is what captured centres send (gb26875-3.md §1 Addresses). */
  centreAddress: address.default('000000000000'),
  /**
   * No frame for this long closes the connection (the device reconnects). GB 50440 has the centre
   * patrol each UITD at least every 2 h and devices send type 21 at least that often; 3 h leaves
   * one missed patrol of slack without holding dead sockets for ever.
   */
  idleTimeoutMs: z.number().int().min(1000).default(3 * 3600_000),
  /** A connection that sends no good frame of a registered device within this time is closed (port scanners, wrong protocol). */
  firstFrameTimeoutMs: z.number().int().min(100).default(60_000),
  /**
   * An incomplete frame waiting longer than this is dropped as truncated and the stream rescanned:
   * a split frame arrives within milliseconds, and a false '@@' in garbage must not stall the
   * frames behind it until the device's 10 s retransmission (§3.1).
   */
  frameTimeoutMs: z.number().int().min(50).default(5000),
  /** Open connections; past it a new one is closed at once. A community has a handful of UITDs, a city a few thousand. */
  maxConnections: z.number().int().min(1).default(2000),
  /** Bad frames (checksum, markers, length, garbage runs, unknown address) per minute before the connection is closed: a line with noise has a few, a flood has thousands. */
  maxBadFramesPerMinute: z.number().int().min(1).default(30),
  /** Dead letters kept per connection per minute; the rest of the bad frames are only counted, so a flood cannot fill the dead-letter store. */
  deadLettersPerMinute: z.number().int().min(0).default(10),
  /** A frame with the serial and content of one already stored within this window is a retransmission: confirmed again, not stored twice. 3 retries × ≤ 10 s (§3.1) plus a reconnect fit in 2 min. */
  duplicateWindowMs: z.number().int().min(0).default(120_000),
  /**
   * Time labels are the device's clock. Within [now − maxPast, now + maxFuture] they are the
   * objects' `ts`; outside, the receive time is used instead, so a UITD whose clock was reset
   * still gets its alarm through. Kept inside the ingest's own limits (7 days, 5 min), which
   * would otherwise refuse the object.
   */
  timeLabelMaxPastMs: z.number().int().min(0).default(6 * 24 * 3600_000),
  timeLabelMaxFutureMs: z.number().int().min(0).default(60_000),
  models: z.record(z.string(), gb26875ModelSchema).default({}),
});
export type Gb26875Settings = z.infer<typeof gb26875SettingsSchema>;
