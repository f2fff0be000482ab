/**
 * The `alerts` section of the settings: rule thresholds and timers per device kind (with overrides
 * per device id), the responsibility list (defaults in catalog.ts, overridden here), fire-alarm
 * confirmation, schedules, queue retention and webhooks. Durations are milliseconds or strings
 * such as "45s", "30m", "1h30m", "15d" (core/duration.ts).
 */
import { z } from 'zod';
import { ALERT_TYPES, ALERT_TYPE_NAMES, QUEUE_ROLES, SEVERITIES, type AlertType, type ResponsibilityEntry } from './catalog.js';
import { ELEVATOR_MODES } from '../ingest/index.js';
import { isQueueName, QUEUE_NAME_HINT } from '../registry/index.js';
import { durationSchema as duration } from '../core/duration.js';

const mpa = z.number().min(0).max(10);
const modes = z.array(z.enum(ELEVATOR_MODES));

export const elevatorRulesSchema = z.object({
  /** No valid data for this long: device.offline. */
  offlineAfter: duration.prefault('5m'),
  /** Occupied, door closed, not running, car levelled, held this long since the door closed / the car stopped. */
  trappedLevelledAfter: duration.prefault('2m'),
  /** The same with the car outside the door zone (not levelled): more likely a real entrapment. */
  trappedNotLevelledAfter: duration.prefault('1m'),
  /** A change of the presence sensor in a closed car counts only once it has held this long (sensors flicker). */
  presenceDebounce: duration.prefault('5s'),
  /** Practice: at least 45 s; 30 s raised false alarms. */
  stoppedOutsideDoorZoneAfter: duration.prefault('45s'),
  /** Practice: about 30 s of debounce; badly installed door switches report open doors for a moment. */
  doorOpenWhileRunningAfter: duration.prefault('30s'),
  movingWithDoorOpenAfter: duration.prefault('30s'),
  /**
   * Above the registry's rated speed × this: overspeed. The governor must trip at ≥ 115 % of rated
   * speed (GB 7588; DOMAIN.md, practitioner review), so a car faster than that is one the governor
   * should have stopped. Relative, because a fixed limit misses slow lifts and alarms fast ones cruising.
   */
  overspeedRatio: z.number().min(1).max(2).default(1.15),
  /**
   * Fallback for an elevator registered without a rated speed: above this speed (m/s), overspeed.
   * 2.5 m/s is the fixed limit used before rated speeds were read: right only for a car rated about
   * 2.2 m/s (2.5 / 1.15), so register the rated speed rather than rely on it.
   */
  overspeedMps: z.number().min(0).max(20).default(2.5),
  /** Overspeed ends at or below the limit in force minus this (a speed sensor hovering at the limit raises once). */
  overspeedHysteresisMps: z.number().min(0).default(0.2),
  /** Highest and lowest served floor; a reported floor beyond them is an overrun. Unset: only the device's own fault events. */
  topFloor: z.number().int().optional(),
  bottomFloor: z.number().int().optional(),
  safetyCircuitOpenAfter: duration.prefault(0),
  powerLostAfter: duration.prefault(0),
  /** Not running for this long: elevator.long_idle. */
  idleAfter: duration.prefault('24h'),
  /** Modes in which technicians trigger faults on purpose: alerts are recorded but not routed to the authorities. */
  suppressInModes: modes.default(['inspection', 'maintenance']),
  /** Modes that raise elevator.special_mode while the car is in them (fire return, emergency power, earthquake...). */
  alertModes: modes.default(['fire_return', 'firefighter', 'emergency_power', 'earthquake']),
  /**
   * Modes in which the car is under inspection or maintenance, besides `suppressInModes`: the car in
   * any of them continuously for `inspectionModeMaxDuration` raises elevator.inspection_mode_long.
   */
  maintenanceModes: modes.default(['inspection', 'maintenance']),
  /**
   * Practice (DOMAIN.md, practitioner review: "a few hours", 4 h): inspection or maintenance mode left
   * on longer hides every fault from the authorities, so it is an alert of its own.
   */
  inspectionModeMaxDuration: duration.prefault('4h'),
  /**
   * No valid maintenance visit (supervision's maintenance record: signed in and out, backed by the
   * elevator's telemetry) for this long: elevator.maintenance_overdue (market supervision). TSG T5002: 15 days.
   */
  maintenanceInterval: duration.prefault('15d'),
  /** Annual inspection due within this: elevator.inspection_due (the property company). */
  inspectionReminder: duration.prefault('30d'),
});

