import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  Page,
  Plan,
  PlanCreate,
  PlanListQuery,
  PlanParams,
  PlanPatch,
  PlanQuery,
  PublishRequest,
} from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import { auditActorOf } from '../../http/audit-actor.js';
import { claimOf } from '../../http/idempotency.js';
import { decodeCursor, toPage } from '../../http/pagination.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiPlan } from './convert.js';
import type { PlanService, PlanView } from './service.js';

const tags = ['Plans'];
const toApi = (view: PlanView) => toApiPlan(view);

export const planRoutes: FastifyPluginAsyncTypebox<{ plans: PlanService }> = async (app, { plans }) => {
  app.post(
    '/v1/plans',
    {
      schema: {
        tags,
        security,
        summary: 'Create a plan',
        description: 'Creates version 1 of a plan as a draft. Publish it to put it on sale.',
        body: PlanCreate,
        response: { 201: Plan, ...problemResponses },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(toApi(await plans.create({ body: request.body, actor: auditActorOf(request), claim: claimOf(request) }))),
  );

  app.get(
    '/v1/plans',
    {
      schema: {
        tags,
        security,
        summary: 'List plans',
        description: 'The latest version of each plan, by key.',
        querystring: PlanListQuery,
        response: { 200: Page(Plan, 'A page of plans.'), ...problemResponses },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 20;
      const rows = await plans.list({
        after: decodeCursor(request.query.cursor),
        limit: limit + 1,
        status: request.query.status,
      });
      return toPage({ rows, limit, sortKey: (v) => v.plan.key, convert: toApi });
    },
  );

  app.get(
    '/v1/plans/:key',
    {
      schema: {
        tags,
        security,
        summary: 'Get a plan',
        description: 'The latest version (which may be a draft), or `?version=N`.',
        params: PlanParams,
        querystring: PlanQuery,
        response: { 200: Plan, ...problemResponses },
      },
    },
    async (request) => toApi(await plans.get({ key: request.params.key, version: request.query.version })),
  );

  app.get(
    '/v1/plans/:key/versions',
    {
      schema: {
        tags,
        security,
        summary: "List a plan's versions",
        params: PlanParams,
        response: { 200: Type.Object({ data: Type.Array(Plan) }), ...problemResponses },
      },
    },
    async (request) => ({ data: (await plans.versions(request.params.key)).map(toApi) }),
  );

  app.patch(
    '/v1/plans/:key',
    {
      schema: {
        tags,
        security,
        summary: 'Edit a plan',
        description: 'Edits the draft; if the latest version is published, opens the next version as a draft.',
        params: PlanParams,
        body: PlanPatch,
        response: { 200: Plan, ...problemResponses },
      },
    },
    async (request) =>
      toApi(await plans.patch({ key: request.params.key, patch: request.body, actor: auditActorOf(request) })),
  );

  app.post(
    '/v1/plans/:key/publish',
    {
      schema: {
        tags,
        security,
        summary: 'Publish the draft',
        description: 'Freezes the draft: new subscriptions get it; existing subscribers stay on their version.',
        params: PlanParams,
        body: Type.Optional(PublishRequest),
        response: { 200: Plan, ...problemResponses },
      },
    },
    async (request) =>
      toApi(
        await plans.publish({
          key: request.params.key,
          version: request.body?.version,
          actor: auditActorOf(request),
          claim: claimOf(request),
        }),
      ),
  );

  app.post(
    '/v1/plans/:key/archive',
    {
      schema: {
        tags,
        security,
        summary: 'Archive a plan',
        description: 'Takes the plan off sale. Existing subscriptions keep their version.',
        params: PlanParams,
        response: { 200: Plan, ...problemResponses },
      },
    },
    async (request) =>
      toApi(await plans.archive({ key: request.params.key, actor: auditActorOf(request), claim: claimOf(request) })),
  );
};
