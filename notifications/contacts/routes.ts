/**
 * The contacts API under /api/v1: the people of a party who hear of its alerts, and how.
 *
 * Who: an admin, for any party (naming it); an account of a party (property company, maintenance
 * unit, street, market supervision, the fire service), for its own party: the queue it reads
 * (registry `ownQueue`). A contact of another party answers exactly like a missing one (404); an
 * account of no party (a community) may neither list nor add contacts (403).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { badRequest, forbidden } from '../../core/errors.js';
import { isAdmin, isQueueName, ownQueue, QUEUE_NAME_HINT, type Principal } from '../../registry/index.js';
import type { Contact } from '../model.js';
import { contactNotFound, type ContactBook } from './book.js';
import { contactInputSchema, contactPatchSchema } from './schemas.js';

const idParams = z.object({ id: z.string().min(1).max(64) });
const listQuery = z.object({
  party: z.string().refine(isQueueName, { error: QUEUE_NAME_HINT }).optional().describe('admin: one party\'s contacts; anyone else sees only their own party\'s'),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});

const AUTHORITY_NAMES: Record<string, string> = {
  'market-supervision': '市场监管 / Market supervision',
  'fire-service': '消防救援 / Fire service',
};

/** A party's name for people when the registry has none to give: the authority's, the street's, or the id. */
export function defaultPartyName(queue: string): string {
  return AUTHORITY_NAMES[queue] ?? queue.slice(queue.indexOf('/') + 1);
}

/**
 * `partyName`: the company's or unit's name for `property/…` / `maintenance/…` queues (undefined for
 * one the registry does not know, which an admin then cannot add contacts to), optionally the
 * others'; without it, parties are named by `defaultPartyName`.
 */
export function contactRoutes(book: ContactBook, partyName?: (queue: string) => string | undefined): FastifyPluginAsync {
  const nameOf = (queue: string) => partyName?.(queue) ?? defaultPartyName(queue);
  const view = (c: Contact) => ({ ...c, partyName: nameOf(c.party) });

  /** The caller's own party; 403 for an account of none (a community). Not for admins. */
  const ownParty = (p: Principal): string => {
    const own = ownQueue(p);
    if (own === undefined) throw forbidden('该账号不属于接收告警的单位，没有联系人 / this account belongs to no party that receives alerts, so it has no contacts');
    return own;
  };
  /** A contact the caller may see: another party's answers like a missing one. */
  const visible = (p: Principal, id: string): Contact => {
    const c = book.get(id);
    if (!c || (!isAdmin(p) && ownQueue(p) !== c.party)) throw contactNotFound(id);
    return c;
  };
  const partyProblem = (message: string) => badRequest(`party: ${message}`, [{ path: 'party', message }]);

  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get('/contacts', {
      schema: {
        tags: ['notifications'], querystring: listQuery,
        summary: 'Contacts (通知联系人) of your party, disabled ones too: by party, then on-call order, then name',
        description: 'An admin sees every party\'s, or one party\'s with ?party=. Each contact carries its party\'s name (partyName).',
      },
    }, async (req) => {
      const p = req.principal;
      const { party, offset, limit } = req.query;
      let items: Contact[];
      if (isAdmin(p)) items = book.list(party);
      else {
        const own = ownParty(p);
        items = party === undefined || party === own ? book.list(own) : [];
      }
      return { items: items.slice(offset, offset + limit).map(view), total: items.length };
    });

    r.post('/contacts', {
      schema: {
        tags: ['notifications'], body: contactInputSchema,
        summary: 'Add a contact: who hears of the party\'s alerts, by which channels, their quiet hours and on-call order',
        description: 'party: required for an admin; anyone else adds to their own party (the default). A rule\'s channel needs its address: sms a mobile phone, '
          + 'voice a phone, email an e-mail address, wecom / dingtalk / feishu a configured robot of that kind in robots. onCall needs a phone (the chain ends in a voice call). 201 with the contact.',
      },
    }, async (req, reply) => {
      const p = req.principal;
      const { party: given, ...input } = req.body;
      let party: string;
      if (isAdmin(p)) {
        if (given === undefined) throw partyProblem('管理员须指定联系人所属单位 / an admin names the party (its queue, e.g. property/co-1)');
        if ((given.startsWith('property/') || given.startsWith('maintenance/')) && partyName && partyName(given) === undefined) {
          throw partyProblem(`未登记的单位 ${given} / ${given} is not registered`);
        }
        party = given;
      } else {
        party = ownParty(p);
        if (given !== undefined && given !== party) throw partyProblem(`只能为本单位（${party}）添加联系人 / you add contacts to your own party (${party}) only`);
      }
      return reply.status(201).send(view(book.create(p.id, party, input)));
    });

    r.get('/contacts/:id', {
      schema: { tags: ['notifications'], params: idParams, summary: 'A contact of your party' },
    }, async (req) => view(visible(req.principal, req.params.id)));

    r.patch('/contacts/:id', {
      schema: {
        tags: ['notifications'], params: idParams, body: contactPatchSchema,
        summary: 'Change a contact: the fields given replace its own, null removes an optional one (phone, email, quietHours, onCall, accountId); the party cannot change',
      },
    }, async (req) => {
      visible(req.principal, req.params.id);
      return view(book.update(req.principal.id, req.params.id, req.body));
    });

    r.delete('/contacts/:id', {
      schema: { tags: ['notifications'], params: idParams, summary: 'Remove a contact of your party (204)' },
    }, async (req, reply) => {
      visible(req.principal, req.params.id);
      book.remove(req.principal.id, req.params.id);
      // no body, so no serialisation hook to wait on: answered once the removal is durable
      await book.durable();
      return reply.status(204).send();
    });
  };
}
