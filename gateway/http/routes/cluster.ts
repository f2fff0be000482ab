/**
 * The cluster as the node directory sees it (gateway/cluster/nodes.ts): the nodes, the leader and
 * each node's connections, for admins only. Like every route under /api/v1 it needs a principal
 * (server.ts authenticates by the matched route; nothing to declare here); the role is checked here.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isAdmin } from '../../../registry/index.js';
import { forbidden } from '../../../core/errors.js';
import type { NodeDirectory } from '../../cluster/nodes.js';

export interface ClusterRoutesDeps {
  nodes: Pick<NodeDirectory, 'list'>;
  /** The node answering. */
  nodeId: string;
}

const nodeSchema = z.object({
  nodeId: z.string(),
  host: z.string(),
  pid: z.number().int(),
  version: z.string(),
  startedAt: z.number().int().describe('epoch ms'),
  seenAt: z.number().int().describe('epoch ms of the last heartbeat'),
  leader: z.boolean(),
  connections: z.object({ devices: z.number().int(), agencies: z.number().int(), streams: z.number().int() }),
  state: z.enum(['up', 'unreachable', 'left']).describe('up: heartbeat within 3 intervals; unreachable: older; left: stopped cleanly'),
  leftAt: z.number().int().nullable(),
});

export const clusterSchema = z.object({
  self: z.string().describe('the node that answered'),
  leader: z.string().nullable().describe('the live leader, if any'),
  nodes: z.array(nodeSchema),
});

export function clusterRoutes(deps: ClusterRoutesDeps): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<ZodTypeProvider>();

    r.get('/cluster', {
      schema: { tags: ['cluster'], summary: 'Cluster nodes, the leader and each node\'s connections (admin)', response: { 200: clusterSchema } },
    }, async (req) => {
      if (!isAdmin(req.principal)) throw forbidden('only an admin may see the cluster');
      const nodes = await deps.nodes.list();
      return { self: deps.nodeId, leader: nodes.find((n) => n.leader)?.nodeId ?? null, nodes };
    });
  };
}
