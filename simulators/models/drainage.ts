/**
 * Drainage (排水): a sump pit in a basement garage with two submersible pumps, lead and lag. Water
 * comes in as seepage, as the basement's sewage (following the day's peaks) and as rain from the
 * ramps and light wells; the lead pump starts at its start level and runs the pit down to the stop
 * level, the lag pump joins above the assist level, and the lead alternates every cycle so both wear
 * evenly. The float switch sits above the alarm level. A pit that overflows wets the floor sensor
 * around it; the floor dries a while after the pit is back below its rim. Scenario actions bring a
 * cloudburst, trip a pump or cut the pump cabinet's power.
 */
import type { DrainageTelemetry } from '../../ingest/index.js';
import { clamp, hourOfDay, round } from '../random.js';
import { DeviceModel, param, type Action } from './model.js';

export interface DrainageOptions {
  /** Pit floor area (m²) and depth to its rim (m). */
  pitAreaM2?: number;
  pitDepthM?: number;
  /** Flow one pump delivers (m³/h). */
  pumpFlow?: number;
  /** Ramp and light-well area draining into the pit (m²): rain in mm/h times this is the rain inflow. */
  catchmentM2?: number;
  seed?: number | string;
}

/** Controller levels (m above the pit floor): lead pump start and stop, lag pump start, float switch. */
const START_M = 0.9, STOP_M = 0.3, ASSIST_M = 1.1, FLOAT_M = 1.35;
/** The float switch drops out a little below where it trips (its cable's swing). */
const FLOAT_RESET_M = 1.25;
/** After the pit is back below its rim, the floor sensor stays wet this long (water drains back by the floor gullies). */
const FLOOR_DRY_S = 120;
const PUMPS = ['P1', 'P2'] as const;

export class DrainageModel extends DeviceModel<DrainageTelemetry> {
  readonly kind = 'drainage' as const;
  private readonly pitArea: number;
  private readonly pitDepth: number;
  private readonly pumpFlow: number;
  private readonly catchment: number;
  level: number;
  /** Which pumps run, by index in PUMPS. */
  private readonly running = [false, false];
  private readonly faulted = [false, false];
  /** Index of the lead pump; it alternates at the end of each cycle. */
  private lead = 0;
  powerOk = true;
  highLevel = false;
  flooded = false;
  private wetFor = 0;
  /** Rain on the catchment (mm/h); a scenario's storm holds it until `stopRain`. */
  private rain = 0;
  private showerLeftS = 0;
  private stormForced = false;

  constructor(id: string, opts: DrainageOptions = {}) {
    super(id, opts.seed ?? id, 1);
    this.pitArea = opts.pitAreaM2 ?? 2.5;
    this.pitDepth = opts.pitDepthM ?? 2;
    this.pumpFlow = opts.pumpFlow ?? 15;
    this.catchment = opts.catchmentM2 ?? 400;
    this.level = this.rng.range(STOP_M, START_M);
  }

  readonly actions: Readonly<Record<string, Action>> = {
    /** A cloudburst of `mmPerHour` on the ramps until `stopRain` (150 mm/h: 60 m³/h on 400 m², twice what both pumps move). */
    rain: (p) => { this.rain = param(p, 'mmPerHour', 150); this.stormForced = true; },
    stopRain: () => { this.rain = 0; this.stormForced = false; this.showerLeftS = 0; },
    /** A pump's motor protection trips (thermal overload, a rag in the impeller). */
    pumpFault: (p) => {
      const i = Math.max(0, PUMPS.indexOf(param(p, 'pump', 'P1') as (typeof PUMPS)[number]));
      if (this.faulted[i]) return;
      this.faulted[i] = true;
      this.stopPump(i);
      this.emit({ type: 'pump_fault', pump: PUMPS[i], code: param(p, 'code', 'OL') });
    },
    /** The pump cabinet loses its supply: nothing pumps until it is back. */
    powerLost: () => {
      if (!this.powerOk) return;
      this.powerOk = false;
      for (let i = 0; i < PUMPS.length; i++) this.stopPump(i);
      this.emit({ type: 'power_lost' });
    },
    repair: () => {
      for (let i = 0; i < PUMPS.length; i++) {
        if (this.faulted[i]) { this.faulted[i] = false; this.emit({ type: 'pump_fault_cleared', pump: PUMPS[i] }); }
      }
      if (!this.powerOk) { this.powerOk = true; this.emit({ type: 'power_restored' }); }
    },
  };