export const firePanelRulesSchema = z.object({
  /** GB 50440 / GB 25506: the centre and each panel or transmission device check each other at least every 2 hours; 15 min of margin. */
  offlineAfter: duration.prefault('135m'),
  powerFaultAfter: duration.prefault(0),
});

export const smokeDetectorRulesSchema = z.object({
  /**
   * Battery NB-IoT smoke alarms send a heartbeat every 12 to 24 h (practice, DOMAIN.md), so 25 h: one
   * missed heartbeat of the slowest is offline. The 2 h polling of GB 50440 is for panels and
   * transmission devices (fire_panel); a mains-powered detector that reports more often gets a
   * shorter timeout per model (`rules.models`).
   */
  offlineAfter: duration.prefault('25h'),
  lowBatteryPercent: z.number().min(0).max(100).default(20),
  batteryHysteresisPercent: z.number().min(0).max(100).default(5),
});

export const fireWaterRulesSchema = z.object({
  offlineAfter: duration.prefault('10m'),
  /**
   * Pipe network pressure below this (MPa) for `lowPressureAfter`: fire_water.low_pressure. The default
   * is for a sensor at the most unfavourable point, where standby pressure must be at least 0.15 MPa
   * (GB 50974; practice). A sensor elsewhere (at the pump outlet, low in the building) reads the
   * static head on top of it: set its own minimum per device (`rules.devices`).
   */
  minPressureMpa: mpa.default(0.15),
  pressureHysteresisMpa: mpa.default(0.02),
  lowPressureAfter: duration.prefault('60s'),
  minTankLevelM: z.number().min(0).max(200).default(1),
  /**
   * Tank / pool level above this (m) for `highTankAfter`: fire_water.high_tank (the float valve does not
   * close, water overflows). Unset: tank sizes differ, so only the device's own `tankHigh` switch counts.
   */
  tankHighLevelM: z.number().min(0).max(200).optional(),
  tankHysteresisM: z.number().min(0).default(0.05),
  lowTankAfter: duration.prefault('60s'),
  highTankAfter: duration.prefault('60s'),
  pumpFaultAfter: duration.prefault(0),
  /**
   * Pump control cabinet out of automatic (手动状态) this long: fire_water.pump_manual. Practice: the
   * weekly / monthly test runs switch it to manual for minutes; left so, the pumps will not start in a fire.
   */
  pumpManualAfter: duration.prefault('10m'),
  /** Signal valve reading closed this long: fire_water.valve_closed (the delay rides out a valve switch's bounce). */
  valveClosedAfter: duration.prefault('60s'),
});

/** A supply zone's outlet pressure limits (MPa); unset: the outlet's. */
const zoneLimits = z.object({ minMpa: mpa.optional(), maxMpa: mpa.optional() }).strict();

