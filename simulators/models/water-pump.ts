/**
 * A secondary water supply pump room (二次供水泵房): water comes in at municipal pressure, is
 * stored in a tank and boosted by variable-speed pumps to a set outlet pressure per supply zone.
 * Demand follows the day (morning and evening peaks), so the tank draws down and refills and more
 * pumps run at the peaks; a pump fault leaves too few pumps and the outlet pressure sags. Water
 * quality (GB 5749-2022: turbidity ≤ 1 NTU, free chlorine 0.05 to 2 mg/L, pH 6.5 to 8.5) reads with
 * sensor noise around healthy values; scenario actions push a parameter out of its limits, flood
 * the room or open its door, trip one zone's pumps, lower the mains pressure, fill the room with
 * smoke or stop its ventilation (the room heats up and gets damp).
 */
import type { WaterPumpTelemetry } from '../../ingest/index.js';
import { clamp, hourOfDay, round } from '../random.js';
import { DeviceModel, param, type Action } from './model.js';

export interface WaterPumpOptions {
  /** Outlet set points (MPa) of the low / mid / high supply zones. */
  setpoints?: { low: number; mid: number; high: number };
  pumps?: number;
  /** Flow one pump delivers at the set pressure (m³/h). */
  pumpFlow?: number;
  /** Households served: sets the demand. */
  households?: number;
  tankAreaM2?: number;
  seed?: number | string;
}

type Quality = 'turbidity' | 'chlorine' | 'ph';
type Zone = 'low' | 'mid' | 'high';
const ZONES: readonly Zone[] = ['low', 'mid', 'high'];
/** MPa per metre of water: a zone whose pumps stopped sees only the tank's head. */
const MPA_PER_M = 0.0098;

export class WaterPumpModel extends DeviceModel<WaterPumpTelemetry> {
  readonly kind = 'water_pump' as const;
  private readonly setpoints: { low: number; mid: number; high: number };
  private readonly pumps: number;
  private readonly pumpFlow: number;
  private readonly households: number;
  private readonly tankArea: number;
  private readonly tankFull = 3;
  tankLevel: number;
  private refilling = false;
  pumpsRunning = 1;
  faultedPumps = 0;
  flooded = false;
  private floodLevel = 0;
  private floodRate = 0;
  doorOpen = false;
  /** Fraction of the set pressure the running pumps can hold (1 = enough pumps). */
  private supply = 1;
  /** Slow random deviation of demand from its daily shape (a relative share, around 0). */
  private demandNoise = 0;
  private readonly quality: Record<Quality, { value: number; target: number; tau: number; normal: number }>;
  private humidity: number;
  /** Zones whose pump set tripped. */
  private readonly zoneFailed = new Set<Zone>();
  /** Mains pressure pulled down by a district problem (a burst main, a valve closed upstream), MPa. */
  private mainsDrop = 0;
  smoke = false;
  /** Ventilation stopped: the drives' heat stays in the room (°C above normal, towards `heatTarget`). */
  private heat = 0;
  private heatTarget = 0;
  private dampTarget = 0;
  private damp = 0;

  constructor(id: string, opts: WaterPumpOptions = {}) {
    super(id, opts.seed ?? id, 1);
    this.setpoints = opts.setpoints ?? { low: 0.3, mid: 0.45, high: 0.6 };
    this.pumps = opts.pumps ?? 3;
    this.pumpFlow = opts.pumpFlow ?? 15;
    this.households = opts.households ?? 1500;
    this.tankArea = opts.tankAreaM2 ?? 24;
    this.tankLevel = this.rng.range(2.4, 2.9);
    const turbidity = this.rng.range(0.15, 0.35);
    const chlorine = this.rng.range(0.3, 0.5);
    const ph = this.rng.range(7.1, 7.5);
    this.quality = {
      turbidity: { value: turbidity, target: turbidity, tau: 300, normal: turbidity },
      chlorine: { value: chlorine, target: chlorine, tau: 600, normal: chlorine },
      ph: { value: ph, target: ph, tau: 600, normal: ph },
    };
    this.humidity = this.rng.range(55, 70);
  }

  private setQuality(q: Quality, p: Record<string, unknown>, fallback: number): void {
    const s = this.quality[q];
    s.target = param(p, 'to', fallback);
    s.tau = param(p, 'rampS', 120) / 3;
  }