  private startPump(i: number): void {
    if (this.running[i] || this.faulted[i] || !this.powerOk) return;
    this.running[i] = true;
    this.emit({ type: 'pump_started', pump: PUMPS[i] });
  }

  private stopPump(i: number): void {
    if (!this.running[i]) return;
    this.running[i] = false;
    this.emit({ type: 'pump_stopped', pump: PUMPS[i] });
  }

  /** Seepage and the basement's sewage (m³/h): a steady trickle with the morning and evening peaks. */
  private baseInflow(now: number): number {
    const h = hourOfDay(now);
    const shape = h < 5 ? 0.2 : (h >= 6.5 && h < 8.5) ? 2 : (h >= 18 && h < 21.5) ? 1.8 : 1;
    return 0.4 + 1.2 * shape;
  }

  protected advance(dt: number, now: number): void {
    // passing showers, a few a day: light enough that the lag pump keeps up
    if (!this.stormForced) {
      if (this.showerLeftS <= 0 && this.rng.happens(0.1, dt)) {
        this.rain = this.rng.range(5, 35);
        this.showerLeftS = this.rng.range(900, 3600);
      }
      this.showerLeftS -= dt;
      if (this.showerLeftS <= 0) this.rain = 0;
    }
    const inflow = this.baseInflow(now) + (this.rain * this.catchment) / 1000;
    // the lead pump, then the lag; a faulted lead leaves the lag to start at the lead's level
    const lag = 1 - this.lead;
    const leadUp = !this.faulted[this.lead] && this.powerOk;
    if (this.level >= START_M) this.startPump(leadUp ? this.lead : lag);
    if (this.level >= ASSIST_M) this.startPump(lag);
    if (this.level <= STOP_M && (this.running[0] || this.running[1])) {
      this.stopPump(0);
      this.stopPump(1);
      this.lead = lag;
    }
    const pumped = ((this.running[0] ? 1 : 0) + (this.running[1] ? 1 : 0)) * this.pumpFlow;
    this.level = clamp(this.level + ((inflow - pumped) / this.pitArea / 3600) * dt, 0, this.pitDepth);
    if (!this.highLevel && this.level >= FLOAT_M) { this.highLevel = true; this.emit({ type: 'high_level' }); }
    if (this.highLevel && this.level <= FLOAT_RESET_M) { this.highLevel = false; this.emit({ type: 'high_level_cleared' }); }
    // the pit is at its rim: what it cannot hold runs over the floor
    if (this.level >= this.pitDepth) this.wetFor = FLOOR_DRY_S;
    else this.wetFor = Math.max(0, this.wetFor - dt);
    if (!this.flooded && this.wetFor > 0) { this.flooded = true; this.emit({ type: 'flooded' }); }
    if (this.flooded && this.wetFor === 0) { this.flooded = false; this.emit({ type: 'flood_cleared' }); }
  }

  protected reading(): DrainageTelemetry {
    return {
      // the transmitter reads the surface, which ripples while water pours in
      level: round(clamp(this.level + this.rng.gauss(0, 0.005), 0, 200), 3),
      highLevel: this.highLevel,
      pumpsRunning: (this.running[0] ? 1 : 0) + (this.running[1] ? 1 : 0),
      pumpFault: this.faulted[0]! || this.faulted[1]!,
      powerOk: this.powerOk,
      flooded: this.flooded,
    };
  }
}
