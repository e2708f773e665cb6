import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CustomerToken, CustomerTokenCreate } from '@keymaster/contract';
import { auditActorOf } from '../../http/audit-actor.js';
import { claimOf } from '../../http/idempotency.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toIso } from '../../json-column.js';
import type { CustomerTokenService } from './service.js';

export const customerTokenRoutes: FastifyPluginAsyncTypebox<{ customerTokens: CustomerTokenService }> = async (
  app,
  { customerTokens },
) => {
  app.post(
    '/v1/customer-tokens',
    {
      // Minting changes nothing a check reads (only the audit trail records it): no change-feed
      // catch-up before answering.
      config: { readOnly: true, secretFields: ['token'] },
      schema: {
        tags: ['Customer tokens'],
        security,
        summary: 'Create a customer token for a browser',
        description:
          "A short-lived signed token (default one hour, at most 24 hours) that lets a browser read this one customer's " +
          'entitlements (`GET /v1/customers/{id}/entitlements`), check (`POST /v1/check`) and stream ' +
          '(`GET /v1/stream?customer=`) — and nothing else. Needs a secret key. Stops working when it expires or the ' +
          'customer is erased.',
        body: CustomerTokenCreate,
        response: { 201: CustomerToken, ...problemResponses },
      },
    },
    async (request, reply) => {
      const issued = await customerTokens.issue({
        customer: request.body.customer,
        ttlSeconds: request.body.ttl_seconds,
        actor: auditActorOf(request),
        claim: claimOf(request),
      });
      return reply
        .status(201)
        .send({ token: issued.token, customer: issued.customer, expires_at: toIso(issued.expiresAt)! });
    },
  );
};
