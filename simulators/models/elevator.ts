/**
 * An elevator as a GB/T 24476 terminal sees it: landing calls arrive at a rate that follows the day
 * (morning and evening peaks, quiet nights); the car accelerates, cruises and brakes between floors;
 * it is in the door zone only within a few centimetres of a landing; doors open, dwell and close;
 * passengers board at the call floor and leave at their destination; run count and run hours grow.
 * Scenario actions put it into the states that faults are made of (trapped, stopped between floors,
 * overspeed, overrun, power loss, inspection) and emit the events a terminal detects itself.
 */
import { ELEVATOR_MODES, type ElevatorTelemetry } from '../../ingest/index.js';
import { clamp, hourOfDay, round } from '../random.js';
import { DeviceModel, param, type Action } from './model.js';

type Mode = (typeof ELEVATOR_MODES)[number];
type Door = ElevatorTelemetry['door'];
type Phase = 'idle' | 'moving' | 'opening' | 'open' | 'closing' | 'halted' | 'rescue' | 'door_fault_run';

export interface ElevatorOptions {
  /** Lowest landing (negative below ground; there is no floor 0 in Chinese numbering). */
  lowestFloor?: number;
  highestFloor?: number;
  floorHeightM?: number;
  /** Rated speed; residential high-rise cars run at 1.0 to 2.5 m/s. */
  ratedSpeed?: number;
  accel?: number;
  /** Landing calls per hour at an ordinary hour of day (peaks are busier, nights quieter). */
  callsPerHour?: number;
  ratedLoadKg?: number;
  seed?: number | string;
}

/** Rated speed of a simulated car unless given (m/s); provisioning registers it, so the gateway's overspeed limit matches the model. */
export const DEFAULT_RATED_SPEED = 1.75;
/** Half-height of the unlocking zone: within this distance of a landing the doors may open. */
const DOOR_ZONE_M = 0.1;
const DOOR_MOVE_S = 2.5;
/** Inspection / rescue travel speed: EN 81-20 limits inspection speed to 0.63 m/s. */
const SLOW_SPEED = 0.3;
const PASSENGER_KG = 75;

export class ElevatorModel extends DeviceModel<ElevatorTelemetry> {
  readonly kind = 'elevator' as const;
  readonly floors: number[];
  private readonly floorHeight: number;
  private readonly ratedSpeed: number;
  private readonly accel: number;
  private readonly callsPerHour: number;
  private readonly ratedLoadKg: number;

  mode: Mode = 'normal';
  powerOk = true;
  safetyCircuit: 'closed' | 'open' = 'closed';
  /** Car position in metres above the lowest landing. */
  pos: number;
  speed = 0;
  dir: 'up' | 'down' | 'none' = 'none';
  phase: Phase = 'idle';
  door: Door = 'closed';
  passengers = 0;
  runCount: number;
  runHours: number;
  private phaseLeft = 0;
  private target: number | undefined;
  private callFloor: number | undefined;
  private destination: number | undefined;
  private waiting = 0;
  private speedLimit: number;
  /** After a power loss: seconds until the automatic rescue device moves the car to a landing. */
  private ardIn: number | undefined;

  constructor(id: string, opts: ElevatorOptions = {}) {
    super(id, opts.seed ?? id);
    const lowest = opts.lowestFloor ?? -1;
    const highest = opts.highestFloor ?? 18;
    this.floors = [];
    for (let f = lowest; f <= highest; f++) if (f !== 0) this.floors.push(f);
    this.floorHeight = opts.floorHeightM ?? 3;
    this.ratedSpeed = opts.ratedSpeed ?? DEFAULT_RATED_SPEED;
    this.speedLimit = this.ratedSpeed;
    this.accel = opts.accel ?? 0.8;
    this.callsPerHour = opts.callsPerHour ?? 40;
    this.ratedLoadKg = opts.ratedLoadKg ?? 1000;
    this.pos = this.indexOf(1) * this.floorHeight;
    this.runCount = this.rng.int(2_000, 400_000);
    this.runHours = round(this.runCount * this.rng.range(0.008, 0.012), 2);
  }

