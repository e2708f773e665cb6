import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CustomerParams, Grant, GrantCreate, GrantListQuery, GrantParams, Page } from '@keymaster/contract';
import type { Clock } from '../../clock.js';
import { auditActorOf } from '../../http/audit-actor.js';
import { claimOf } from '../../http/idempotency.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiGrant } from './convert.js';
import type { GrantService } from './service.js';

const tags = ['Grants'];

export const grantRoutes: FastifyPluginAsyncTypebox<{ grants: GrantService; clock: Clock }> = async (
  app,
  { grants, clock },
) => {
  app.post(
    '/v1/customers/:id/grants',
    {
      schema: {
        tags,
        security,
        summary: 'Grant an override',
        description:
          'Enables a feature, replaces or adds to a limit, or sets a config value for one customer, optionally for a time.',
        params: CustomerParams,
        body: GrantCreate,
        response: { 201: Grant, ...problemResponses },
      },
    },
    async (request, reply) => {
      const grant = await grants.create({
        customerId: request.params.id,
        body: request.body,
        actor: auditActorOf(request),
        claim: claimOf(request),
      });
      return reply.status(201).send(toApiGrant(grant, clock.now()));
    },
  );

  app.get(
    '/v1/customers/:id/grants',
    {
      schema: {
        tags,
        security,
        summary: "List a customer's grants",
        params: CustomerParams,
        querystring: GrantListQuery,
        response: { 200: Page(Grant, 'A page of grants, oldest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await grants.list({
        customerId: request.params.id,
        after: decodeCursor(request.query.cursor),
        limit: limit + 1,
        includeRevoked: request.query.include_revoked ?? false,
      });
      const now = clock.now();
      return toPage({ rows, limit, sortKey: (g) => g.id, convert: (g) => toApiGrant(g, now) });
    },
  );

  app.delete(
    '/v1/grants/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Revoke a grant',
        description: 'The grant stops applying at once; it stays listed with `revoked_at` for the record.',
        params: GrantParams,
        response: { 200: Grant, ...problemResponses },
      },
    },
    async (request) => toApiGrant(await grants.revoke(request.params.id, auditActorOf(request)), clock.now()),
  );
};
