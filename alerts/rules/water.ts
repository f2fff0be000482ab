/**
 * Secondary water supply pump rooms (二次供水): outlet pressure low / high, each supply zone's outlet
 * pressure (one alert per zone, the zone its subject), municipal inlet pressure low, domestic tank
 * low, pump fault and power, flooding, smoke, room temperature and humidity, pump-room door, and
 * online water quality against GB 5749-2022 (turbidity at most 1 NTU, free chlorine 0.05 to 2 mg/L,
 * pH 6.5 to 8.5), each with hysteresis. Optional fields a room does not send are not judged.
 */
import type { AlertType } from '../catalog.js';
import type { WaterPumpRules } from '../config.js';
import type { DeviceInfo } from '../model.js';
import { RuleState, above, below, flag, occur, setOff, setOn, type KindModule, type SlotHost } from './state.js';

const OUT_LOW = 1, OUT_HIGH = 2, TANK_LOW = 3, PUMP_FAULT = 4, PUMP_POWER = 5, FLOODED = 6, TURBIDITY = 7, CL_LOW = 8, CL_HIGH = 9, PH = 10, DOOR = 11;
const INLET_LOW = 12, SMOKE = 13, TEMPERATURE = 14, HUMIDITY = 15;
/** The supply zones, the telemetry field of each, and its two slots (low, high) from ZONE_SLOT on. */
const ZONES = ['low', 'mid', 'high'] as const;
const ZONE_FIELDS = ['outletPressureLow', 'outletPressureMid', 'outletPressureHigh'] as const;
const ZONE_SLOT = 16;
const SLOTS: readonly AlertType[] = [
  'device.offline', 'water.outlet_pressure_low', 'water.outlet_pressure_high', 'water.tank_low', 'water.pump_fault',
  'water.pump_power_lost', 'water.flooded', 'water.turbidity_high', 'water.chlorine_low', 'water.chlorine_high',
  'water.ph_abnormal', 'water.door_open', 'water.inlet_pressure_low', 'water.smoke', 'water.temperature_abnormal', 'water.humidity_high',
  ...ZONES.flatMap(() => ['water.zone_pressure_low', 'water.zone_pressure_high'] as const),
];
const SUBJECTS: readonly string[] = [...SLOTS.slice(0, ZONE_SLOT).map(() => ''), ...ZONES.flatMap((z) => [z, z])];

/** The settings with each zone's limits resolved (a zone without its own takes the outlet's), once per device. */
export interface WaterPumpParams extends WaterPumpRules {
  zoneMin: readonly number[];
  zoneMax: readonly number[];
}

