import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CustomerParams, UsageHistory, UsageHistoryQuery } from '@keymaster/contract';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiUsageHistory } from './convert.js';
import type { HistoryService } from './service.js';

const tags = ['Usage'];

export const usageHistoryRoutes: FastifyPluginAsyncTypebox<{ history: HistoryService }> = async (app, { history }) => {
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
