import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AlertRule, AlertRuleCreate, AlertRuleListQuery, AlertRuleParams, Page } from '@keymaster/contract';
import { auditActorOf } from '../../http/audit-actor.js';
import { claimOf } from '../../http/idempotency.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiAlertRule } from './convert.js';
import type { AlertRuleService } from './service.js';

const tags = ['Alerts'];

export const alertRuleRoutes: FastifyPluginAsyncTypebox<{ alertRules: AlertRuleService }> = async (
  app,
  { alertRules },
) => {
  app.post(
    '/v1/alert-rules',
    {
      schema: {
        tags,
        security,
        summary: 'Create an alert rule',
        description:
          'Fires `usage.threshold_reached` once per customer and usage period when the rule is met, whatever ' +
          'write moved the usage. See docs/alerts.md.',
        body: AlertRuleCreate,
        response: { 201: AlertRule, ...problemResponses },
      },
    },
    async (request, reply) => {
      const rule = await alertRules.create({
        body: request.body,
        actor: auditActorOf(request),
        claim: claimOf(request),
      });
      return reply.status(201).send(toApiAlertRule(rule));
    },
  );

  app.get(
    '/v1/alert-rules',
    {
      schema: {
        tags,
        security,
        summary: 'List alert rules',
        querystring: AlertRuleListQuery,
        response: { 200: Page(AlertRule, 'A page of alert rules, oldest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await alertRules.list({
        feature: request.query.feature,
        after: decodeCursor(request.query.cursor),
        limit: limit + 1,
      });
      return toPage({ rows, limit, sortKey: (rule) => rule.id, convert: toApiAlertRule });
    },
  );

  app.delete(
    '/v1/alert-rules/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Delete an alert rule',
        description: 'The rule stops firing at once; the events it fired stay.',
        params: AlertRuleParams,
        response: { 200: AlertRule, ...problemResponses },
      },
    },
    async (request) => toApiAlertRule(await alertRules.delete(request.params.id, auditActorOf(request))),
  );
};