  readonly actions: Readonly<Record<string, Action>> = {
    /** Car stops with passengers inside and the doors shut (困人), at a landing or between floors. */
    trap: (p) => this.halt(param(p, 'levelled', true), true),
    /** Car stops where the scenario says, doors closed, nobody inside unless `occupied`. */
    halt: (p) => this.halt(param(p, 'levelled', false), param(p, 'occupied', false)),
    /** Rescue or restart: level at the nearest landing at rescue speed, open the doors, let people out. */
    recover: () => this.recover(),
    /** A call from `floor` to `to` (landing labels), for scenarios that need the car somewhere. */
    call: (p) => this.call(this.indexOf(param(p, 'floor', 1)), this.indexOf(param(p, 'to', this.floors[this.floors.length - 1]!)), param(p, 'people', 1)),
    setMode: (p) => this.setMode(param<Mode>(p, 'mode', 'normal')),
    alarmButton: () => this.emit({ type: 'alarm_button' }),
    ebike: (p) => {
      this.passengers += 1;
      this.emit({ type: 'ebike_detected', confidence: param(p, 'confidence', 0.92) });
    },
    powerLost: () => this.powerLost(),
    powerRestored: () => this.powerRestored(),
    /** The governor trips: the car runs fast, the safety gear bites, the car stops between floors. */
    overspeed: (p) => {
      const speed = param(p, 'speed', round(this.ratedSpeed * 1.3, 2));
      this.emit({ type: 'fault', fault: 'overspeed', code: param(p, 'code', 'E31') });
      this.safetyCircuit = 'open';
      this.halt(false, this.passengers > 0, true);
      // the reading sent with the trip still shows the car running fast
      this.forceOnce({ running: true, speed, direction: 'down' });
    },
    /**
     * The car runs at `ratio` × its rated speed and the terminal reports no fault of its own (a drive or
     * brake fault the governor has not caught; a terminal that only reads the speed): only the speed
     * reading shows it, until a `release` step. The gateway's rated-speed rule is what must notice.
     */
    runFast: (p) => {
      this.force({ running: true, direction: 'down', door: 'closed', speed: round(this.ratedSpeed * param(p, 'ratio', 1.2), 2) });
    },
    /** The car passes the top or bottom terminal landing and stops on the final limit switch. */
    overrun: (p) => {
      const end = param<'top' | 'bottom'>(p, 'end', 'top');
      this.safetyCircuit = 'open';
      this.phase = 'halted';
      this.speed = 0;
      this.dir = 'none';
      this.door = 'closed';
      this.pos = end === 'top' ? this.maxPos() + 0.35 : -0.35;
      this.emit({ type: 'fault', fault: end === 'top' ? 'top_overrun' : 'bottom_overrun', code: param(p, 'code', end === 'top' ? 'E41' : 'E42') });
    },
    /** A bridged or broken door contact: the car keeps serving floors while the door reads open. */
    doorOpenWhileRunning: () => {
      this.phase = 'door_fault_run';
      this.door = 'open';
      this.target = this.pos > this.maxPos() / 2 ? 0 : this.floors.length - 1;
    },
    /** Any fault the terminal reports (codes are vendor-specific). */
    fault: (p) => {
      const event: { type: string } & Record<string, unknown> = { type: 'fault', fault: param(p, 'fault', 'door_close_fault') };
      if (p.code !== undefined) event.code = p.code;
      if (p.levelled !== undefined) event.levelled = p.levelled;
      this.emit(event);
    },
    openSafetyCircuit: () => { this.safetyCircuit = 'open'; },
  };

  private indexOf(label: number): number {
    const i = this.floors.indexOf(label);
    return i >= 0 ? i : clamp(label < 0 ? 0 : this.floors.length - 1, 0, this.floors.length - 1);
  }

  private maxPos(): number { return (this.floors.length - 1) * this.floorHeight; }
  private nearestIndex(): number { return clamp(Math.round(this.pos / this.floorHeight), 0, this.floors.length - 1); }
  private inDoorZone(): boolean {
    const i = this.nearestIndex();
    return Math.abs(this.pos - i * this.floorHeight) <= DOOR_ZONE_M;
  }

