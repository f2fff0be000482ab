/**
 * Fire water supply (消防给水, GB 50974) seen by a pressure and level monitor: the sprinkler /
 * hydrant network leaks slowly, so its pressure sags until the jockey pump (稳压泵) starts at the
 * low set point and stops at the high one; the fire tank loses a little to evaporation and is
 * topped up by its float valve. Faults (a leak the pump cannot keep up with, a stuck inlet valve,
 * a pump fault or lost pump power, a sprinkler head opening) make the values drift the way they do.
 * The fire pump control cabinet normally stands in automatic and the signal valves open; scenario
 * actions switch the cabinet to manual (the main pump then does not start by itself), close a valve,
 * start the main pump by hand (a test run) or stick the float valve open until the tank overflows.
 */
import type { FireWaterTelemetry } from '../../ingest/index.js';
import { clamp, round } from '../random.js';
import { DeviceModel, param, type Action } from './model.js';

export interface FireWaterOptions {
  /** Jockey pump start / stop pressure (MPa) at the monitored point. */
  startPressure?: number;
  stopPressure?: number;
  /** Full tank level (m) and the float valve's refill point. */
  tankFull?: number;
  seed?: number | string;
}

/** Pressure lost per second to normal leakage (MPa/s): the jockey pump cycles a few times an hour. */
const LEAK_MPA_S = 0.00008;
/** Pressure gained per second while the jockey pump runs. */
const PUMP_MPA_S = 0.004;
const MAIN_PUMP_MPA_S = 0.02;
const MAIN_SHUTOFF_MPA = 0.7;
/** The main pump's pressure switch is set below the jockey pump's start pressure. */
const MAIN_START_BELOW_JOCKEY = 0.05;
const EVAPORATION_M_S = 2e-7;
const REFILL_M_S = 0.002;
/** The high-level switch sits 10 cm above full; the overflow pipe 30 cm above it (nothing rises higher). */
const HIGH_SWITCH_ABOVE_FULL_M = 0.1;
const OVERFLOW_ABOVE_FULL_M = 0.3;

export class FireWaterModel extends DeviceModel<FireWaterTelemetry> {
  readonly kind = 'fire_water' as const;
  private readonly start: number;
  private readonly stop: number;
  private readonly tankFull: number;
  pressure: number;
  tankLevel: number;
  /** The jockey pump (稳压泵). */
  pumpRunning = false;
  /** The main fire pump: started by the pressure switch when water flows, stopped only by hand. */
  mainPumpRunning = false;
  pumpFault = false;
  pumpPowerOk = true;
  flowSwitch = false;
  /** The pump control cabinet in automatic (false: 手动状态, the main pump starts only by hand). */
  pumpAuto = true;
  signalValveOpen = true;
  /** Extra leakage (MPa/s) from a broken pipe or an open test valve. */
  private extraLeak = 0;
  private inletStuck = false;
  /** Tank drain (m/s) from a leak or someone drawing fire water for other uses. */
  private tankDrain = 0;
  private tankFloor = 0;
  private refilling = false;
  /** The float valve stuck open: the tank fills past full up to the overflow. */
  private floatStuckOpen = false;

  constructor(id: string, opts: FireWaterOptions = {}) {
    super(id, opts.seed ?? id, 1);
    this.start = opts.startPressure ?? 0.3;
    this.stop = opts.stopPressure ?? 0.38;
    this.tankFull = opts.tankFull ?? 4;
    this.pressure = this.rng.range(this.start + 0.01, this.stop);
    this.tankLevel = this.tankFull - this.rng.range(0, 0.08);
  }

