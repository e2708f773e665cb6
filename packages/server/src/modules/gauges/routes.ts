import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CustomerParams, GaugeLevel, GaugeUpdate } from '@keymaster/contract';
import { claimOf } from '../../http/idempotency.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import type { GaugeService } from './service.js';

const tags = ['Usage'];

export const gaugeRoutes: FastifyPluginAsyncTypebox<{ gauges: GaugeService }> = async (app, { gauges }) => {
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
      usage: await gauges.setGauge({ customerId: request.params.id, body: request.body, claim: claimOf(request) }),
    }),
  );
};
