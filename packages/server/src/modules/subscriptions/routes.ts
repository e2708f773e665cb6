import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  CancelRequest,
  CustomerParams,
  Page,
  PageQuery,
  Subscription,
  SubscriptionCreate,
  SubscriptionParams,
} from '@keymaster/contract';
import type { Clock } from '../../clock.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiSubscription } from './convert.js';
import type { SubscriptionService } from './service.js';

const tags = ['Subscriptions'];

export const subscriptionRoutes: FastifyPluginAsyncTypebox<{
  subscriptions: SubscriptionService;
  clock: Clock;
}> = async (app, { subscriptions, clock }) => {
  app.post(
    '/v1/customers/:id/subscriptions',
    {
      schema: {
        tags,
        security,
        summary: 'Subscribe a customer to a plan',
        description:
          "Provisions the plan's latest published version (with its trial, if any). One live subscription per customer.",
        params: CustomerParams,
        body: SubscriptionCreate,
        response: { 201: Subscription, ...problemResponses },
      },
    },
    async (request, reply) => {
      const subscription = await subscriptions.create({ customerId: request.params.id, body: request.body });
      return reply.status(201).send(toApiSubscription(subscription, clock.now()));
    },
  );

  app.get(
    '/v1/customers/:id/subscriptions',
    {
      schema: {
        tags,
        security,
        summary: "List a customer's subscriptions",
        description: 'Newest first.',
        params: CustomerParams,
        querystring: PageQuery,
        response: { 200: Page(Subscription, 'A page of subscriptions.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await subscriptions.list({
        customerId: request.params.id,
        before: decodeCursor(request.query.cursor),
        limit: limit + 1,
      });
      const now = clock.now();
      return toPage({ rows, limit, sortKey: (s) => s.id, convert: (s) => toApiSubscription(s, now) });
    },
  );

  app.get(
    '/v1/subscriptions/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Get a subscription',
        params: SubscriptionParams,
        response: { 200: Subscription, ...problemResponses },
      },
    },
    async (request) => toApiSubscription(await subscriptions.get(request.params.id), clock.now()),
  );

  app.post(
    '/v1/subscriptions/:id/cancel',
    {
      schema: {
        tags,
        security,
        summary: 'Cancel a subscription',
        description: '`when: now` (default) ends access at once; `period_end` at the end of the current period.',
        params: SubscriptionParams,
        body: CancelRequest,
        response: { 200: Subscription, ...problemResponses },
      },
    },
    async (request) =>
      toApiSubscription(await subscriptions.cancel({ id: request.params.id, body: request.body ?? {} }), clock.now()),
  );
};
