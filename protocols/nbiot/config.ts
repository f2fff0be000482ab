/**
 * Settings of the NB-IoT platform push adapter (`protocols.nbiot`): one entry per push instance
 * configured on a carrier platform, and the device-model decoders that turn a vendor payload into
 * our device payload (SPEC 2). Every field has a default, so `nbiotSettingsSchema.parse({})` is the
 * adapter switched on with no instance (every push answers 404) and only the built-in decoders.
 *
 * A decoder maps in two steps, both data, so a new vendor is configuration, not code:
 * 1. `frame` (optional): bytes (OneNET legacy hex in `3200_0_5750`, CTWing transparent `APPdata`,
 *    OneNET Studio `bin_data` or a hex param) → named vendor fields, by offset and integer type;
 * 2. `telemetry` / `events`: vendor fields (those from the frame, or a JSON payload's own fields:
 *    CTWing profile `serviceData`, OneNET Studio thing-model params) → our fields, scaled, and
 *    vendor status values → our event types.
 * Built-in models are in decoders.ts (BUILTIN_MODELS); a model here of the same name replaces one.
 */
import { z } from 'zod';
import { deviceKindSchema } from '../../ingest/index.js';

/** A push instance's name as it appears in the URL (`/ingest/onenet/<name>`). */
const instanceName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'instance names are 1-64 letters, digits, _ or -');

export const ONENET_DIALECTS = ['auto', 'legacy', 'studio'] as const;
export type OneNetDialect = (typeof ONENET_DIALECTS)[number];

const onenetInstanceSchema = z.object({
  /** The Token entered in the OneNET console (HTTP推送 / 推送实例). */
  token: z.string().min(8).max(128),
  /**
   * 安全模式 key. Studio: the 16-character key (AES-128-CBC, IV = key). Legacy: the 43-character
   * EncodingAESKey (AES-256-CBC). Absent: plaintext pushes only.
   */
  aesKey: z.string().optional(),
  /** `auto` tells the two generations apart per push (`signature` + string `msg` is Studio). */
  dialect: z.enum(ONENET_DIALECTS).default('auto'),
}).superRefine((v, ctx) => {
  if (v.aesKey === undefined) return;
  const studio = v.aesKey.length === 16 && Buffer.byteLength(v.aesKey, 'utf8') === 16;
  const legacy = /^[A-Za-z0-9+/]{43}$/.test(v.aesKey);
  if (!studio && !legacy) ctx.addIssue({ code: 'custom', path: ['aesKey'], message: 'aesKey must be the 16-character Studio key or the 43-character legacy EncodingAESKey' });
  else if (v.dialect === 'studio' && !studio) ctx.addIssue({ code: 'custom', path: ['aesKey'], message: 'a Studio instance takes the 16-character key' });
  else if (v.dialect === 'legacy' && !legacy) ctx.addIssue({ code: 'custom', path: ['aesKey'], message: 'a legacy instance takes the 43-character EncodingAESKey' });
});

const ctwingInstanceSchema = z.object({
  /** The secret in the subscribed URL (`?token=`): CTWing pushes carry no signature, so this and HTTPS are the proof. */
  token: z.string().min(16).max(256),
});

/** Vendor field name (a JSON key, or a frame field's name). */
const vendorField = z.string().min(1).max(64);

/** Integer types a frame field may have; multi-byte ones are big-endian unless `littleEndian`. */
export const FRAME_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32'] as const;
export type FrameType = (typeof FRAME_TYPES)[number];

const frameFieldSchema = z.object({
  at: z.number().int().min(0).max(1023),
  type: z.enum(FRAME_TYPES).default('u8'),
  littleEndian: z.boolean().default(false),
});

const frameSchema = z.object({
  /** Where the bytes are: the LwM2M resource (legacy `ds_id`, Studio param key) carrying the frame as hex. */
  resource: z.string().min(1).max(64).default('3200_0_5750'),
  /** Hex the frame must start with (a marker and version); a frame without it is undecodable. */
  header: z.string().regex(/^([0-9a-fA-F]{2}){0,16}$/).default(''),
  minLength: z.number().int().min(1).max(1024).default(1),
  fields: z.record(vendorField, frameFieldSchema),
});