  readonly actions: Readonly<Record<string, Action>> = {
    pumpFault: (p) => {
      if (this.faultedPumps >= this.pumps) return;
      this.faultedPumps++;
      this.emit({ type: 'pump_fault', pump: param(p, 'pump', `P${this.faultedPumps}`), code: param(p, 'code', 'VFD-OC') });
    },
    /** Every pump trips (a common VFD or power fault): only inlet pressure is left. */
    allPumpsFail: (p) => {
      while (this.faultedPumps < this.pumps) this.actions.pumpFault!(p);
    },
    /** A burst pipe or a stuck drain: the sump fills and the room floods within `rampS`. */
    flood: (p) => { this.floodRate = 1 / Math.max(1, param(p, 'rampS', 60)); },
    drain: () => { this.floodRate = -1 / 120; },
    /** Turbidity heads to `to` NTU (a mains burst stirring up sediment, a dirty tank). */
    turbidity: (p) => this.setQuality('turbidity', p, 3),
    /** Free chlorine heads to `to` mg/L: too low after a long residence time, too high after dosing. */
    chlorine: (p) => this.setQuality('chlorine', p, 0.02),
    ph: (p) => this.setQuality('ph', p, 9),
    /** Water quality back to its normal values. */
    restoreQuality: (p) => {
      for (const q of Object.values(this.quality)) { q.target = q.normal; q.tau = param(p, 'rampS', 300) / 3; }
    },
    openDoor: () => { if (!this.doorOpen) { this.doorOpen = true; this.emit({ type: 'door_opened' }); } },
    closeDoor: () => { if (this.doorOpen) { this.doorOpen = false; this.emit({ type: 'door_closed' }); } },
    /** One zone's pump set trips (its own drive): that zone's header falls to the tank's head. */
    zonePumpsFail: (p) => {
      const zone = param<Zone>(p, 'zone', 'high');
      if (!ZONES.includes(zone) || this.zoneFailed.has(zone)) return;
      this.zoneFailed.add(zone);
      this.emit({ type: 'pump_fault', pump: `${zone.toUpperCase()}-P1`, code: param(p, 'code', 'VFD-OC') });
    },
    /** The municipal supply pressure drops by `by` MPa (a burst main, an upstream valve); `mainsRestored` ends it. */
    mainsLow: (p) => { this.mainsDrop = param(p, 'by', 0.14); },
    mainsRestored: () => { this.mainsDrop = 0; },
    /** Smoke from a drive cabinet reaches the room's detector. */
    smoke: () => { this.smoke = true; },
    clearSmoke: () => { this.smoke = false; },
    /** The extract fan stops: the room heats by `heat` °C and its humidity rises by `damp` % over tens of minutes. */
    ventilationFail: (p) => { this.heatTarget = param(p, 'heat', 25); this.dampTarget = param(p, 'damp', 30); },
    ventilationRestored: () => { this.heatTarget = 0; this.dampTarget = 0; },
    repair: () => {
      for (let i = 1; i <= this.faultedPumps; i++) this.emit({ type: 'pump_fault_cleared', pump: `P${i}` });
      this.faultedPumps = 0;
      for (const z of this.zoneFailed) this.emit({ type: 'pump_fault_cleared', pump: `${z.toUpperCase()}-P1` });
      this.zoneFailed.clear();
    },
  };

  /** Demand (m³/h): about 0.2 m³ per household per day, shaped by the day's peaks. */
  private demand(now: number): number {
    const h = hourOfDay(now);
    const shape = h < 5 ? 0.25 : (h >= 6.5 && h < 8.5) ? 2.4 : (h >= 18 && h < 21.5) ? 2.1 : (h >= 11 && h < 13) ? 1.4 : h >= 23 ? 0.5 : 1;
    return ((this.households * 0.2) / 24) * shape;
  }