export const waterPump: KindModule<RuleState, WaterPumpParams> = {
  slots: SLOTS,
  subjects: SUBJECTS,
  create: (device: DeviceInfo, params: WaterPumpParams, host: SlotHost) => new RuleState(device, params, waterPump, host),

  params(rules) {
    const r = rules as WaterPumpRules;
    return {
      ...r,
      zoneMin: ZONES.map((z) => r.zonePressure[z].minMpa ?? r.minOutletPressureMpa),
      zoneMax: ZONES.map((z) => r.zonePressure[z].maxMpa ?? r.maxOutletPressureMpa),
    };
  },

  telemetry(h, s, d, now) {
    const p = s.params;
    const outlet = d.outletPressure as number;
    below(h, s, OUT_LOW, outlet, p.minOutletPressureMpa, p.pressureHysteresisMpa, now);
    above(h, s, OUT_HIGH, outlet, p.maxOutletPressureMpa, p.pressureHysteresisMpa, now);
    below(h, s, TANK_LOW, d.tankLevel as number, p.minTankLevelM, p.tankHysteresisM, now);
    flag(h, s, PUMP_FAULT, d.pumpFault === true, now);
    flag(h, s, FLOODED, d.flooded === true, now);
    flag(h, s, DOOR, d.doorOpen === true, now);
    const turbidity = d.turbidity;
    if (typeof turbidity === 'number') above(h, s, TURBIDITY, turbidity, p.maxTurbidityNtu, p.turbidityHysteresisNtu, now);
    const chlorine = d.chlorine;
    if (typeof chlorine === 'number') {
      below(h, s, CL_LOW, chlorine, p.minChlorineMgL, p.chlorineHysteresisMgL, now);
      above(h, s, CL_HIGH, chlorine, p.maxChlorineMgL, p.chlorineHysteresisMgL, now);
    }
    const ph = d.ph;
    if (typeof ph === 'number') {
      if (ph < p.minPh || ph > p.maxPh) setOn(h, s, PH, now);
      else if (ph >= p.minPh + p.phHysteresis && ph <= p.maxPh - p.phHysteresis) setOff(h, s, PH, now);
    }
    for (let i = 0; i < ZONES.length; i++) {
      const v = d[ZONE_FIELDS[i]!];
      if (typeof v !== 'number') continue;
      below(h, s, ZONE_SLOT + 2 * i, v, p.zoneMin[i]!, p.pressureHysteresisMpa, now);
      above(h, s, ZONE_SLOT + 2 * i + 1, v, p.zoneMax[i]!, p.pressureHysteresisMpa, now);
    }
    below(h, s, INLET_LOW, d.inletPressure as number, p.minInletPressureMpa, p.pressureHysteresisMpa, now);
    if (typeof d.smoke === 'boolean') flag(h, s, SMOKE, d.smoke, now);
    const t = d.temperature;
    if (typeof t === 'number') {
      if (t < p.minTemperatureC || t > p.maxTemperatureC) setOn(h, s, TEMPERATURE, now);
      else if (t >= p.minTemperatureC + p.temperatureHysteresisC && t <= p.maxTemperatureC - p.temperatureHysteresisC) setOff(h, s, TEMPERATURE, now);
    }
    const rh = d.humidity;
    if (typeof rh === 'number') above(h, s, HUMIDITY, rh, p.maxHumidityPercent, p.humidityHysteresisPercent, now);
    s.last = d;
  },

  event(h, s, d, now) {
    switch (d.type) {
      case 'pump_fault': occur(h, s, PUMP_FAULT, now); break;
      case 'pump_fault_cleared': setOff(h, s, PUMP_FAULT, now); break;
      case 'power_lost': occur(h, s, PUMP_POWER, now); break;
      case 'power_restored': setOff(h, s, PUMP_POWER, now); break;
      case 'flooded': occur(h, s, FLOODED, now); break;
      case 'flood_cleared': setOff(h, s, FLOODED, now); break;
      case 'door_opened': occur(h, s, DOOR, now); break;
      case 'door_closed': setOff(h, s, DOOR, now); break;
    }
  },

  hold(s, slot) {
    const p = s.params;
    switch (slot) {
      case OUT_LOW: case OUT_HIGH: return p.outletPressureAfter;
      case TANK_LOW: return p.tankLowAfter;
      case PUMP_FAULT: return p.pumpFaultAfter;
      case FLOODED: return p.floodedAfter;
      case TURBIDITY: case CL_LOW: case CL_HIGH: case PH: return p.qualityAfter;
      case INLET_LOW: return p.inletPressureAfter;
      case SMOKE: return p.smokeAfter;
      case TEMPERATURE: case HUMIDITY: return p.climateAfter;
      default: return slot >= ZONE_SLOT ? p.outletPressureAfter : 0;
    }
  },

  details(s, slot) {
    const l = s.last, p = s.params;
    switch (slot) {
      case OUT_LOW: return { outletPressure: l?.outletPressure, minOutletPressureMpa: p.minOutletPressureMpa };
      case OUT_HIGH: return { outletPressure: l?.outletPressure, maxOutletPressureMpa: p.maxOutletPressureMpa };
      case TANK_LOW: return { tankLevel: l?.tankLevel, minTankLevelM: p.minTankLevelM };
      case TURBIDITY: return { turbidity: l?.turbidity, maxTurbidityNtu: p.maxTurbidityNtu };
      case CL_LOW: return { chlorine: l?.chlorine, minChlorineMgL: p.minChlorineMgL };
      case CL_HIGH: return { chlorine: l?.chlorine, maxChlorineMgL: p.maxChlorineMgL };
      case PH: return { ph: l?.ph, minPh: p.minPh, maxPh: p.maxPh };
      case PUMP_FAULT: return { pumpFault: l?.pumpFault, pumpsRunning: l?.pumpsRunning };
      case FLOODED: return { flooded: l?.flooded, humidity: l?.humidity };
      case DOOR: return { doorOpen: l?.doorOpen };
      case INLET_LOW: return { inletPressure: l?.inletPressure, minInletPressureMpa: p.minInletPressureMpa };
      case SMOKE: return { smoke: l?.smoke, temperature: l?.temperature };
      case TEMPERATURE: return { temperature: l?.temperature, minTemperatureC: p.minTemperatureC, maxTemperatureC: p.maxTemperatureC };
      case HUMIDITY: return { humidity: l?.humidity, maxHumidityPercent: p.maxHumidityPercent };
      default: {
        if (slot < ZONE_SLOT) return {};
        const i = (slot - ZONE_SLOT) >> 1;
        const field = ZONE_FIELDS[i]!;
        return (slot - ZONE_SLOT) % 2 === 0
          ? { zone: ZONES[i], [field]: l?.[field], minMpa: p.zoneMin[i] }
          : { zone: ZONES[i], [field]: l?.[field], maxMpa: p.zoneMax[i] };
      }
    }
  },

  suppressed: () => false,
  save: () => ({}),
  restore: () => {},
};
