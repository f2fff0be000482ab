/**
 * The ingest capability's settings, each a section of the gateway's config file (the composition
 * root's gateway/config.ts assembles them). Defaults live here, each with why.
 */
import { z } from 'zod';

/** Where readings go: InfluxDB when `url` is set, else the embedded store. */
export const influxSettingsSchema = z.object({
  /** Unset: the embedded time-series store is used. */
  url: z.url().optional(),
  /** 1 = InfluxDB 1.x HTTP API through `influx`; 2 = InfluxDB 2.x / 1.8+ through `@influxdata/influxdb-client`. */
  version: z.enum(['1', '2']).default('1'),
  database: z.string().default('iot'),
  username: z.string().optional(),
  password: z.string().optional(),
  token: z.string().optional(),
  org: z.string().optional(),
  bucket: z.string().optional(),
});
export type InfluxSettings = z.infer<typeof influxSettingsSchema>;

/** How readings are batched, buffered through outages and kept. */
export const timeseriesSettingsSchema = z.object({
  /** Points per write to the backend. InfluxDB is fastest around 5,000 points per request. */
  batchSize: z.number().int().min(1).max(100_000).default(5000),
  /** Bytes of line protocol per write request. */
  batchBytes: z.number().int().min(1024).default(4 * 1024 * 1024),
  /** Longest a point waits before it is flushed to InfluxDB. */
  flushIntervalMs: z.number().int().min(10).default(1000),
  /** Embedded store: readings older than this are deleted. */
  retentionDays: z.number().min(0.001).default(30),
  /** Outage buffer cap on disk; past it the oldest segments are dropped and counted. */
  bufferMaxBytes: z.number().int().min(1024).default(2 * 1024 * 1024 * 1024),
  /** Size of one outage-buffer segment file. */
  bufferSegmentBytes: z.number().int().min(1024).default(16 * 1024 * 1024),
  retry: z.object({
    initialDelayMs: z.number().int().min(1).default(500),
    maxDelayMs: z.number().int().min(1).default(30_000),
  }).prefault({}),
});
export type TimeseriesSettings = z.infer<typeof timeseriesSettingsSchema>;

/** What a device message may be: past these limits it is a dead letter. */
export const ingestLimitsSchema = z.object({
  /** Largest accepted payload; a larger one is a dead letter (reason too_large). */
  maxPayloadBytes: z.number().int().min(64).default(256 * 1024),
  /**
   * Deepest nesting of arrays and objects in a payload; deeper is a dead letter (reason too_deep),
   * checked on the bytes before parsing. Real payloads nest 2 levels (a batch of flat objects);
   * 16 leaves room for firmware diagnostics in extra fields while staying hundreds of times
   * below the depth at which recursive JSON handling overflows the stack. At least 2, so that
   * a batch is always accepted.
   */
  maxDepth: z.number().int().min(2).max(256).default(16),
  /** Objects accepted in one batch message. */
  maxBatchObjects: z.number().int().min(1).default(1000),
  /** Clock skew tolerated for device timestamps in the future. */
  maxFutureMs: z.number().int().min(0).default(5 * 60_000),
  /** Oldest device timestamp accepted (a device replaying its own buffer after an outage). */
  maxPastMs: z.number().int().min(0).default(7 * 24 * 3600_000),
  /** Dead letters kept; past it the oldest are deleted (counted). */
  deadLetterCap: z.number().int().min(100).default(100_000),
  /** First bytes of a rejected payload kept with the dead letter. */
  deadLetterPayloadBytes: z.number().int().min(0).default(512),
});
export type IngestLimitsSettings = z.infer<typeof ingestLimitsSchema>;

/** Device presence (online, last seen, latest readings). */
export const presenceSettingsSchema = z.object({
  /** How often last-seen times and latest readings are saved to the store. */
  persistIntervalMs: z.number().int().min(100).default(5000),
});
export type PresenceSettings = z.infer<typeof presenceSettingsSchema>;
