/**
 * A standalone photoelectric smoke alarm (独立式感烟火灾探测报警器), common in old communities: it
 * reports obscuration, room temperature and battery. Clean air reads a few hundredths of a dB/m
 * with sensor noise; smoke makes the reading approach its level with a time constant, and the alarm
 * sounds above a threshold and clears below a lower one (hysteresis, as the detector does). The
 * battery runs down over years, faster while the sounder is on; low battery is reported once.
 */
import type { SmokeDetectorTelemetry } from '../../ingest/index.js';
import { clamp, hourOfDay, round } from '../random.js';
import { DeviceModel, param, type Action } from './model.js';

export interface SmokeDetectorOptions {
  /** dB/m at which the alarm sounds (EN 14604 / GB 20517 detectors respond around 0.1 to 0.2). */
  alarmThreshold?: number;
  /** Battery percentage lost per day in standby (a 10-year lithium cell: about 0.025 %/day). */
  drainPerDay?: number;
  lowBatteryPercent?: number;
  /** Starting battery level; random between 40 and 100 when not set. */
  battery?: number;
  seed?: number | string;
}

/** Sounder current drains the cell much faster than standby. */
const ALARM_DRAIN_PER_HOUR = 0.5;

export class SmokeDetectorModel extends DeviceModel<SmokeDetectorTelemetry> {
  readonly kind = 'smoke_detector' as const;
  private readonly threshold: number;
  private readonly drainPerDay: number;
  private readonly lowBattery: number;
  private readonly baseline: number;
  private readonly roomTemp: number;
  smoke: number;
  /** Obscuration the room is heading to (0 = clean air). */
  private smokeTarget = 0;
  private smokeTau = 20;
  private heat = 0;
  battery: number;
  alarming = false;
  private lowBatteryReported = false;

  constructor(id: string, opts: SmokeDetectorOptions = {}) {
    super(id, opts.seed ?? id, 1);
    this.threshold = opts.alarmThreshold ?? 0.15;
    this.drainPerDay = opts.drainPerDay ?? 0.025;
    this.lowBattery = opts.lowBatteryPercent ?? 20;
    this.baseline = this.rng.range(0.01, 0.03);
    this.smoke = this.baseline;
    this.roomTemp = this.rng.range(21, 26);
    this.battery = opts.battery ?? this.rng.range(40, 100);
    this.lowBatteryReported = this.battery <= this.lowBattery;
  }

  readonly actions: Readonly<Record<string, Action>> = {
    /** Smoke reaches the detector: obscuration heads to `level` dB/m within about `rampS` seconds. */
    smoke: (p) => {
      this.smokeTarget = param(p, 'level', 0.6);
      this.smokeTau = param(p, 'rampS', 30) / 3;
    },
    clearSmoke: (p) => {
      this.smokeTarget = 0;
      this.smokeTau = param(p, 'rampS', 60) / 3;
    },
    tamper: () => this.emit({ type: 'tamper' }),
    /** A cell at its end: the next step crosses the low-battery level and reports it. */
    drainBattery: (p) => { this.battery = Math.min(this.battery, param(p, 'to', this.lowBattery - 0.5)); this.lowBatteryReported = false; },
    replaceBattery: () => { this.battery = 100; this.lowBatteryReported = false; },
  };

  protected advance(dt: number): void {
    const target = this.baseline + this.smokeTarget;
    this.smoke += (target - this.smoke) * (1 - Math.exp(-dt / Math.max(1, this.smokeTau)));
    // a real fire warms the room as it smokes it
    this.heat += (this.smokeTarget * 15 - this.heat) * (1 - Math.exp(-dt / 120));
    if (!this.alarming && this.smoke >= this.threshold) {
      this.alarming = true;
      this.emit({ type: 'alarm' });
    } else if (this.alarming && this.smoke < this.threshold * 0.7) {
      this.alarming = false;
      this.emit({ type: 'alarm_cleared' });
    }
    this.battery = Math.max(0, this.battery - (this.drainPerDay / 86400) * dt - (this.alarming ? (ALARM_DRAIN_PER_HOUR / 3600) * dt : 0));
    if (!this.lowBatteryReported && this.battery <= this.lowBattery) {
      this.lowBatteryReported = true;
      this.emit({ type: 'low_battery', battery: round(this.battery, 1) });
    }
  }

  protected reading(now: number): SmokeDetectorTelemetry {
    // indoor temperature swings a couple of degrees over the day, warmest mid-afternoon
    const diurnal = 1.5 * Math.sin(((hourOfDay(now) - 9) / 24) * 2 * Math.PI);
    return {
      smoke: round(clamp(this.smoke + this.rng.gauss(0, 0.002), 0, 100), 3),
      temperature: round(clamp(this.roomTemp + diurnal + this.heat + this.rng.gauss(0, 0.1), -50, 200), 1),
      battery: round(clamp(this.battery, 0, 100), 1),
    };
  }
}
