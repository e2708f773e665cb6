import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CheckRequest, CustomerEntitlements, CustomerParams, Decision, EntitlementsQuery } from '@keymaster/contract';
import { type HotRoute, hotRoute, routerHandler } from '../../http/dispatch.js';
import { problemResponses, security } from '../../http/route-helpers.js';
import { toApiDecision, toApiEntitlements } from './convert.js';
import type { EntitlementService } from './service.js';

const tags = ['Entitlements'];

/** `POST /v1/check`: the hot route (see `HotRoute`), served by the plain dispatch and the router alike. */
export function checkRoute(entitlements: EntitlementService) {
  return hotRoute<CheckRequest>({
    url: '/v1/check',
    config: { readOnly: true, customerScope: 'body.customer' },
    body: CheckRequest,
    response: Decision,
    handle(request) {
      const decision = entitlements.check(request);
      // Answered without a promise when the customer is cached.
      return decision instanceof Promise ? decision.then(toApiDecision) : toApiDecision(decision);
    },
  });
}

/** The entitlement routes; `check` is made by `checkRoute` (and served by the plain dispatch as well). */
export const entitlementRoutes: FastifyPluginAsyncTypebox<{
  entitlements: EntitlementService;
  check: HotRoute<CheckRequest>;
}> = async (app, { entitlements, check }) => {
  app.post(
    check.url,
    {
      config: check.config,
      schema: {
        tags,
        security,
        summary: 'Check an entitlement',
        description:
          'May this customer use this feature (and `quantity` more of it)? Read-only; answers 200 with `allowed: false` and a `reason` when not.',
        body: check.body,
        response: { 200: check.response, ...problemResponses },
      },
    },
    routerHandler(check),
  );

  app.get(
    '/v1/customers/:id/entitlements',
    {
      config: { customerScope: 'params.id' },
      schema: {
        tags,
        security,
        summary: "A customer's entitlements",
        description:
          'Every feature resolved for the customer now: the snapshot SDKs cache and portals show. With `at`, what ' +
          'they were entitled to at that past instant (their subscription as its history recorded it, the grants ' +
          "they had by then, today's catalog; usage as recorded for the period containing it).",
        params: CustomerParams,
        querystring: EntitlementsQuery,
        response: { 200: CustomerEntitlements, ...problemResponses },
      },
    },
    async (request) => {
      const { at } = request.query;
      const { resolved, now, decisions } =
        at === undefined
          ? await entitlements.snapshot(request.params.id)
          : await entitlements.snapshotAt(request.params.id, Date.parse(at));
      return toApiEntitlements({
        resolved,
        now,
        decisionOf: (feature) => decisions.get(feature)!,
        only: request.query.feature,
      });
    },
  );
};