export const waterPumpRulesSchema = z.object({
  offlineAfter: duration.prefault('10m'),
  minOutletPressureMpa: mpa.default(0.1),
  maxOutletPressureMpa: mpa.default(0.8),
  pressureHysteresisMpa: mpa.default(0.02),
  outletPressureAfter: duration.prefault('60s'),
  minTankLevelM: z.number().min(0).max(200).default(0.5),
  tankHysteresisM: z.number().min(0).default(0.05),
  tankLowAfter: duration.prefault('60s'),
  pumpFaultAfter: duration.prefault(0),
  floodedAfter: duration.prefault(0),
  /** GB 5749-2022: turbidity at most 1 NTU; free chlorine 0.05 to 2 mg/L; pH 6.5 to 8.5. */
  maxTurbidityNtu: z.number().min(0).default(1),
  turbidityHysteresisNtu: z.number().min(0).default(0.1),
  minChlorineMgL: z.number().min(0).default(0.05),
  maxChlorineMgL: z.number().min(0).default(2),
  chlorineHysteresisMgL: z.number().min(0).default(0.01),
  minPh: z.number().min(0).max(14).default(6.5),
  maxPh: z.number().min(0).max(14).default(8.5),
  phHysteresis: z.number().min(0).default(0.1),
  /** Online analysers spike on air bubbles: a quality reading must stay out of range this long. */
  qualityAfter: duration.prefault('60s'),
  /**
   * Limits of each supply zone's outlet pressure (`outletPressureLow` / `Mid` / `High`): water.zone_pressure_low /
   * _high, one alert per zone (its subject), with `pressureHysteresisMpa` for `outletPressureAfter`. A limit
   * left unset is the outlet's (`minOutletPressureMpa` / `maxOutletPressureMpa`): a zone's right pressure is
   * its set point, which depends on the building, so set them per installation (set point ± 10–15 %).
   * A per-device override replaces the whole object.
   */
  zonePressure: z.object({
    low: zoneLimits.prefault({}),
    mid: zoneLimits.prefault({}),
    high: zoneLimits.prefault({}),
  }).prefault({}),
  /**
   * Municipal inlet pressure below this (MPa) for `inletPressureAfter`: water.inlet_pressure_low. Practice:
   * mains service pressure is rarely below 0.14 MPa, and a tank-fed room still runs at 0.1; raise it for
   * direct (叠压) boosting, which must not draw the mains down.
   */
  minInletPressureMpa: mpa.default(0.1),
  /** Mains pressure dips for minutes at the district's peaks: only a longer drop is worth an alert. */
  inletPressureAfter: duration.prefault('5m'),
  /** Pump-room smoke detector (`smoke: true`) this long: water.smoke. 0: the detector verifies before it reports. */
  smokeAfter: duration.prefault(0),
  /**
   * Pump-room temperature outside these (°C) for `climateAfter`: water.temperature_abnormal. Practice: below
   * 5 °C pipes and meters risk freezing; above 40 °C drives and motors derate (their rated ambient).
   */
  minTemperatureC: z.number().min(-50).max(200).default(5),
  maxTemperatureC: z.number().min(-50).max(200).default(40),
  temperatureHysteresisC: z.number().min(0).default(1),
  /** Relative humidity above this (%) for `climateAfter`: water.humidity_high. Practice: condensation in the control cabinets above ~85 %. */
  maxHumidityPercent: z.number().min(0).max(100).default(85),
  humidityHysteresisPercent: z.number().min(0).max(100).default(5),
  /** Room climate changes slowly and a door left open moves it for a while: it must stay out of range this long. */
  climateAfter: duration.prefault('10m'),
});

/**
 * Drainage (排水): sump pits and sewage-lift stations in basements and garages. The duty pump starts
 * and stops between two levels of its own controller; the alarm level sits above the standby pump's
 * start level, so a level held above it means the pumps are losing to the inflow.
 */
export const drainageRulesSchema = z.object({
  /**
   * Drainage monitors are pump-room RTUs reporting every 10 to 60 s, not battery sensors; in a storm a
   * pit fills in tens of minutes, so a longer silence would hide the very flooding they watch.
   */
  offlineAfter: duration.prefault('10m'),
  /**
   * Pit level (m above the pit floor) that raises drainage.high_level once held `highLevelAfter`. Practice:
   * pits are 1.5 to 3 m deep with the alarm level around 1.2 m, below the inlet pipe; set it per device
   * from the pit's own levels.
   */
  maxLevelM: z.number().min(0).max(200).default(1.2),
  levelHysteresisM: z.number().min(0).default(0.05),
  /**
   * The inflow's surge and a pump's start make the surface wave over the alarm level for seconds; a
   * pit that stays above it this long is filling faster than the pumps empty it. The high-level float
   * switch (`highLevel`, or the `high_level` event) raises at once: it is the backup for a level
   * transmitter that failed.
   */
  highLevelAfter: duration.prefault('60s'),
  pumpFaultAfter: duration.prefault(0),
  /** The floor sensor is a wet contact: water on the floor is already the incident. */
  floodedAfter: duration.prefault(0),
});

export const KIND_RULE_SCHEMAS = {
  elevator: elevatorRulesSchema,
  fire_panel: firePanelRulesSchema,
  smoke_detector: smokeDetectorRulesSchema,
  fire_water: fireWaterRulesSchema,
  water_pump: waterPumpRulesSchema,
  drainage: drainageRulesSchema,
} as const;

export type ElevatorRules = z.infer<typeof elevatorRulesSchema>;
export type FirePanelRules = z.infer<typeof firePanelRulesSchema>;
export type SmokeDetectorRules = z.infer<typeof smokeDetectorRulesSchema>;
export type FireWaterRules = z.infer<typeof fireWaterRulesSchema>;
export type WaterPumpRules = z.infer<typeof waterPumpRulesSchema>;
export type DrainageRules = z.infer<typeof drainageRulesSchema>;

/**
 * A per-device override: any setting of any kind (checked against the device's kind when it is
 * used, since the config does not know kinds). Unknown names are refused at boot.
 */
