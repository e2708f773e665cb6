import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ConsumeRequest, Decision } from '@keymaster/contract';
import { type HotRoute, hotRoute, routerHandler } from '../../http/dispatch.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiDecision } from '../entitlements/convert.js';
import type { ConsumeService } from './service.js';

const tags = ['Usage'];

/**
 * `POST /v1/consume`: a hot route (see `HotRoute`). A request with an `Idempotency-Key` header
 * is left to the router, whose idempotency hooks store and replay its answer; the body's own
 * `idempotency_key` is the service's and works on both.
 */
export function consumeRoute(consume: ConsumeService) {
  return hotRoute<ConsumeRequest>({
    url: '/v1/consume',
    // The service tells the cache of the usage it changed (see `usageChanged`).
    config: { cachesOwnWrite: true },
    body: ConsumeRequest,
    response: Decision,
    handle: async (request, { claim }) => toApiDecision(await consume.consume(request, claim)),
    routerOnly: (request) => request.headers['idempotency-key'] !== undefined,
  });
}

/** Registers `route` (made by `consumeRoute`, and served by the plain dispatch as well). */
export const consumeRoutes: FastifyPluginAsyncTypebox<{ route: HotRoute<ConsumeRequest> }> = async (app, { route }) => {
  app.post(
    route.url,
    {
      config: route.config,
      schema: {
        tags,
        security,
        summary: 'Consume units of a metered feature',
        description:
          'Atomic check-and-record: the units are recorded only when allowed, and concurrent consumes never pass a ' +
          '`block` limit, on any number of nodes. An allowed answer already includes the quantity in `usage`. ' +
          'A retry with the same `idempotency_key` counts once and answers the same.',
        body: route.body,
        response: { 200: route.response, ...problemResponses },
      },
    },
    routerHandler(route),
  );
};
