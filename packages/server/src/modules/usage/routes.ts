import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ConsumeRequest,
  CustomerParams,
  Decision,
  GaugeLevel,
  GaugeUpdate,
  UsageHistory,
  UsageHistoryQuery,
} from '@keymaster/contract';
import { claimOf } from '../../http/idempotency.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiDecision } from '../entitlements/convert.js';
import type { ConsumeService } from './consume.js';
import { toApiUsageHistory } from './convert.js';
import type { HistoryService } from './history.js';
import type { UsageService } from './service.js';

const tags = ['Usage'];

export const usageRoutes: FastifyPluginAsyncTypebox<{
  usage: UsageService;
  consume: ConsumeService;
  history: HistoryService;
}> = async (app, { usage, consume, history }) => {
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
      usage: await usage.setGauge({ customerId: request.params.id, body: request.body, claim: claimOf(request) }),
    }),
  );

  app.get(
    '/v1/customers/:id/usage',
    {
      schema: {
        tags,
        security,
        summary: 'Usage history of a metered feature',
        description:
          'Usage in UTC `hour` or `day` buckets (zero-filled), combined by the meter: count, sum and unique_count ' +
          'add, max takes the largest, latest the last value. Without `from` and `to` it covers the current usage ' +
          'period, and `total` is what `POST /v1/check` reports as `usage`. Gauges have no history (400).',
        params: CustomerParams,
        querystring: UsageHistoryQuery,
        response: { 200: UsageHistory, ...problemResponses },
      },
    },
    async (request) => {
      const { feature, from, to, granularity } = request.query;
      return toApiUsageHistory(await history.read({ customerId: request.params.id, feature, from, to, granularity }));
    },
  );
};
