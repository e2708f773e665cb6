import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  Page,
  PageQuery,
  WebhookAttempt,
  WebhookAttemptListQuery,
  WebhookDeliveryParams,
  WebhookDeliveryResent,
  WebhookEndpoint,
  WebhookEndpointCreate,
  WebhookEndpointParams,
  WebhookEndpointUpdate,
  WebhookEndpointWithSecret,
  WebhookRecover,
  WebhookRecovered,
} from '@keymaster/contract';
import { auditActorOf } from '../../http/audit-actor.js';
import { claimOf } from '../../http/idempotency.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { fromIso } from '../../json-column.js';
import { toApiAttempt, toApiEndpoint } from './convert.js';
import type { WebhookService } from './service.js';

const tags = ['Webhooks'];

export const webhookRoutes: FastifyPluginAsyncTypebox<{ webhooks: WebhookService }> = async (app, { webhooks }) => {
  app.post(
    '/v1/webhook-endpoints',
    {
      config: { secretFields: ['secret'] },
      schema: {
        tags,
        security,
        summary: 'Register a webhook endpoint',
        description:
          'Signed deliveries (Standard Webhooks) of the chosen event types start at once. The signing ' +
          'secret is in this response only. A URL that is not https, or whose host resolves to a loopback, ' +
          'private, link-local or metadata address, is refused with `url_not_allowed`.',
        body: WebhookEndpointCreate,
        response: { 201: WebhookEndpointWithSecret, ...problemResponses },
      },
    },
    async (request, reply) => {
      const row = await webhooks.create({ ...request.body, actor: auditActorOf(request), claim: claimOf(request) });
      return reply.status(201).send({ ...toApiEndpoint(row), secret: row.secret });
    },
  );

  app.get(
    '/v1/webhook-endpoints',
    {
      schema: {
        tags,
        security,
        summary: 'List webhook endpoints',
        querystring: PageQuery,
        response: { 200: Page(WebhookEndpoint, 'A page of endpoints, oldest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await webhooks.list({ after: decodeCursor(request.query.cursor), limit: limit + 1 });
      return toPage({ rows, limit, sortKey: (row) => row.id, convert: toApiEndpoint });
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Get a webhook endpoint',
        params: WebhookEndpointParams,
        response: { 200: WebhookEndpoint, ...problemResponses },
      },
    },
    async (request) => toApiEndpoint(await webhooks.get(request.params.id)),
  );

  app.patch(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Change a webhook endpoint',
        description: 'Disable it, enable it again (its failure count starts over), or change its URL or event types.',
        params: WebhookEndpointParams,
        body: WebhookEndpointUpdate,
        response: { 200: WebhookEndpoint, ...problemResponses },
      },
    },
    async (request) =>
      toApiEndpoint(await webhooks.update({ id: request.params.id, body: request.body, actor: auditActorOf(request) })),
  );

  app.delete(
    '/v1/webhook-endpoints/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Delete a webhook endpoint',
        description: 'With its pending deliveries and its attempts.',
        params: WebhookEndpointParams,
        response: { 200: WebhookEndpoint, ...problemResponses },
      },
    },
    async (request) => toApiEndpoint(await webhooks.remove(request.params.id, auditActorOf(request))),
  );

  app.post(
    '/v1/webhook-endpoints/:id/rotate-secret',
    {
      config: { secretFields: ['secret'] },
      schema: {
        tags,
        security,
        summary: "Rotate an endpoint's signing secret",
        description:
          'Answers the new secret, once. For 24 hours deliveries carry two signatures, one with each ' +
          'secret, so receivers can switch without missing any.',
        params: WebhookEndpointParams,
        response: { 200: WebhookEndpointWithSecret, ...problemResponses },
      },
    },
    async (request) => {
      const row = await webhooks.rotateSecret({
        id: request.params.id,
        actor: auditActorOf(request),
        claim: claimOf(request),
      });
      return { ...toApiEndpoint(row), secret: row.secret };
    },
  );

  app.get(
    '/v1/webhook-endpoints/:id/deliveries',
    {
      schema: {
        tags,
        security,
        summary: "List an endpoint's delivery attempts",
        description:
          'Every attempt, oldest first: when, the status code, how long, the start of the answer, the next retry. ' +
          '`succeeded=false` lists only the failed attempts.',
        params: WebhookEndpointParams,
        querystring: WebhookAttemptListQuery,
        response: { 200: Page(WebhookAttempt, 'A page of attempts, oldest first.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await webhooks.attempts({
        endpointId: request.params.id,
        succeeded: request.query.succeeded,
        after: decodeCursor(request.query.cursor),
        limit: limit + 1,
      });
      return toPage({ rows, limit, sortKey: (row) => row.id, convert: toApiAttempt });
    },
  );

  app.post(
    '/v1/webhook-deliveries/:id/resend',
    {
      schema: {
        tags,
        security,
        summary: 'Send a delivery again',
        description: 'Any delivery, a successful one too: queued now, with the retry schedule from its start.',
        params: WebhookDeliveryParams,
        response: { 202: WebhookDeliveryResent, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { id } = await webhooks.resend(request.params.id);
      return reply.status(202).send({ id, status: 'pending' as const });
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/recover',
    {
      schema: {
        tags,
        security,
        summary: 'Resend the deliveries that failed since a time',
        description: 'Queues again every delivery to the endpoint that ran out of retries since `since`.',
        params: WebhookEndpointParams,
        body: WebhookRecover,
        response: { 202: WebhookRecovered, ...problemResponses },
      },
    },
    async (request, reply) => {
      const recovered = await webhooks.recover({ endpointId: request.params.id, since: fromIso(request.body.since) });
      return reply.status(202).send({ recovered });
    },
  );
};
