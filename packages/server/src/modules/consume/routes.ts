import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ConsumeRequest, Decision } from '@keymaster/contract';
import { claimOf } from '../../http/idempotency.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiDecision } from '../entitlements/convert.js';
import type { ConsumeService } from './service.js';

const tags = ['Usage'];

export const consumeRoutes: FastifyPluginAsyncTypebox<{ consume: ConsumeService }> = async (app, { consume }) => {
  app.post(
    '/v1/consume',
    {
      schema: {
        tags,
        security,
        summary: 'Consume units of a metered feature',
        description:
          'Atomic check-and-record: the units are recorded only when allowed, and concurrent consumes never pass a ' +
          '`block` limit, on any number of nodes. An allowed answer already includes the quantity in `usage`. ' +
          'A retry with the same `idempotency_key` counts once and answers the same.',
        body: ConsumeRequest,
        response: { 200: Decision, ...problemResponses },
      },
    },
    async (request) => toApiDecision(await consume.consume(request.body, claimOf(request))),
  );
};
