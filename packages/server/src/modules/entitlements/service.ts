import type { CheckRequest } from '@keymaster/contract';
import {
  type Catalog,
  type CustomerEntitlements,
  type Decision,
  decide,
  ErrorCodes,
  type JsonObject,
  notFound,
  resolveFeature,
  unknownDecision,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { CustomerEntry, SnapshotCache } from './snapshot-cache.js';

export type EntitlementService = ReturnType<typeof createEntitlementService>;

const noCandidates: [] = [];

/**
 * Answers checks from the snapshot cache: load (only on a miss) → decide. A cached customer
 * costs no database round trip and no promise: the answer is computed synchronously.
 */
export function createEntitlementService(deps: { cache: SnapshotCache; clock: Clock }) {
  const { cache, clock } = deps;

  function decideWith(input: { catalog: Catalog; entry: CustomerEntry; request: CheckRequest }): Decision {
    const { catalog, entry, request } = input;
    const feature = catalog.features.get(request.feature);
    if (!feature)
      return unknownDecision({ customer: request.customer, feature: request.feature, reason: 'unknown_feature' });
    if (!entry.state)
      return unknownDecision({ customer: request.customer, feature: request.feature, reason: 'unknown_customer' });
    const now = clock.now();
    const resolved = cache.entitlements({ entry, catalog, now })!;
    const entitlement =
      request.context !== undefined && catalog.targeting.has(feature.key)
        ? resolveFeature({ catalog, state: entry.state, feature, now, callerContext: request.context as JsonObject })
        : resolved.entitlements.get(feature.key)!;
    return decide({
      customer: request.customer,
      entitlement,
      // Usage is counted by metering; until a feature has recorded usage it is zero.
      usage: 0,
      quantity: request.quantity ?? 1,
      now,
      upgrades: {
        candidates: catalog.upgradeCandidates.get(feature.key) ?? noCandidates,
        currentPlanKey: resolved.planKey,
      },
    });
  }

  return {
    check(request: CheckRequest): Decision | Promise<Decision> {
      const catalog = cache.getCatalog();
      const entry = cache.getCustomer(request.customer);
      if (!(catalog instanceof Promise) && !(entry instanceof Promise)) return decideWith({ catalog, entry, request });
      return Promise.all([catalog, entry]).then(([c, e]) => decideWith({ catalog: c, entry: e, request }));
    },

    /** The customer's full snapshot at this instant; 404 for a customer Keymaster does not know. */
    async snapshot(customerId: string): Promise<{ resolved: CustomerEntitlements; now: number }> {
      const [catalog, entry] = await Promise.all([cache.getCatalog(), cache.getCustomer(customerId)]);
      const now = clock.now();
      const resolved = cache.entitlements({ entry, catalog, now });
      if (!resolved) throw notFound(ErrorCodes.customerNotFound, `Customer "${customerId}" does not exist.`);
      return { resolved, now };
    },
  };
}