  readonly actions: Readonly<Record<string, Action>> = {
    /** A leak bigger than the jockey pump: pressure falls by `mpaPerMin` net of what the pump adds. */
    leak: (p) => { this.extraLeak = PUMP_MPA_S + param(p, 'mpaPerMin', 0.05) / 60; },
    /** The inlet valve sticks shut and the tank drains to `to` metres at `mPerMin`. */
    drainTank: (p) => {
      this.inletStuck = true;
      this.tankDrain = param(p, 'mPerMin', 0.05) / 60;
      this.tankFloor = param(p, 'to', 0.8);
    },
    pumpFault: (p) => {
      if (this.pumpFault) return;
      this.pumpFault = true;
      if (this.pumpRunning) { this.pumpRunning = false; }
      this.emit({ type: 'pump_fault', pump: param(p, 'pump', 'P1'), code: param(p, 'code', 'OL') });
    },
    pumpPowerLost: () => {
      if (!this.pumpPowerOk) return;
      this.pumpPowerOk = false;
      this.pumpRunning = false;
      this.emit({ type: 'power_lost', pump: 'P1' });
    },
    /** A sprinkler head opens: water flows in the branch and the network pressure drops at once. */
    sprinklerFlow: (p) => {
      this.flowSwitch = true;
      this.extraLeak = param(p, 'mpaPerMin', 0.3) / 60 + PUMP_MPA_S;
      this.emit({ type: 'flow_detected', branch: param(p, 'branch', 'B1') });
    },
    /** The cabinet's selector to manual (手动), as a technician leaves it after a test. */
    manual: () => { this.pumpAuto = false; },
    automatic: () => { this.pumpAuto = true; },
    /** A signal valve on the supply main is shut (maintenance on a branch, or by mistake). */
    closeValve: () => { this.signalValveOpen = false; },
    openValve: () => { this.signalValveOpen = true; },
    /** The main fire pump started by hand (the monthly test run, GB 50974), whatever the selector. */
    startFirePump: () => { this.startMain(); },
    stopFirePump: () => { this.stopMain(); },
    /** The float valve sticks open: the tank fills at the inlet's rate to the overflow. */
    overfill: () => { this.floatStuckOpen = true; },
    repair: () => {
      this.extraLeak = 0;
      this.tankDrain = 0;
      this.inletStuck = false;
      this.floatStuckOpen = false;
      this.flowSwitch = false;
      this.pumpAuto = true;
      this.signalValveOpen = true;
      this.stopMain();
      if (this.pumpFault) { this.pumpFault = false; this.emit({ type: 'pump_fault_cleared', pump: 'P1' }); }
      if (!this.pumpPowerOk) { this.pumpPowerOk = true; this.emit({ type: 'power_restored', pump: 'P1' }); }
    },
  };

  private startMain(): void {
    if (this.mainPumpRunning) return;
    this.mainPumpRunning = true;
    this.emit({ type: 'pump_started', pump: 'P2', firePump: true });
  }

  private stopMain(): void {
    if (!this.mainPumpRunning) return;
    this.mainPumpRunning = false;
    this.emit({ type: 'pump_stopped', pump: 'P2', firePump: true });
  }

  protected advance(dt: number): void {
    const canPump = !this.pumpFault && this.pumpPowerOk;
    if (!this.pumpRunning && canPump && this.pressure <= this.start) {
      this.pumpRunning = true;
      this.emit({ type: 'pump_started', pump: 'P1' });
    } else if (this.pumpRunning && (this.pressure >= this.stop || !canPump)) {
      this.pumpRunning = false;
      this.emit({ type: 'pump_stopped', pump: 'P1' });
    }
    if (!canPump) this.stopMain();
    // in manual the pressure switch cannot start the main pump: that is why manual is a hazard
    if (this.flowSwitch && canPump && this.pumpAuto && this.pressure <= this.start - MAIN_START_BELOW_JOCKEY) this.startMain();
    // the main pump's curve: strong at low pressure, nothing at its shut-off head
    const main = this.mainPumpRunning ? MAIN_PUMP_MPA_S * Math.max(0, 1 - this.pressure / MAIN_SHUTOFF_MPA) : 0;
    this.pressure += ((this.pumpRunning ? PUMP_MPA_S : 0) + main - LEAK_MPA_S - this.extraLeak) * dt;
    this.pressure = clamp(this.pressure, 0, 1.6);
    this.tankLevel -= (EVAPORATION_M_S + this.tankDrain) * dt;
    if (this.tankDrain > 0) this.tankLevel = Math.max(this.tankLevel, this.tankFloor);
    // the float valve opens 10 cm below full and closes when full
    if (this.tankLevel < this.tankFull - 0.1) this.refilling = true;
    else if (this.tankLevel >= this.tankFull && !this.floatStuckOpen) this.refilling = false;
    if ((this.refilling || this.floatStuckOpen) && !this.inletStuck) this.tankLevel += REFILL_M_S * dt;
    // once the float valve is repaired the technician drains the excess down to the normal band
    if (!this.floatStuckOpen && this.tankLevel > this.tankFull + 0.05) this.tankLevel -= REFILL_M_S * dt;
    this.tankLevel = clamp(this.tankLevel, 0, this.tankFull + OVERFLOW_ABOVE_FULL_M);
  }

  protected reading(): FireWaterTelemetry {
    return {
      pressure: round(clamp(this.pressure + this.rng.gauss(0, 0.002), 0, 10), 3),
      tankLevel: round(clamp(this.tankLevel + this.rng.gauss(0, 0.004), 0, 200), 3),
      pumpRunning: this.pumpRunning || this.mainPumpRunning,
      pumpFault: this.pumpFault,
      pumpPowerOk: this.pumpPowerOk,
      flowSwitch: this.flowSwitch,
      firePumpRunning: this.mainPumpRunning,
      pumpAuto: this.pumpAuto,
      signalValveOpen: this.signalValveOpen,
      tankHigh: this.tankLevel >= this.tankFull + HIGH_SWITCH_ABOVE_FULL_M,
    };
  }
}
