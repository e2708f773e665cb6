import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyParams, ApiKeyRoll, Page, PageQuery } from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import { auditActorOf } from '../../http/audit-actor.js';
import { claimOf } from '../../http/idempotency.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { fromIso } from '../../json-column.js';
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
        description:
          'The secret is in this response only; Keymaster keeps just its hash. The key may do what its ' +
          '`scopes` allow, until `expires_at` if given.',
        body: ApiKeyCreate,
        response: { 201: ApiKeyCreated, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { key, secret } = await apiKeys.create({
        name: request.body.name,
        scopes: request.body.scopes,
        expiresAt: fromIso(request.body.expires_at) ?? undefined,
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

  app.post(
    '/v1/api-keys/:id/roll',
    {
      config: { secretFields: ['secret'] },
      schema: {
        tags,
        security,
        summary: 'Roll an API key',
        description:
          'Makes a new key with the same name and scopes, and has the old one stop working at ' +
          '`previous_expires_at` (default: in an hour), so clients move to the new secret without ' +
          'downtime. The new secret is in this response only.',
        params: ApiKeyParams,
        body: Type.Optional(ApiKeyRoll),
        response: {
          201: Type.Composite([ApiKeyCreated, Type.Object({ previous: ApiKey })], {
            description: 'The new key, with its secret, and the rolled key with its new `expires_at`.',
          }),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { key, secret, previous } = await apiKeys.roll({
        idOrPrefix: request.params.id,
        previousExpiresAt: fromIso(request.body?.previous_expires_at) ?? undefined,
        actor: auditActorOf(request),
        claim: claimOf(request),
      });
      return reply.status(201).send({ ...toApiKey(key), secret, previous: toApiKey(previous) });
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
