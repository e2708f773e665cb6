import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { UsageRevenueQuery, UsageRevenueReport } from '@keymaster/contract';
import { problemResponses, security } from '../../http/route-helpers.js';
import { usageRevenueJson } from './convert.js';
import type { UsageRevenueService } from './usage-revenue.js';

const tags = ['Reports'];

export const reportRoutes: FastifyPluginAsyncTypebox<{ usageRevenue: UsageRevenueService }> = async (
  app,
  { usageRevenue },
) => {
  app.get(
    '/v1/reports/usage-revenue',
    {
      schema: {
        tags,
        security,
        summary: 'Usage against revenue',
        description:
          'Per customer with a subscription in the range: what it earned (each plan and add-on price per billing ' +
          'period, prorated by the share of the period inside the range; trial, paused, past-due and canceled time ' +
          'earn 0), each limited feature’s limit, usage and utilization (of its usage period at the end of the ' +
          'range), and the flags `upsell`, `unused`, `over_limit`, `unpaid_access`; totals per plan and overall. ' +
          '`evidence` lists the subscriptions, their stretches and billing periods each figure was computed from, ' +
          'and the grants applying; each feature names the source, subscription and grants its limit came from.',
        querystring: UsageRevenueQuery,
        response: { 200: UsageRevenueReport, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { from, to, plan, flag } = request.query;
      // Checked before the first byte (a 400 names the field); then streamed a page of customers
      // at a time, so 100,000 customers are never one string in memory.
      const report = await usageRevenue.open({ from: Date.parse(from), to: Date.parse(to), plan, flag });
      return reply.type('application/json; charset=utf-8').send(Readable.from(usageRevenueJson(report)));
    },
  );
};
