/**
 * The field protocols' settings (`protocols` in the config file), one section per adapter, each
 * with its defaults in its own schema. Every adapter but the HTTP device API is off until it is
 * given something to do: a GB/T 26875.3 port, an NB-IoT push instance, a Modbus target.
 */
import { z } from 'zod';
import { gb26875SettingsSchema } from './gb26875/config.js';
import { nbiotSettingsSchema } from './nbiot/config.js';
import { modbusSettingsSchema } from './modbus/config.js';

export const protocolsSettingsSchema = z.object({
  /** `POST /api/v1/devices/{id}/telemetry|events` with the device's secret as Basic auth. */
  http: z.object({
    enabled: z.boolean().default(true),
    /**
     * A body above this is refused (413) before it is read. Above `ingest.maxPayloadBytes` on purpose:
     * a message between the two is read and kept as a `too_large` dead letter, like an MQTT one.
     */
    bodyLimitBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
  }).prefault({}),
  gb26875: gb26875SettingsSchema.prefault({}),
  nbiot: nbiotSettingsSchema.prefault({}),
  modbus: modbusSettingsSchema.prefault({}),
});
export type ProtocolsSettings = z.output<typeof protocolsSettingsSchema>;