const deviceOverrideSchema = z.object({
  ...optionalNoDefaults(elevatorRulesSchema), ...optionalNoDefaults(firePanelRulesSchema), ...optionalNoDefaults(smokeDetectorRulesSchema),
  ...optionalNoDefaults(fireWaterRulesSchema), ...optionalNoDefaults(waterPumpRulesSchema), ...optionalNoDefaults(drainageRulesSchema),
}).strict();

/** `.partial()` would still fill in defaults (zod 4), and an override must carry only what it sets. */
function optionalNoDefaults(schema: z.ZodObject): Record<string, z.ZodType> {
  const out: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(schema.shape)) {
    let f = field as z.ZodType & { def: { type: string; innerType?: z.ZodType } };
    while (f.def.type === 'default' || f.def.type === 'prefault' || f.def.type === 'optional') f = f.def.innerType as typeof f;
    out[key] = f.optional();
  }
  return out;
}

const role = z.enum(QUEUE_ROLES);
const entryOverride = z.object({
  severity: z.enum(SEVERITIES),
  queues: z.array(role),
  ackWithin: duration.nullable(),
  resolveWithin: duration.nullable(),
  escalateTo: z.array(role),
  holdUntilConfirmed: z.array(role),
  autoClear: z.boolean(),
  label: z.object({ zh: z.string().min(1), en: z.string().min(1) }),
}).partial().strict();
type EntryOverride = z.infer<typeof entryOverride>;

const responsibilityOverride = entryOverride.extend({
  /** Differences per device kind. */
  kinds: z.partialRecord(z.enum(['elevator', 'fire_panel', 'smoke_detector', 'fire_water', 'water_pump', 'drainage']), entryOverride).optional(),
}).strict();

export interface Responsibility extends ResponsibilityEntry {
  kinds: Partial<Record<string, ResponsibilityEntry>>;
}
export type ResponsibilityList = Record<AlertType, Responsibility>;

function applyOverride(base: ResponsibilityEntry, o: EntryOverride | Partial<ResponsibilityEntry> | undefined): ResponsibilityEntry {
  if (!o) return base;
  const out: ResponsibilityEntry = { ...base, label: { ...base.label } };
  const src = o as Record<string, unknown>;
  for (const key of Object.keys(src)) {
    const v = src[key];
    if (v === undefined) continue;
    if (key === 'ackWithin') out.ackWithinMs = v as number | null;
    else if (key === 'resolveWithin') out.resolveWithinMs = v as number | null;
    else (out as unknown as Record<string, unknown>)[key] = v;
  }
  return out;
}

/** The shipped list merged with the installation's overrides, per type and per kind. */
export function buildResponsibilities(overrides: Partial<Record<AlertType, z.infer<typeof responsibilityOverride>>>): ResponsibilityList {
  const out = {} as ResponsibilityList;
  for (const type of ALERT_TYPE_NAMES) {
    const def = ALERT_TYPES[type] as { entry: ResponsibilityEntry; kinds?: Partial<Record<string, Partial<ResponsibilityEntry>>> };
    const o = overrides[type];
    const base = applyOverride(def.entry, o);
    const kinds: Partial<Record<string, ResponsibilityEntry>> = {};
    const kindNames = new Set([...Object.keys(def.kinds ?? {}), ...Object.keys(o?.kinds ?? {})]);
    for (const k of kindNames) kinds[k] = applyOverride(applyOverride(base, def.kinds?.[k]), o?.kinds?.[k as keyof typeof o.kinds]);
    out[type] = { ...base, kinds };
  }
  return out;
}

const queueName = z.string().refine(isQueueName, QUEUE_NAME_HINT);

export const webhookSchema = z.object({
  /** Names the delivery cursor in the store; change it and delivery starts again per `from`. */
  id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
  queue: queueName,
  url: z.url(),
  /** HMAC-SHA256 key; the receiver checks `X-Gateway-Signature: sha256=<hex of HMAC(secret, "<timestamp>.<body>")>`. */
  secret: z.string().min(16),
  timeout: duration.prefault('10s'),
  retryInitial: duration.prefault('1s'),
  retryMax: duration.prefault('5m'),
  /** A new webhook starts with the next message (`now`) or replays the queue's log (`start`). */
  from: z.enum(['now', 'start']).default('now'),
});
export type WebhookConfig = z.infer<typeof webhookSchema>;