  private halt(levelled: boolean, occupied: boolean, keepSafety = false): void {
    this.phase = 'halted';
    this.speed = 0;
    this.dir = 'none';
    this.door = 'closed';
    this.target = undefined;
    const i = this.nearestIndex();
    if (levelled) this.pos = i * this.floorHeight;
    else {
      // stopped well outside the unlocking zone, on whichever side has room
      const offset = this.floorHeight * 0.4;
      this.pos = i * this.floorHeight + (i < this.floors.length - 1 ? offset : -offset);
    }
    if (occupied) this.passengers = Math.max(this.passengers, this.rng.int(1, 3));
    else this.passengers = 0;
    if (!keepSafety) this.safetyCircuit = 'closed';
  }

  private recover(): void {
    this.safetyCircuit = 'closed';
    this.door = 'closed';
    if (this.mode === 'out_of_service') this.mode = 'normal';
    this.target = this.nearestIndex();
    this.pos = clamp(this.pos, 0, this.maxPos());
    this.destination = this.target;
    this.phase = 'rescue';
  }

  private call(from: number, to: number, people: number): void {
    this.callFloor = from;
    this.destination = to;
    this.waiting = people;
    if (this.phase === 'idle') this.startTrip(from);
  }

  private setMode(mode: Mode): void {
    this.mode = mode;
    this.speedLimit = mode === 'inspection' || mode === 'maintenance' ? SLOW_SPEED : this.ratedSpeed;
    if (mode !== 'normal') { this.callFloor = undefined; this.waiting = 0; }
  }

  private powerLost(): void {
    if (!this.powerOk) return;
    this.powerOk = false;
    this.emit({ type: 'power_lost' });
    const levelled = this.inDoorZone();
    this.phase = 'halted';
    this.speed = 0;
    this.dir = 'none';
    if (!levelled) this.door = 'closed';
    // the automatic rescue device (ARD) levels the car on battery after a few seconds
    this.ardIn = 8;
  }

  private powerRestored(): void {
    if (this.powerOk) return;
    this.powerOk = true;
    this.ardIn = undefined;
    this.emit({ type: 'power_restored' });
    this.setMode('normal');
    if (this.phase === 'halted') this.recover();
  }

  private startTrip(to: number): void {
    this.target = to;
    if (Math.abs(to * this.floorHeight - this.pos) < 0.005) {
      this.phase = 'opening';
      this.door = 'opening';
      this.phaseLeft = DOOR_MOVE_S;
      return;
    }
    this.phase = 'moving';
    this.runCount++;
  }

  /** Calls per hour at this hour of day in China: peaks at 7-9 and 17-20, quiet from midnight to 6. */
  private callRate(now: number): number {
    const h = hourOfDay(now);
    const factor = h < 6 ? 0.15 : (h >= 7 && h < 9) || (h >= 17 && h < 20) ? 2.5 : h >= 22 ? 0.4 : 1;
    return this.callsPerHour * factor;
  }

