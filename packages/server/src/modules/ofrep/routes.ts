import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { OfrepBulkResponse, OfrepError, OfrepEvaluation, OfrepParams, OfrepRequest } from '@keymaster/contract';
import type { JsonObject } from '@keymaster/core';
import { problemResponses, security } from '../../http/route-helpers.js';
import type { EntitlementService } from '../entitlements/service.js';
import { flagNotFound, toOfrepDefinition, toOfrepErrorBody, toOfrepEvaluation } from './convert.js';

const tags = ['OpenFeature (OFREP)'];

/** Past the rate limit (docs/limits.md): OFREP's 429, with `Retry-After`, in OFREP's error shape. */
const rateLimited = {
  description:
    'Past the rate limit of the key or customer (`errorCode` GENERAL): `Retry-After` says when to try again.',
  content: { 'application/json': { schema: OfrepError } },
  headers: { 'retry-after': { type: 'integer', description: 'Seconds to wait before retrying.' } },
};

/**
 * The customer (null without a targeting key: the definition path) and caller context of an OFREP
 * request, or the OFREP error to answer with.
 */
function parseContext(
  body: OfrepRequest | null | undefined,
): { customer: string | null; context: Record<string, unknown> } | { errorCode: string; errorDetails: string } {
  // The schema has made sure the body and `context` are objects (INVALID_CONTEXT otherwise).
  const { targetingKey, ...rest } = (body?.context ?? {}) as Record<string, unknown>;
  if (targetingKey === undefined || targetingKey === '') return { customer: null, context: rest };
  if (typeof targetingKey !== 'string')
    return { errorCode: 'INVALID_CONTEXT', errorDetails: '`context.targetingKey` must be a string.' };
  return { customer: targetingKey, context: rest };
}

/**
 * The OpenFeature Remote Evaluation Protocol: any OpenFeature SDK with an OFREP provider evaluates
 * Keymaster features with no Keymaster code. A flag is a feature, `targetingKey` the customer id;
 * without one, the feature's definition answers as flagd would (anonymous visitors).
 */
export const ofrepRoutes: FastifyPluginAsyncTypebox<{ entitlements: EntitlementService }> = async (
  app,
  { entitlements },
) => {
  const config = {
    readOnly: true,
    customerScope: 'body.context.targetingKey',
    errorBody: toOfrepErrorBody,
  } as const;

  app.post(
    '/ofrep/v1/evaluate/flags/:key',
    {
      config,
      schema: {
        tags,
        security,
        summary: 'Evaluate one feature (OFREP)',
        description:
          'OpenFeature Remote Evaluation Protocol. `context.targetingKey` is the customer id. Boolean, metered and ' +
          "gauge features answer `allowed`, config features their value. Without a targeting key the feature's " +
          'definition answers as flagd would (default variant or targeting rule over the context; `variant` and the ' +
          'flag `metadata`); metered and gauge features then answer 400 `TARGETING_KEY_MISSING`. 404 ' +
          '`FLAG_NOT_FOUND` for an unknown feature.',
        params: OfrepParams,
        body: OfrepRequest,
        response: {
          200: OfrepEvaluation,
          400: OfrepError,
          404: OfrepError,
          401: problemResponses[401],
          403: problemResponses[403],
          429: rateLimited,
        },
      },
    },
    async (request, reply) => {
      const { key } = request.params;
      const parsed = parseContext(request.body);
      if ('errorCode' in parsed) return reply.status(400).send({ key, ...parsed });
      if (parsed.customer === null) {
        const definition = await entitlements.evaluateDefinition({
          feature: key,
          context: parsed.context as JsonObject,
        });
        if (!definition) return reply.status(404).send(flagNotFound(key));
        const { status, body } = toOfrepDefinition(definition);
        return reply.status(status).send(body);
      }
      const answer = await entitlements.explain({ customer: parsed.customer, feature: key, context: parsed.context });
      if (answer.decision.reason === 'unknown_feature') return reply.status(404).send(flagNotFound(key));
      return toOfrepEvaluation({ ...answer, flagMetadata: (await entitlements.definition(key))?.metadata });
    },
  );

  app.post(
    '/ofrep/v1/evaluate/flags',
    {
      config,
      schema: {
        tags,
        security,
        summary: 'Evaluate every feature (OFREP bulk)',
        description:
          'Every feature of the catalog for one customer (`context.targetingKey`). Answers an `ETag`; send it back ' +
          'as `If-None-Match` to get 304 while nothing changed.',
        body: OfrepRequest,
        response: {
          200: OfrepBulkResponse,
          304: { type: 'null', description: 'Nothing changed since the ETag sent.' },
          400: OfrepError,
          401: problemResponses[401],
          403: problemResponses[403],
          429: rateLimited,
        },
      },
    },
    async (request, reply) => {
      const parsed = parseContext(request.body);
      if ('errorCode' in parsed) return reply.status(400).send(parsed);
      const flags: OfrepBulkResponse['flags'] = [];
      const { customer, context } = parsed;
      for (const feature of await entitlements.featureKeys()) {
        if (customer === null) {
          const definition = await entitlements.evaluateDefinition({ feature, context: context as JsonObject });
          if (definition) flags.push(toOfrepDefinition(definition).body);
          continue;
        }
        const answer = await entitlements.explain({ customer, feature, context });
        flags.push(toOfrepEvaluation({ ...answer, flagMetadata: (await entitlements.definition(feature))?.metadata }));
      }
      const body = { flags };
      const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
      reply.header('etag', etag);
      const match = request.headers['if-none-match'];
      if (match?.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) return reply.status(304).send();
      return body;
    },
  );
};