  protected advance(dt: number, now: number): void {
    // demand wanders around its daily shape over minutes, not from one second to the next
    this.demandNoise += -this.demandNoise * (dt / 600) + this.rng.gauss(0, 0.006) * Math.sqrt(dt);
    const demand = this.demand(now) * clamp(1 + this.demandNoise, 0.5, 1.5);
    const available = this.pumps - this.faultedPumps;
    // the pump controller stages a pump in near full load and out well below, so pumps do not hunt
    let running = Math.max(1, this.pumpsRunning);
    if (demand > running * this.pumpFlow * 0.95) running++;
    else if (running > 1 && demand < (running - 1) * this.pumpFlow * 0.8) running--;
    this.pumpsRunning = Math.min(running, available);
    const capacity = this.pumpsRunning * this.pumpFlow;
    this.supply = available === 0 ? 0 : clamp(capacity / Math.max(demand, 1e-6), 0, 1);
    const delivered = Math.min(demand, capacity);
    // float valve on the municipal inlet: opens 30 cm below full, closes when full
    if (this.tankLevel < this.tankFull - 0.3) this.refilling = true;
    else if (this.tankLevel >= this.tankFull) this.refilling = false;
    const inflow = this.refilling ? 40 : 0;
    this.tankLevel = clamp(this.tankLevel + ((inflow - delivered) / this.tankArea / 3600) * dt, 0, this.tankFull + 0.05);
    if (this.floodRate !== 0) {
      this.floodLevel = clamp(this.floodLevel + this.floodRate * dt, 0, 1);
      if (!this.flooded && this.floodLevel >= 1) { this.flooded = true; this.emit({ type: 'flooded' }); }
      if (this.flooded && this.floodLevel <= 0) { this.flooded = false; this.emit({ type: 'flood_cleared' }); }
      if (this.floodLevel <= 0 || this.floodLevel >= 1) this.floodRate = 0;
    }
    // a room without ventilation warms and dampens over minutes (time constant 3 min), not at once
    const k = 1 - Math.exp(-dt / 180);
    this.heat += (this.heatTarget - this.heat) * k;
    this.damp += (this.dampTarget - this.damp) * k;
    const humidityTarget = Math.min(99, (this.flooded ? 97 : 60 + 8 * this.floodLevel) + this.damp);
    this.humidity += (humidityTarget - this.humidity) * (1 - Math.exp(-dt / 600));
    for (const q of Object.values(this.quality)) q.value += (q.target - q.value) * (1 - Math.exp(-dt / Math.max(1, q.tau)));
  }

  private inlet(now: number): number {
    // municipal pressure dips when the whole district draws water
    return 0.22 - 0.04 * (this.demand(now) / ((this.households * 0.2) / 24) - 1) / 1.4 - this.mainsDrop;
  }

  protected reading(now: number): WaterPumpTelemetry {
    const n = (sd: number) => this.rng.gauss(0, sd);
    const inlet = clamp(this.inlet(now) + n(0.003), 0.02, 0.4);
    // with no pump running the outlet sees only the inlet pressure through the bypass; a zone whose
    // own pumps tripped, only the tank's head
    const zone = (z: Zone) => round(clamp(
      this.zoneFailed.has(z) ? this.tankLevel * MPA_PER_M + n(0.002)
        : this.supply === 0 ? inlet * 0.9 : this.setpoints[z] * (0.75 + 0.25 * this.supply) + n(0.004), 0, 10), 3);
    const q = this.quality;
    const h = hourOfDay(now);
    // the main outlet gauge sits on the mid zone's header
    const mid = zone('mid');
    return {
      inletPressure: round(inlet, 3),
      outletPressure: mid,
      outletPressureLow: zone('low'),
      outletPressureMid: mid,
      outletPressureHigh: zone('high'),
      tankLevel: round(clamp(this.tankLevel + n(0.005), 0, 200), 3),
      pumpsRunning: this.pumpsRunning,
      pumpFault: this.faultedPumps > 0,
      flooded: this.flooded,
      doorOpen: this.doorOpen,
      turbidity: round(clamp(q.turbidity.value * (1 + n(0.05)), 0.01, 4000), 3),
      chlorine: round(clamp(q.chlorine.value + n(0.01), 0, 100), 3),
      ph: round(clamp(q.ph.value + n(0.02), 0, 14), 2),
      temperature: round(clamp(18 + 3 * Math.sin(((h - 9) / 24) * 2 * Math.PI) + this.heat + n(0.1), -50, 200), 1),
      humidity: round(clamp(this.humidity + n(0.5), 0, 100), 1),
      smoke: this.smoke,
    };
  }
}