export const alertsConfigSchema = z.object({
  /** How often the timer heap is checked (real time). Bounds how late a duration rule fires. */
  tickMs: z.number().int().min(10).max(10_000).default(250),
  /**
   * A reading whose device timestamp is this much older than the newest one already evaluated is
   * stored but not evaluated by the rules (back-filled history must not drive live state).
   */
  staleReadingAfter: duration.prefault('2m'),
  offline: z.object({
    /** Also watch devices that have never sent valid data (counted from their first sight by the gateway). */
    includeNeverSeen: z.boolean().default(false),
  }).prefault({}),
  fire: z.object({
    /** An unconfirmed alarm waits this long for the property company to verify or dismiss it, then goes to the fire service anyway. */
    verifyWindow: duration.prefault('3m'),
    /** A second detector, a flow switch or the panel within this window corroborates an alarm in the same building (or site, below). */
    corroborationWindow: duration.prefault('10m'),
    /**
     * Which sources count: `building` (default) only those whose registry device is in the same building
     * as the alarm's (a 小区 has many buildings, and a monthly sprinkler test in one must not confirm a
     * kitchen alarm in another: DOMAIN.md, practitioner review); devices without a building count only
     * among themselves, site-wide, as before. `site`: any source on the site (the behaviour before).
     * A second point of the same panel zone always confirms (GB 50116).
     */
    corroborateWithin: z.enum(['building', 'site']).default('building'),
  }).prefault({}),
  rescue: z.object({
    /**
     * Trapped passengers: the maintenance unit must arrive on site within this of the alert opening,
     * by the site's area (TSG T5001 / T5002 and city rules: 30 min in a city, 1 h elsewhere). It is the
     * alert's `deadlines.arrive`; missing it escalates once (`arrive_overdue`).
     */
    arriveWithin: z.object({ urban: duration.prefault('30m'), rural: duration.prefault('60m') }).prefault({}),
    /** Who hears a missed arrival deadline (market supervision supervises rescue). */
    escalateTo: z.array(role).default(['market-supervision']),
  }).prefault({}),
  suppression: z.object({
    /** Queues that do not get elevator alerts raised in inspection or maintenance mode (they stay in the ledger). */
    withholdFrom: z.array(role).default(['market-supervision', 'fire-service', 'maintenance']),
  }).prefault({}),
  schedules: z.object({
    /** node-cron expression for the inspection and maintenance checks. */
    cron: z.string().default('0 8 * * *'),
    /** Time zone of the cron expression and of inspection dates. */
    timezone: z.string().default('Asia/Shanghai'),
    runAtStart: z.boolean().default(true),
  }).prefault({}),
  queues: z.object({
    /** Queue messages older than this are deleted (the ledger keeps alerts and their history). */
    retentionDays: z.number().min(1).default(400),
    pageLimit: z.number().int().min(1).max(10_000).default(1000),
  }).prefault({}),
  sse: z.object({
    heartbeat: duration.prefault('15s'),
    /** A stream client that falls this many messages behind is cut off; it resumes with Last-Event-ID. */
    maxPending: z.number().int().min(10).default(1000),
  }).prefault({}),
  webhooks: z.array(webhookSchema).default([]),
  rules: z.object({
    elevator: elevatorRulesSchema.prefault({}),
    fire_panel: firePanelRulesSchema.prefault({}),
    smoke_detector: smokeDetectorRulesSchema.prefault({}),
    fire_water: fireWaterRulesSchema.prefault({}),
    water_pump: waterPumpRulesSchema.prefault({}),
    drainage: drainageRulesSchema.prefault({}),
    /**
     * Overrides keyed by device model (the registry device's `model`), applied over the kind's settings
     * and under the per-device ones: a heartbeat interval is the model's, e.g.
     * `{"NB-SD-100": {"offlineAfter": "25h"}, "MAINS-SD-2": {"offlineAfter": "135m"}}`.
     */
    models: z.record(z.string(), deviceOverrideSchema).default({}),
    /** Overrides keyed by device id, e.g. `{"elev-7": {"overspeedRatio": 1.1, "topFloor": 18}}`. */
    devices: z.record(z.string(), deviceOverrideSchema).default({}),
  }).prefault({}),
  /** Overrides of the responsibility list, keyed by alert type (see catalog.ts for the defaults). */
  responsibilities: z.partialRecord(z.enum(ALERT_TYPE_NAMES as [AlertType, ...AlertType[]]), responsibilityOverride).default({})
    .transform((o) => buildResponsibilities(o)),
});

export type AlertsConfig = z.infer<typeof alertsConfigSchema>;
