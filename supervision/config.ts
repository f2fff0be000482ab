/**
 * The `supervision` section of the settings: maintenance visits, rectification orders, scorecards
 * and the published ranking. Durations as in the alerts settings (core/duration.ts). Figures marked
 * (practice) in DOMAIN.md are defaults here, never constants in the code.
 */
import { z } from 'zod';
import { durationSchema as duration } from '../core/duration.js';
import { ELEVATOR_MODES } from '../ingest/index.js';

export const visitsConfigSchema = z.object({
  /** A visit is valid when the elevator's telemetry shows one of these modes for at least `minModeDuration` during it. */
  modes: z.array(z.enum(ELEVATOR_MODES)).min(1).default(['inspection', 'maintenance']),
  /** (practice) 20 minutes of inspection / maintenance mode make a visit real. */
  minModeDuration: duration.prefault('20m'),
  /** A reading's mode is taken to last until the next reading, but no longer than this (a silent terminal proves nothing). */
  maxReadingGap: duration.prefault('5m'),
  /** A visit nobody finished is ended by the gateway after this long, and judged on what the telemetry showed. */
  maxOpen: duration.prefault('12h'),
  /** How often the timer leader looks for visits left open past `maxOpen` (a manual clock also triggers it). */
  checkEvery: duration.prefault('30s'),
});

export const ordersConfigSchema = z.object({
  /** Largest attachment accepted (bytes). */
  attachmentMaxBytes: z.number().int().min(1024).max(100 * 1024 * 1024).default(10 * 1024 * 1024),
  /** Media types accepted, checked against the file's own first bytes, not only its declared type. */
  attachmentTypes: z.array(z.enum(['image/jpeg', 'image/png', 'application/pdf'])).min(1).default(['image/jpeg', 'image/png', 'application/pdf']),
  /** How often the timer leader looks for orders past their deadline (a manual clock also triggers it). */
  checkEvery: duration.prefault('30s'),
});

export const scorecardsConfigSchema = z.object({
  /** The maintenance unit's response to a trapped-passenger alert counts within this (3-minute response rate). */
  responseWithin: duration.prefault('3m'),
  /** TSG T5002: a valid maintenance visit at least this often. */
  maintenanceInterval: duration.prefault('15d'),
});

export const rankingConfigSchema = z.object({
  /** Places on the red (best) and black (worst) lists unless a query asks for other sizes. */
  red: z.number().int().min(0).max(100).default(5),
  black: z.number().int().min(0).max(100).default(5),
  /** Publish the ranking on a public read-only page (/public/rankings), without login. */
  public: z.boolean().default(false),
});

export const supervisionConfigSchema = z.object({
  visits: visitsConfigSchema.prefault({}),
  orders: ordersConfigSchema.prefault({}),
  scorecards: scorecardsConfigSchema.prefault({}),
  ranking: rankingConfigSchema.prefault({}),
});

export type SupervisionConfig = z.infer<typeof supervisionConfigSchema>;
export type VisitsConfig = z.infer<typeof visitsConfigSchema>;
export type OrdersConfig = z.infer<typeof ordersConfigSchema>;
export type ScorecardsConfig = z.infer<typeof scorecardsConfigSchema>;
export type RankingConfig = z.infer<typeof rankingConfigSchema>;
