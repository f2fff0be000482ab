/**
 * Test mode of fire devices (DOMAIN.md, practitioner review): owners test their alarms every month,
 * and a panel, smoke alarm or fire-water monitor in test mode records what it raises without sending
 * the fire service out. It is set over the API with an end time (at most 24 h ahead: a test that
 * needs longer is a device out of service, which is an alert of its own) and ends by itself then.
 *
 * Where each part lives: the end time is stored with the device in the registry (so a restart keeps
 * it); the rules (rules/engine.ts `inTestMode`) compare it with the alert clock at every alert they
 * raise, so a test ends exactly at `until` whatever the timers do; routing.ts keeps a test alert
 * from the fire service; this file holds the API and the timer that clears an ended test mode from
 * the registry at `until` (the leader's, on the alert clock), so the device shows it no more.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { canManageCompany, canSeeDevice, idSchema, isAdmin, type Device, type Principal, type Registry } from '../registry/index.js';
import { forbidden, notFound } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { TimerHeap } from './heap.js';
import { AlertError } from './errors.js';

/** The kinds that may be put in test mode: the fire devices whose alerts reach the fire service. */
const TEST_MODE_KINDS: ReadonlySet<string> = new Set(['fire_panel', 'smoke_detector', 'fire_water']);
/** A monthly test takes an afternoon; a day bounds a test mode somebody forgot to end. */
const TEST_MODE_MAX_MS = 24 * 60 * 60_000;

const testModeBodySchema = z.object({
  /** When test mode ends: an ISO 8601 date-time with its offset, after now and at most 24 h ahead. */
  until: z.iso.datetime({ offset: true }),
  note: z.string().trim().max(500).optional(),
});

export interface TestModesDeps {
  registry: Registry;
  heap: TimerHeap;
  clock: Clock;
  /** Whether this node runs the cluster-wide timers (the alert service's lead). */
  isLeading: () => boolean;
  log: Logger;
}

export class TestModes {
  constructor(private readonly deps: TestModesDeps) {}

  /** Arms the end of every test mode in the registry (at start, and when this node takes the lead). */
  scheduleAll(): void {
    for (const d of this.deps.registry.listDevices()) this.deviceChanged(d);
  }

  /** A device changed (here or on another node): the end of its test mode, if any, is armed. */
  deviceChanged(d: Device): void {
    const until = d.testModeUntil;
    if (until === undefined) return;
    // one entry per setting; one that finds the test mode changed or gone when it pops does nothing
    this.deps.heap.push(until, { onTimer: (_slot, now) => this.expire(d.id, until, now) }, 0);
  }

  /** Inside the engine's tick (one transaction): clears a test mode that ended, on the leader only. */
  private expire(id: string, until: number, now: number): void {
    if (!this.deps.isLeading()) return;
    const d = this.deps.registry.getDevice(id);
    if (!d || d.testModeUntil !== until || until > now) return;
    this.deps.registry.endTestMode(id, 'system', 'expired');
    this.deps.log.info({ deviceId: id, until }, 'fire device test mode ended');
  }

  /** Sets or moves the test mode's end; `until` is checked against the alert clock. */
  start(p: Principal, id: string, body: z.infer<typeof testModeBodySchema>): Device {
    const device = this.manageable(p, id);
    const until = Date.parse(body.until);
    const now = this.deps.clock.now();
    if (!(until > now) || until - now > TEST_MODE_MAX_MS) {
      throw new AlertError('ALERT_TEST_MODE_UNTIL', `测试模式结束时间须晚于现在且不超过 24 小时 / until must be after now and at most 24 h ahead (now ${new Date(now).toISOString()})`,
        [{ path: 'until', message: 'after now, at most 24 h ahead' }]);
    }
    return this.deps.registry.setTestMode(device.id, until, body.note || undefined, p.id);
  }

  /** Ends the test mode now; a device not in test mode is answered as it is (nothing to end, nothing audited). */
  end(p: Principal, id: string): Device {
    const device = this.manageable(p, id);
    return device.testModeUntil === undefined ? device : this.deps.registry.endTestMode(device.id, p.id, 'ended');
  }

  /**
   * Who may, in the order the registry routes refuse: the role first (403, before the device is looked
   * at, so the answer says nothing about it), then the scope (404, as for a device that does not
   * exist), then the kind (400).
   */
  private manageable(p: Principal, id: string): Device {
    if (!isAdmin(p) && p.role !== 'property') throw forbidden('仅管理员或设备所属物业可设置测试模式 / only an admin or the property company of the device may set its test mode');
    const device = this.deps.registry.getDevice(id);
    if (!device || !canSeeDevice(p, device)) throw notFound('device', id);
    if (!canManageCompany(p, device.companyId)) throw forbidden();
    if (!TEST_MODE_KINDS.has(device.kind)) {
      throw new AlertError('ALERT_TEST_MODE_KIND', `测试模式仅适用于消防设备（火灾报警控制器、独立式烟感、消防水监测）/ test mode is only for fire devices (fire_panel, smoke_detector, fire_water), not a ${device.kind}`,
        [{ path: 'id', message: `a ${device.kind} has no test mode` }]);
    }
    return device;
  }
}

const idParams = z.object({ id: idSchema });

/** PUT / DELETE /api/v1/devices/{id}/test-mode. */
export function testModeRoutes(modes: TestModes): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();
    r.put('/devices/:id/test-mode', {
      schema: {
        tags: ['registry'], params: idParams, body: testModeBodySchema,
        summary: 'Put a fire device in test mode (测试模式) until a time at most 24 h ahead: its alarms and faults are recorded, not sent to the fire service. Admin or its property company; 403 other roles, 404 outside your scope, 400 ALERT_TEST_MODE_KIND for other kinds, ALERT_TEST_MODE_UNTIL for a bad end',
      },
    }, async (req) => modes.start(req.principal, req.params.id, req.body));
    r.delete('/devices/:id/test-mode', {
      schema: { tags: ['registry'], params: idParams, summary: 'End a fire device\'s test mode now (admin or its property company)' },
    }, async (req) => modes.end(req.principal, req.params.id));
  };
}
