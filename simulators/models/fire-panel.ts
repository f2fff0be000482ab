/**
 * A fire alarm control panel (火灾报警控制器) behind a user information transmission device: its
 * telemetry is the power supervision (main and backup), everything else is an event per zone and
 * point, as GB 26875.3 reports it. A healthy panel is quiet; scenario actions raise alarms, faults,
 * disablements and resets, and the panel remembers which zones are in which state.
 */
import { DeviceModel, param, type Action } from './model.js';

interface FirePanelReading extends Record<string, unknown> {
  mainPowerOk: boolean;
  backupPowerOk: boolean;
}

export type ZoneState = 'normal' | 'alarm' | 'fault' | 'disabled' | 'supervisory';

export interface FirePanelOptions {
  /** Zone labels as printed on the panel; each zone has `pointsPerZone` addressable points. */
  zones?: string[];
  pointsPerZone?: number;
  seed?: number | string;
}

export class FirePanelModel extends DeviceModel<FirePanelReading> {
  readonly kind = 'fire_panel' as const;
  readonly zones: string[];
  readonly zoneState = new Map<string, ZoneState>();
  readonly pointsPerZone: number;
  mainPowerOk = true;
  backupPowerOk = true;
  /** Backup battery charge (0..1); it only runs down while main power is off. */
  private battery = 1;

  constructor(id: string, opts: FirePanelOptions = {}) {
    super(id, opts.seed ?? id, 1);
    this.zones = opts.zones ?? ['Z1', 'Z2', 'Z3', 'Z4', 'Z5', 'Z6'];
    this.pointsPerZone = opts.pointsPerZone ?? 24;
    for (const z of this.zones) this.zoneState.set(z, 'normal');
  }

  private zone(p: Record<string, unknown>): string { return param(p, 'zone', this.zones[0]!); }
  private point(p: Record<string, unknown>, zone: string): string {
    return param(p, 'point', `${zone.replace(/^Z/, '')}-${this.rng.int(1, this.pointsPerZone)}`);
  }

  readonly actions: Readonly<Record<string, Action>> = {
    fireAlarm: (p) => {
      const zone = this.zone(p);
      this.zoneState.set(zone, 'alarm');
      this.emit({ type: 'fire_alarm', zone, point: this.point(p, zone), component: param(p, 'component', 'smoke_detector') });
    },
    fault: (p) => {
      const zone = this.zone(p);
      this.zoneState.set(zone, 'fault');
      this.emit({ type: 'fault', zone, point: this.point(p, zone), component: param(p, 'component', 'smoke_detector'), code: param(p, 'code', 'F12') });
    },
    supervisory: (p) => {
      const zone = this.zone(p);
      this.zoneState.set(zone, 'supervisory');
      this.emit({ type: 'supervisory', zone, component: param(p, 'component', 'signal_valve') });
    },
    disable: (p) => {
      const zone = this.zone(p);
      this.zoneState.set(zone, 'disabled');
      this.emit({ type: 'disabled', zone });
    },
    restore: (p) => {
      const zone = this.zone(p);
      this.zoneState.set(zone, 'normal');
      this.emit({ type: 'restored', zone });
    },
    reset: () => {
      for (const z of this.zones) this.zoneState.set(z, 'normal');
      this.emit({ type: 'reset' });
    },
    mainPowerLost: () => {
      if (!this.mainPowerOk) return;
      this.mainPowerOk = false;
      this.emit({ type: 'fault', zone: 'panel', component: 'main_power', code: 'P01' });
    },
    mainPowerRestored: () => {
      if (this.mainPowerOk) return;
      this.mainPowerOk = true;
      this.emit({ type: 'restored', zone: 'panel', component: 'main_power' });
    },
    backupPowerFault: () => {
      if (!this.backupPowerOk) return;
      this.backupPowerOk = false;
      this.emit({ type: 'fault', zone: 'panel', component: 'backup_battery', code: 'P02' });
    },
    backupPowerRestored: () => {
      this.battery = 1;
      if (this.backupPowerOk) return;
      this.backupPowerOk = true;
      this.emit({ type: 'restored', zone: 'panel', component: 'backup_battery' });
    },
  };

  protected advance(dt: number): void {
    if (!this.mainPowerOk && this.backupPowerOk) {
      // GB 4717 asks for 8 h of standby on battery; past that the backup supply fails too
      this.battery -= dt / (8 * 3600);
      if (this.battery <= 0.1) this.actions.backupPowerFault!({});
    }
  }

  protected reading(): FirePanelReading {
    return { mainPowerOk: this.mainPowerOk, backupPowerOk: this.backupPowerOk };
  }
}
