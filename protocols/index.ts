/**
 * Field protocols (SPEC 12): devices that do not speak our MQTT contract reach the same pipeline
 * through an adapter each. HTTP devices and NB-IoT platform pushes are routes on the HTTP server;
 * GB/T 26875.3 transmission devices connect to a TCP listener of their own; Modbus controllers are
 * polled. Every adapter gets the one `DeviceIngress` (ingress.ts) and nothing else of the gateway.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from '../core/log.js';
import type { DeviceIngress } from './ingress.js';
import type { ProtocolsSettings } from './config.js';
import { httpDeviceRoutes, type HttpDeviceDeps } from './http/routes.js';
import { Gb26875Server } from './gb26875/index.js';
import { nbiotRoutes } from './nbiot/index.js';
import { ModbusPoller } from './modbus/index.js';
import { protocolStatusRoutes } from './status-routes.js';

export { protocolsSettingsSchema, type ProtocolsSettings } from './config.js';
export type { DeviceIngress, FieldDevice, FieldProtocol, ProtocolRejection, SubmitResult } from './ingress.js';
export { FIELD_PROTOCOLS, PROTOCOL_REJECT_REASONS } from './ingress.js';

export interface FieldProtocolsDeps {
  ingress: DeviceIngress;
  settings: ProtocolsSettings;
  log: Logger;
  /** The HTTP device API's login check and rate limit, shared with MQTT. */
  devices: Pick<HttpDeviceDeps, 'checkSecret' | 'rateLimitWait'>;
  /** What people call a device (its location), for the status page. */
  deviceName: (id: string) => string | undefined;
}

export interface FieldProtocols {
  /** Registered under /api/v1 by the composition root. */
  routes: FastifyPluginAsync[];
  /** The GB/T 26875.3 listener's port; undefined while it is off. */
  gb26875Port(): number | undefined;
  modbus: ModbusPoller;
  start(): Promise<void>;
  /**
   * Cluster mode: only the node that leads the cluster's timers polls Modbus controllers, so that
   * two nodes never poll one PLC (and never store its readings twice).
   */
  setLeading(leading: boolean): void;
  stop(): Promise<void>;
}

export function openFieldProtocols(deps: FieldProtocolsDeps): FieldProtocols {
  const { ingress, settings, log } = deps;
  const routes: FastifyPluginAsync[] = [nbiotRoutes({ ingress, settings: settings.nbiot, log })];
  if (settings.http.enabled) routes.push(httpDeviceRoutes({ ingress, bodyLimit: settings.http.bodyLimitBytes, ...deps.devices }));
  const gb26875 = new Gb26875Server({ ingress, settings: settings.gb26875, log });
  const modbus = new ModbusPoller({ ingress, settings: settings.modbus, log });
  let polling = false;
  routes.push(protocolStatusRoutes({ modbus: () => modbus.status(), deviceName: deps.deviceName, polling: () => polling }));
  return {
    routes,
    gb26875Port: () => gb26875.port(),
    modbus,
    start: () => gb26875.start(),
    setLeading(leading) {
      if (leading === polling) return;
      polling = leading;
      if (leading) modbus.start();
      else modbus.stop().catch((err: unknown) => log.warn({ err }, 'stopping the Modbus poller failed'));
    },
    async stop() {
      polling = false;
      await modbus.stop();
      await gb26875.close();
    },
  };
}
