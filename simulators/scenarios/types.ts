/**
 * A scenario is data: the devices it needs (by role), a script of steps at time offsets, what it
 * is expected to produce at the gateway (readings, events, dead letters, silence), and which alert
 * it is meant to raise. Offsets and durations are in simulated ms, so one script runs in real time
 * for a demo and 100 times faster in a test.
 */
import type { DeviceKind } from '../../ingest/index.js';
import type { MalformedKind } from '../device.js';

/** A value to compare a stored field with: equal, a bound, or one of a set. */
export type Matcher =
  | string | number | boolean
  | { lt?: number; lte?: number; gt?: number; gte?: number }
  | { oneOf: ReadonlyArray<string | number | boolean> };

type Target = {
  /** Simulated ms after the scenario starts. */
  at: number;
  /** Role the step applies to; default: the first role. */
  device?: string;
};

export type Step = Target & (
  /** Calls a model action (see the model class of the role's kind): a physically consistent change. */
  | { do: string; with?: Record<string, unknown> }
  /** Pins telemetry fields to values until released: a sensor reading what it should not. */
  | { force: Record<string, unknown> }
  | { release: true | string[] }
  /** Publishes an event as the device's own (stamped and numbered like the others). */
  | { event: { type: string } & Record<string, unknown> }
  /** Publishes `count` payloads the gateway must reject. */
  | { malformed: MalformedKind; count?: number }
  /** true: the device stops sending (it stays connected); false: it resumes. */
  | { silence: boolean }
  /** Drops and re-opens the connection `times` times, `everyMs` (simulated) apart. */
  | { reconnect: { times: number; everyMs: number } }
);

export type Expectation = {
  /** Role the expectation is about; default: the first role. */
  device?: string;
  /** Only what was sent at least this long (simulated ms) after the start counts: "after the repair". */
  after?: number;
  note?: string;
} & (
  /** At least one stored reading whose fields match. */
  | { telemetry: Record<string, Matcher> }
  /** At least one stored event whose fields match (`type` included). */
  | { event: { type: Matcher } & Record<string, Matcher> }
  /** At least `min` dead letters with this reason since the scenario started. */
  | { deadLetter: { reason: string; min: number } }
  /** No reading stored while the device was silenced by the script. */
  | { silence: true }
  /** At least `min` readings stored during the run. */
  | { readings: { min: number } }
);

export type AlertOutcome =
  /** The alert should open. */
  | 'raised'
  /** The condition is recorded but must not alert the authorities (e.g. during maintenance, or a fire device's test). */
  | 'suppressed'
  /** Recorded as suppressed, then sent to the authorities when the reason ended with the condition still holding (maintenance mode left with the fault still there). */
  | 'released'
  /**
   * A fire alarm that opens and is never confirmed, because nothing in its own building backs it (a
   * detector in another building does not): the property company hears it at once, the fire service
   * only when the verify window passes without a verdict (`forwardedUnverified`, reason
   * `verify_window_passed`), and it stays unconfirmed.
   */
  | 'unconfirmed';

/** Metadata for the alert rules: which alert this scenario is meant to trigger. */
export interface AlertIntent {
  type: string;
  expect: AlertOutcome;
  /**
   * Simulated ms after the start before which it must not be raised: a timeout that must not fire
   * early (a battery smoke alarm with a 24 h heartbeat is not offline at 24 h).
   */
  notBefore?: number;
  note?: string;
}

export interface Scenario {
  /** `family.what`, e.g. `elevator.trapped-levelled`. */
  name: string;
  title: { en: string; zh: string };
  description: string;
  /** Role → device kind; the first role is the scenario's main device. */
  devices: Readonly<Record<string, DeviceKind>>;
  /**
   * What a role's device is registered with, when the scenario depends on it: an elevator's rated
   * speed (its model is built to match), the building (fire alarms are corroborated only within
   * one), the device model (型号: rule settings such as the offline timeout may be set per model,
   * `alerts.rules.models`). Run on a fleet's free devices, they keep their own.
   */
  deviceFields?: Readonly<Record<string, { ratedSpeed?: number; building?: string; model?: string }>>;
  /** How long the scenario lasts (simulated ms); the devices go back to normal service after it. */
  durationMs: number;
  /** Reading interval of the scenario's devices while it runs (simulated ms), denser than usual. */
  reportIntervalMs?: number;
  steps: readonly Step[];
  expect: readonly Expectation[];
  /** The alerts it is meant to trigger (types of alerts/catalog.ts); empty: it shows stored data only. */
  alerts: readonly AlertIntent[];
}