/** One of our fields from a vendor field: `ours = vendor × scale + offset` (numbers), or `vendor ≠ 0` (`as: 'boolean'`). */
const fieldMapSchema = z.union([
  vendorField.transform((from) => ({ from, scale: 1, offset: 0, as: 'number' as const, optional: false })),
  z.object({
    from: vendorField,
    scale: z.number().default(1),
    offset: z.number().default(0),
    as: z.enum(['number', 'boolean']).default('number'),
    /** Absent from the payload: telemetry is still produced without it (only for the kind's optional fields). */
    optional: z.boolean().default(false),
  }),
]);

const eventMapSchema = z.object({
  /** Our event type (checked by the kind's schema on submit). */
  type: z.string().min(1).max(64),
  /** A test alarm (模拟报警): recorded, and goes to the property company only. */
  test: z.boolean().optional(),
  /** Our fields the event carries (e.g. `battery` of `low_battery`). */
  with: z.record(z.string().min(1).max(64), fieldMapSchema).optional(),
});

const eventRuleSchema = z.object({
  /** The vendor status field, e.g. LiAn `Alarm_Status`. */
  field: vendorField,
  /**
   * Its values (as text) → an event, or null: a known value that says nothing to store (静音,
   * 在线). A value not listed is ignored; a report with no listed value and no telemetry is
   * undecodable.
   */
  values: z.record(z.string().min(1).max(32), eventMapSchema.nullable()),
});

export const modelDecoderSchema = z.object({
  /** The device kind this model is; a device of another kind with this model is undecodable. */
  kind: deviceKindSchema,
  description: z.string().max(500).optional(),
  frame: frameSchema.optional(),
  /**
   * Our telemetry fields. A telemetry object is produced only when every non-optional one is in
   * the payload (a kind's telemetry needs all its fields; a partial reading would be a dead letter).
   */
  telemetry: z.record(z.string().min(1).max(64), fieldMapSchema).default({}),
  events: z.array(eventRuleSchema).max(16).default([]),
});

export const nbiotSettingsSchema = z.object({
  /** OneNET push instances (legacy HTTP推送 and Studio 推送实例): `/api/v1/ingest/onenet/<name>`. */
  onenet: z.record(instanceName, onenetInstanceSchema).default({}),
  /** CTWing/AEP subscriptions: `/api/v1/ingest/ctwing/<name>?token=<token>`. */
  ctwing: z.record(instanceName, ctwingInstanceSchema).default({}),
  /** Decoders by registry model (型号), in addition to (and replacing by name) the built-in ones. */
  models: z.record(z.string().min(1).max(64), modelDecoderSchema).default({}),
  /**
   * How long a delivered message's key is remembered to drop the platform's re-sends. Studio retries
   * for 2 h 45 min at most; legacy OneNET stops a push after 24 h of failures: 24 h covers both.
   */
  dedupeWindowMs: z.number().int().min(1000).max(7 * 86_400_000).default(86_400_000),
  /** Bound on remembered keys (~150 bytes each); the oldest are forgotten first. */
  maxDedupeEntries: z.number().int().min(100).max(10_000_000).default(100_000),
  /** Bound on the platform device ids (CTWing deviceId, OneNET dev_id) remembered → IMEI, for online/offline messages without an IMEI. */
  maxAliases: z.number().int().min(100).max(1_000_000).default(50_000),
  /** Messages of one legacy batch (`msg` array) handled; the rest are dead letters. */
  maxBatch: z.number().int().min(1).max(10_000).default(500),
  /** Request body limit of the push routes. */
  bodyLimitBytes: z.number().int().min(1024).max(4 * 1024 * 1024).default(256 * 1024),
  /**
   * The answer is sent by then: 503 if the store has not yet taken the data (the platform retries,
   * and the retry is a duplicate if the data was stored meanwhile). OneNET waits 5 s.
   */
  answerWithinMs: z.number().int().min(100).max(30_000).default(4000),
});

export type NbiotSettings = z.infer<typeof nbiotSettingsSchema>;
export type NbiotSettingsInput = z.input<typeof nbiotSettingsSchema>;
export type OneNetInstance = NbiotSettings['onenet'][string];
export type CtwingInstance = NbiotSettings['ctwing'][string];
export type ModelDecoder = z.infer<typeof modelDecoderSchema>;
export type ModelDecoderInput = z.input<typeof modelDecoderSchema>;
export type FieldMap = z.infer<typeof fieldMapSchema>;
