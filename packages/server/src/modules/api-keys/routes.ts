import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyParams, Page, PageQuery } from '@keymaster/contract';
import { auditActorOf } from '../../http/audit-actor.js';
import { claimOf } from '../../http/idempotency.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { type ApiKeyService, toApiKey } from './service.js';

const tags = ['API keys'];

export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ apiKeys: ApiKeyService }> = async (app, { apiKeys }) => {
  app.post(
    '/v1/api-keys',
    {
      config: { secretFields: ['secret'] },
      schema: {
        tags,
        security,
        summary: 'Create a secret API key',
        description: 'The secret is in this response only; Keymaster keeps just its hash.',
        body: ApiKeyCreate,
        response: { 201: ApiKeyCreated, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { key, secret } = await apiKeys.create({
        name: request.body.name,
        actor: auditActorOf(request),
        claim: claimOf(request),
      });
      return reply.status(201).send({ ...toApiKey(key), secret });
    },
  );

  app.get(
    '/v1/api-keys',
    {
      schema: {
        tags,
        security,
        summary: 'List API keys',
        querystring: PageQuery,
        response: { 200: Page(ApiKey, 'A page of keys (prefixes only).'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await apiKeys.list({ after: decodeCursor(request.query.cursor), limit: limit + 1 });
      return toPage({ rows, limit, sortKey: (k) => k.id, convert: toApiKey });
    },
  );

  app.delete(
    '/v1/api-keys/:id',
    {
      schema: {
        tags,
        security,
        summary: 'Revoke an API key',
        description: 'By id or listed prefix. Every node refuses it within a second.',
        params: ApiKeyParams,
        response: { 200: ApiKey, ...problemResponses },
      },
    },
    async (request) => toApiKey(await apiKeys.revoke(request.params.id, auditActorOf(request))),
  );
};
