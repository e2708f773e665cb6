import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  FeatureCreate,
  FeatureParams,
  FeaturePatch,
  Feature as FeatureSchema,
  Page,
  PageQuery,
} from '@keymaster/contract';
import { auditActorOf } from '../../http/audit-actor.js';
import { claimOf } from '../../http/idempotency.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiFeature } from './convert.js';
import type { FeatureService } from './service.js';

const tags = ['Features'];

export const featureRoutes: FastifyPluginAsyncTypebox<{ features: FeatureService }> = async (app, { features }) => {
  app.post(
    '/v1/features',
    {
      schema: {
        tags,
        security,
        summary: 'Create a feature',
        description: 'Adds a boolean, metered, gauge or config feature to the catalog.',
        body: FeatureCreate,
        response: { 201: FeatureSchema, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          toApiFeature(
            await features.create({ body: request.body, actor: auditActorOf(request), claim: claimOf(request) }),
          ),
        ),
  );

  app.get(
    '/v1/features',
    {
      schema: {
        tags,
        security,
        summary: 'List features',
        querystring: PageQuery,
        response: { 200: Page(FeatureSchema, 'A page of features, by key.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await features.list({ after: decodeCursor(request.query.cursor), limit: limit + 1 });
      return toPage({ rows, limit, sortKey: (f) => f.key, convert: toApiFeature });
    },
  );

  app.get(
    '/v1/features/:key',
    {
      schema: {
        tags,
        security,
        summary: 'Get a feature',
        params: FeatureParams,
        response: { 200: FeatureSchema, ...problemResponses },
      },
    },
    async (request) => toApiFeature(await features.get(request.params.key)),
  );

  app.patch(
    '/v1/features/:key',
    {
      schema: {
        tags,
        security,
        summary: 'Update a feature',
        description:
          'Changes name, unit, options, meter, targeting, or `status` (the kill switch). The type never changes.',
        params: FeatureParams,
        body: FeaturePatch,
        response: { 200: FeatureSchema, ...problemResponses },
      },
    },
    async (request) =>
      toApiFeature(
        await features.patch({ key: request.params.key, patch: request.body, actor: auditActorOf(request) }),
      ),
  );
};
