/** Companies, maintenance units, sites, devices and accounts, each call checked against the caller's scope (registry/scope.ts). */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  accountInputSchema, accountPatchSchema, companyInputSchema, companyPatchSchema, deviceInputSchema, devicePatchSchema, idSchema,
  maintenanceUnitInputSchema, maintenanceUnitPatchSchema, siteInputSchema, sitePatchSchema,
} from '../../../registry/index.js';
import {
  canManageCompany, canManageMaintenanceUnit, canSeeCompany, canSeeDevice, canSeeMaintenanceUnit, canSeeSite, isAdmin, type Principal,
} from '../../../registry/index.js';
import { IdTakenError, badRequest, forbidden, notFound } from '../../../core/errors.js';
import type { HttpDeps } from '../deps.js';
import { handoverSchema } from '../../../supervision/index.js';
import type { Device } from '../../../registry/index.js';

const idParams = z.object({ id: idSchema });

export function registryRoutes(deps: HttpDeps): FastifyPluginAsync {
  const { registry, presence, handovers } = deps;
  const siteChangeSchema = sitePatchSchema.extend(handoverSchema.partial().shape);

  const visibleDevice = (id: string, principal: Parameters<typeof canSeeDevice>[0]): Device => {
    const device = registry.getDevice(id);
    // a device outside the caller's scope is reported as absent, so ids cannot be probed
    if (!device || !canSeeDevice(principal, device)) throw notFound('device', id);
    return device;
  };

  /**
   * A site of another company is answered exactly like a site that does not exist (the same as
   * the registry's own answer), so site ids of other companies cannot be probed through devices.
   */
  const manageableSite = (siteId: string, principal: Principal) => {
    const site = registry.getSite(siteId);
    if (!site || !canManageCompany(principal, site.companyId)) throw badRequest(`site ${siteId} does not exist`, [{ path: 'siteId', message: 'unknown site' }]);
    return site;
  };

  /** Creates something with a caller-chosen id; only an admin is told what already holds a taken id. */
  const creating = <T>(principal: Principal, create: () => T): T => {
    try {
      return create();
    } catch (err) {
      if (err instanceof IdTakenError && isAdmin(principal)) throw err.precise();
      throw err;
    }
  };

  const withState = (device: Device) => {
    const s = presence.get(device.id);
    return { ...device, online: s?.online ?? false, lastSeenAt: s?.lastSeenAt ?? null, latest: s?.latest ?? {}, latestAt: s?.latestAt ?? null, lastEvent: s?.lastEvent ?? null };
  };

  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get('/me', { schema: { tags: ['accounts'], summary: 'Who the token belongs to: id, role, scope, and the name of the company or unit the scope is' } }, async (req) => {
      const { id, role, scope } = req.principal;
      // what a person reads: the company's or unit's name next to its id (a street / community scope is a name already)
      const scopeName = scope === undefined ? undefined
        : role === 'property' ? registry.getCompany(scope)?.name
          : role === 'maintenance' ? registry.getMaintenanceUnit(scope)?.name : undefined;
      return { id, role, ...(scope === undefined ? {} : { scope }), ...(scopeName === undefined ? {} : { scopeName }) };
    });

    // ---- property companies and maintenance units: an admin creates them; each may keep its own name and phone ----

    /** What a company or unit may change of its own entry; the rest is the admin's. */
    const ownFields = (principal: Principal, body: Record<string, unknown>, what: string) => {
      if (isAdmin(principal)) return;
      const others = Object.keys(body).filter((k) => body[k] !== undefined && k !== 'name' && k !== 'phone');
      if (others.length > 0) throw forbidden(`a ${what} may change only its name and phone, not ${others.join(', ')}`);
    };

    r.post('/companies', { schema: { tags: ['registry'], summary: 'Register a property company (物业服务企业)', body: companyInputSchema } }, async (req, reply) => {
      if (!isAdmin(req.principal)) throw forbidden('only an admin may register companies');
      return reply.status(201).send(registry.createCompany(req.body, req.principal.id));
    });

    r.get('/companies', { schema: { tags: ['registry'], summary: 'Property companies in your scope' } }, async (req) =>
      registry.listCompanies().filter((c) => canSeeCompany(req.principal, c.id)));

    r.get('/companies/:id', { schema: { tags: ['registry'], params: idParams } }, async (req) => {
      const company = registry.getCompany(req.params.id);
      if (!company || !canSeeCompany(req.principal, company.id)) throw notFound('company', req.params.id);
      return company;
    });

    r.patch('/companies/:id', { schema: { tags: ['registry'], summary: 'Change a company (its own account: name and phone)', params: idParams, body: companyPatchSchema } }, async (req) => {
      const company = registry.getCompany(req.params.id);
      if (!company || !canSeeCompany(req.principal, company.id)) throw notFound('company', req.params.id);
      ownFields(req.principal, req.body, 'property company');
      return registry.updateCompany(company.id, req.body, req.principal.id);
    });

    r.post('/maintenance-units', { schema: { tags: ['registry'], summary: 'Register a maintenance unit (维保单位) with its 24 h phone', body: maintenanceUnitInputSchema } }, async (req, reply) => {
      if (!isAdmin(req.principal)) throw forbidden('only an admin may register maintenance units');
      return reply.status(201).send(registry.createMaintenanceUnit(req.body, req.principal.id));
    });

    r.get('/maintenance-units', { schema: { tags: ['registry'], summary: 'Maintenance units in your scope (phone "" = 24 h phone not registered)' } }, async (req) =>
      registry.listMaintenanceUnits().filter((u) => canSeeMaintenanceUnit(req.principal, u.id)));

    r.get('/maintenance-units/:id', { schema: { tags: ['registry'], params: idParams } }, async (req) => {
      const unit = registry.getMaintenanceUnit(req.params.id);
      if (!unit || !canSeeMaintenanceUnit(req.principal, unit.id)) throw notFound('maintenance unit', req.params.id);
      return unit;
    });

    r.patch('/maintenance-units/:id', { schema: { tags: ['registry'], summary: 'Change a maintenance unit (its own account: name and phone)', params: idParams, body: maintenanceUnitPatchSchema } }, async (req) => {
      const unit = registry.getMaintenanceUnit(req.params.id);
      if (!unit || !canSeeMaintenanceUnit(req.principal, unit.id)) throw notFound('maintenance unit', req.params.id);
      if (!canManageMaintenanceUnit(req.principal, unit.id)) throw forbidden('only an admin or the unit itself may change a maintenance unit');
      ownFields(req.principal, req.body, 'maintenance unit');
      return registry.updateMaintenanceUnit(unit.id, req.body, req.principal.id);
    });

    // ---- sites and devices ----

    r.post('/sites', { schema: { tags: ['registry'], summary: 'Register a site (小区)', body: siteInputSchema } }, async (req, reply) => {
      if (!canManageCompany(req.principal, req.body.companyId)) throw forbidden(`you may not add sites to company ${req.body.companyId}`);
      return reply.status(201).send(registry.siteView(creating(req.principal, () => registry.createSite(req.body, req.principal.id))));
    });

    r.get('/sites', { schema: { tags: ['registry'], summary: 'Sites in your scope' } }, async (req) =>
      registry.listSites().filter((s) => canSeeSite(req.principal, s)).map((s) => registry.siteView(s)));

    r.get('/sites/:id', { schema: { tags: ['registry'], params: idParams } }, async (req) => {
      const site = registry.getSite(req.params.id);
      if (!site || !canSeeSite(req.principal, site)) throw notFound('site', req.params.id);
      return registry.siteView(site);
    });

    r.patch('/sites/:id', {
      schema: {
        tags: ['registry'], params: idParams, body: siteChangeSchema,
        summary: 'Change a site: name, address, street, community, grid, area; with companyId, hand it over (物业交接, admin) from a date, optionally to an emergency operator (应急物业) until a date at most 6 months later',
      },
    }, async (req) => {
      const site = registry.getSite(req.params.id);
      if (!site || !canSeeSite(req.principal, site)) throw notFound('site', req.params.id);
      if (!canManageCompany(req.principal, site.companyId)) throw forbidden();
      const { companyId, from, emergencyUntil, ...patch } = req.body;
      if (companyId === undefined && (from !== undefined || emergencyUntil !== undefined)) {
        throw badRequest('from and emergencyUntil belong to a handover: give companyId too', [{ path: 'companyId', message: 'required with from / emergencyUntil' }]);
      }
      // the handover first: it is the part that may be refused, and then nothing has changed
      const handover = companyId === undefined ? undefined : await handovers.handOver(req.principal, site.id, { companyId, from, emergencyUntil });
      const changed = Object.values(patch).some((v) => v !== undefined) ? registry.updateSite(site.id, patch, req.principal.id) : registry.getSite(site.id)!;
      return {
        ...registry.siteView(changed),
        ...(handover ? { handover: handover.applied ? { applied: true, alertsMoved: handover.alertsMoved, ordersMoved: handover.ordersMoved } : { applied: false } } : {}),
      };
    });

    r.delete('/sites/:id/handover', { schema: { tags: ['registry'], summary: 'Cancel the handover fixed for a later date (admin)', params: idParams } }, async (req) => {
      const site = registry.getSite(req.params.id);
      if (!site || !canSeeSite(req.principal, site)) throw notFound('site', req.params.id);
      return registry.siteView(handovers.cancel(req.principal, site.id));
    });

    r.get('/sites/:id/responsibility', { schema: { tags: ['registry'], summary: 'Who was responsible for the site when (companies, emergency operators), oldest first', params: idParams } }, async (req) => {
      const site = registry.getSite(req.params.id);
      if (!site || !canSeeSite(req.principal, site)) throw notFound('site', req.params.id);
      return registry.responsibility(site.id);
    });

    r.post('/devices', { schema: { tags: ['registry'], summary: 'Register a device; the secret is returned this once', body: deviceInputSchema } }, async (req, reply) => {
      // the agencies register nothing: refused before the site is looked at, so the answer says nothing about it
      if (!isAdmin(req.principal) && req.principal.role !== 'property') throw forbidden('only an admin or a property company may register devices');
      manageableSite(req.body.siteId, req.principal);
      const { device, secret } = creating(req.principal, () => registry.createDevice(req.body, req.principal.id));
      return reply.status(201).send({ ...device, secret });
    });

    r.get('/devices', {
      schema: { tags: ['registry'], summary: 'Devices in your scope', querystring: z.object({ siteId: idSchema.optional(), kind: z.string().optional() }) },
    }, async (req) => registry.listDevices()
      .filter((d) => canSeeDevice(req.principal, d) && (!req.query.siteId || d.siteId === req.query.siteId) && (!req.query.kind || d.kind === req.query.kind))
      .map(withState));

    r.get('/devices/:id', { schema: { tags: ['registry'], summary: 'A device with online state, lastSeenAt and latest readings', params: idParams } },
      async (req) => withState(visibleDevice(req.params.id, req.principal)));

    r.patch('/devices/:id', { schema: { tags: ['registry'], summary: 'Change a device (e.g. disable it)', params: idParams, body: devicePatchSchema } }, async (req) => {
      const device = visibleDevice(req.params.id, req.principal);
      if (!canManageCompany(req.principal, device.companyId)) throw forbidden();
      if (req.body.siteId) manageableSite(req.body.siteId, req.principal);
      const updated = registry.updateDevice(req.params.id, req.body, req.principal.id);
      // a new maintenance unit answers for the elevator's open alerts from now on
      if ((updated.maintenanceUnitId ?? null) !== (device.maintenanceUnitId ?? null)) handovers.unitChanged(updated.id, req.principal.id);
      return updated;
    });

    r.post('/devices/:id/secret', { schema: { tags: ['registry'], summary: 'Issue a new device secret (the old one stops working)', params: idParams } }, async (req, reply) => {
      const device = visibleDevice(req.params.id, req.principal);
      if (!canManageCompany(req.principal, device.companyId)) throw forbidden();
      return reply.status(201).send({ id: device.id, secret: registry.rotateSecret(device.id, req.principal.id) });
    });

    r.post('/accounts', { schema: { tags: ['accounts'], summary: 'Create an API / MQTT account; the token is returned this once', body: accountInputSchema } }, async (req, reply) => {
      if (!isAdmin(req.principal)) throw forbidden('only an admin may create accounts');
      const { account, token } = creating(req.principal, () => registry.createAccount(req.body, req.principal.id));
      return reply.status(201).send({ ...account, token });
    });

    r.get('/accounts', { schema: { tags: ['accounts'] } }, async (req) => {
      if (!isAdmin(req.principal)) throw forbidden('only an admin may list accounts');
      return registry.listAccounts();
    });

    r.patch('/accounts/:id', { schema: { tags: ['accounts'], summary: 'Disable / re-enable or rename an account; disabling ends its MQTT sessions and streams at once', params: idParams, body: accountPatchSchema } }, async (req) => {
      if (!isAdmin(req.principal)) throw forbidden('only an admin may change accounts');
      return registry.updateAccount(req.params.id, req.body, req.principal.id);
    });

    r.post('/accounts/:id/token', { schema: { tags: ['accounts'], summary: 'Issue a new account token (the old one stops working; live sessions and streams end)', params: idParams } }, async (req, reply) => {
      if (!isAdmin(req.principal)) throw forbidden('only an admin may rotate account tokens');
      return reply.status(201).send({ id: req.params.id, token: registry.rotateToken(req.params.id, req.principal.id) });
    });

    r.get('/audit', { schema: { tags: ['accounts'], summary: 'Audit log (admin)', querystring: z.object({ target: z.string().optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) }) } }, async (req) => {
      if (!isAdmin(req.principal)) throw forbidden('only an admin may read the audit log');
      return deps.audit.list({ target: req.query.target, limit: req.query.limit });
    });
  };
}
