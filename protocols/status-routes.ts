/**
 * How the field protocol adapters are doing, for admins: `GET /api/v1/protocols/modbus` lists every
 * polled controller with its device's name, whether it answers, its last good poll and its last error,
 * so an operator finds the PLC that stopped answering without reading logs. (The counters are in
 * `/metrics`: gateway_protocol_messages_total, gateway_protocol_connections.)
 */
import type { FastifyPluginAsync } from 'fastify';
import { forbidden } from '../core/errors.js';
import { isAdmin } from '../registry/index.js';
import type { ModbusTargetStatus } from './modbus/index.js';

export function protocolStatusRoutes(deps: { modbus: () => ModbusTargetStatus[]; deviceName: (id: string) => string | undefined; polling: () => boolean }): FastifyPluginAsync {
  return async (app) => {
    app.get('/protocols/modbus', {
      schema: { tags: ['protocols'], summary: 'The polled Modbus controllers and how each answers (admin) / Modbus 轮询状态' },
    }, async (req) => {
      if (!isAdmin(req.principal)) throw forbidden('只有管理员可查看 / admins only');
      // in a cluster only the timer leader polls: another node says so rather than listing stale targets
      return {
        polling: deps.polling(),
        targets: deps.modbus().map((s) => ({ ...s, deviceName: deps.deviceName(s.device) ?? null })),
      };
    });
  };
}
