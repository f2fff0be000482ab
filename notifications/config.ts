/**
 * Notification settings (`notifications` in the config file): the providers (channels/config.ts), and
 * how messages are paced, retried and escalated. Who hears what is not here: each party keeps its own
 * contacts and rules over the API (contacts/).
 */
import { z } from 'zod';
import { durationSchema as duration } from '../core/duration.js';
import { channelsSettingsSchema } from './channels/index.js';

const MIN = 60_000;

export const notificationsSettingsSchema = z.object({
  /** Off: no message is sent or queued; the contacts can still be kept. */
  enabled: z.boolean().default(true),
  channels: channelsSettingsSchema.prefault({}),
  /**
   * A recipient gets at most one message per window: what comes in between is merged into the next
   * one, never dropped (a burst of 30 offline pumps is one SMS, not 30). Critical alerts and voice
   * calls are sent at once, each on its own.
   */
  mergeWindowMs: duration.default(MIN),
  retry: z.object({
    /** A failed attempt (network, timeout, 5xx, throttled) is retried after this, doubling (with jitter) up to `maxMs`. */
    initialMs: duration.default(5000),
    maxMs: duration.default(5 * MIN),
    /** Attempts per message before it is given up (the delivery log says so). */
    maxAttempts: z.number().int().min(1).max(50).default(6),
  }).prefault({}),
  onCall: z.object({
    /**
     * A critical alert a party has not acknowledged: every `stepAfterMs`, the next person on the
     * party's on-call list gets an SMS; when the list is done, voice calls in the same order.
     */
    stepAfterMs: duration.default(5 * MIN),
    /**
     * Trapped passengers not acknowledged by the elevator's maintenance unit within this: a voice
     * call to the unit's 24 h phone (the registry's). The 3-minute response the regulators count.
     */
    trappedUnitCallAfterMs: duration.default(3 * MIN),
  }).prefault({}),
  /** Messages sent at once, over every channel. */
  concurrency: z.number().int().min(1).max(64).default(8),
  /** How often the outbox and the on-call chains are looked at (also whenever the alert clock moves). */
  checkEveryMs: duration.default(1000),
});
export type NotificationsSettings = z.output<typeof notificationsSettingsSchema>;