  protected advance(dt: number, now: number): void {
    // an open safety circuit drops the brake: nothing moves until it is closed again
    if (this.safetyCircuit === 'open' && (this.phase === 'moving' || this.phase === 'door_fault_run' || this.phase === 'idle')) {
      if (this.phase !== 'idle') { this.phase = 'halted'; this.speed = 0; this.dir = 'none'; }
      return;
    }
    switch (this.phase) {
      case 'idle':
        if (this.mode === 'inspection' || this.mode === 'maintenance') {
          // a technician jogs the car a floor at a time, doors shut
          if (this.rng.happens(20, dt)) this.startTrip(clamp(this.nearestIndex() + (this.rng.chance(0.5) ? 1 : -1), 0, this.floors.length - 1));
        } else if (this.mode === 'normal' && this.powerOk && this.rng.happens(this.callRate(now), dt)) {
          const ground = this.indexOf(1);
          const from = this.rng.chance(0.5) ? ground : this.rng.int(0, this.floors.length - 1);
          let to = from === ground ? this.rng.int(0, this.floors.length - 1) : this.rng.chance(0.7) ? ground : this.rng.int(0, this.floors.length - 1);
          if (to === from) to = from === ground ? this.floors.length - 1 : ground;
          this.call(from, to, this.rng.int(1, 3));
        }
        break;
      case 'moving':
      case 'rescue':
        this.travel(dt, this.phase === 'rescue' ? SLOW_SPEED : this.speedLimit);
        break;
      case 'door_fault_run':
        this.travel(dt, this.speedLimit);
        if (this.speed === 0) this.target = this.target === 0 ? this.floors.length - 1 : 0;
        break;
      case 'opening':
        this.phaseLeft -= dt;
        if (this.phaseLeft <= 0) {
          this.door = 'open';
          this.phase = 'open';
          this.phaseLeft = this.rng.range(3, 6);
          const here = this.nearestIndex();
          if (this.destination === here) { this.passengers = 0; this.destination = undefined; }
          if (this.callFloor === here) { this.passengers += this.waiting; this.waiting = 0; this.callFloor = undefined; }
          if (!this.powerOk) { this.passengers = 0; this.mode = 'emergency_power'; }
        }
        break;
      case 'open':
        this.phaseLeft -= dt;
        if (this.phaseLeft <= 0) { this.phase = 'closing'; this.door = 'closing'; this.phaseLeft = DOOR_MOVE_S; }
        break;
      case 'closing':
        this.phaseLeft -= dt;
        if (this.phaseLeft <= 0) {
          // someone steps into the closing doors now and then
          if (this.powerOk && this.rng.chance(0.05)) { this.phase = 'opening'; this.door = 'opening'; this.phaseLeft = DOOR_MOVE_S; break; }
          this.door = 'closed';
          if (!this.powerOk) { this.phase = 'halted'; this.mode = 'emergency_power'; break; }
          if (this.passengers > 0 && this.destination !== undefined && this.mode === 'normal') this.startTrip(this.destination);
          else if (this.callFloor !== undefined && this.mode === 'normal') this.startTrip(this.callFloor);
          else this.phase = 'idle';
        }
        break;
      case 'halted':
        if (!this.powerOk && this.ardIn !== undefined) {
          this.ardIn -= dt;
          if (this.ardIn <= 0) { this.ardIn = undefined; this.recover(); this.mode = 'emergency_power'; }
        }
        break;
    }
  }

  private travel(dt: number, vmax: number): void {
    if (this.target === undefined) { this.phase = 'idle'; return; }
    const goal = this.target * this.floorHeight;
    const d = goal - this.pos;
    const dist = Math.abs(d);
    this.dir = d > 0 ? 'up' : 'down';
    // trapezoidal profile: accelerate, cruise, brake so as to stop exactly at the landing
    const brake = Math.sqrt(2 * this.accel * dist);
    this.speed = Math.min(this.speed + this.accel * dt, vmax, brake);
    const moved = this.speed * dt;
    this.runHours += dt / 3600;
    if (moved >= dist || dist < 0.01) {
      this.pos = goal;
      this.speed = 0;
      this.dir = 'none';
      if (this.phase === 'door_fault_run') return;
      this.phase = 'opening';
      this.door = 'opening';
      this.phaseLeft = DOOR_MOVE_S;
      return;
    }
    this.pos += Math.sign(d) * moved;
  }

  protected reading(_now: number): ElevatorTelemetry {
    // a car in door-fault service never parks: its reversal at the end landings is not a stop
    const running = this.phase === 'moving' || this.phase === 'rescue' || this.phase === 'door_fault_run';
    return {
      mode: this.mode,
      running,
      direction: running ? (this.dir === 'none' ? 'up' : this.dir) : 'none',
      floor: this.floors[this.nearestIndex()]!,
      doorZone: this.inDoorZone(),
      door: this.door,
      occupied: this.passengers > 0,
      speed: round(running ? this.speed : 0, 2),
      safetyCircuit: this.safetyCircuit,
      powerOk: this.powerOk,
      runCount: this.runCount,
      runHours: round(this.runHours, 3),
      load: round(clamp((this.passengers * PASSENGER_KG * 100) / this.ratedLoadKg, 0, 100), 1),
    };
  }
}
