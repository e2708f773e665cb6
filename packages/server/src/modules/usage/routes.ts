import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ConsumeRequest, CustomerParams, Decision, GaugeLevel, GaugeUpdate } from '@keymaster/contract';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiDecision } from '../entitlements/convert.js';
import type { ConsumeService } from './consume.js';
import type { UsageService } from './service.js';

const tags = ['Usage'];

export const usageRoutes: FastifyPluginAsyncTypebox<{ usage: UsageService; consume: ConsumeService }> = async (
  app,
  { usage, consume },
) => {
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
    async (request) => toApiDecision(await consume.consume(request.body)),
  );

  app.post(
    '/v1/customers/:id/usage',
    {
      schema: {
        tags,
        security,
        summary: 'Set or adjust a gauge',
        description:
          'Records the current level of a gauge feature (seats, projects, storage): `set` it, or move it by `delta`. ' +
          'Recording never refuses over the cap; ask `POST /v1/check` with a quantity before adding.',
        params: CustomerParams,
        body: GaugeUpdate,
        response: { 200: GaugeLevel, ...problemResponses },
      },
    },
    async (request) => ({
      customer: request.params.id,
      feature: request.body.feature,
      usage: await usage.setGauge({ customerId: request.params.id, body: request.body }),
    }),
  );
};
