import type { CheckRequest } from '@keymaster/contract';
import {
  type Catalog,
  type CustomerEntitlements,
  creditPoolOf,
  type Decision,
  decide,
  ErrorCodes,
  type JsonObject,
  notFound,
  resolveFeature,
  unknownDecision,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import { countedAs } from './counted-as.js';
import type { CustomerEntry, SnapshotCache } from './snapshot-cache.js';
import { type UsageSpan, usageSpan } from './usage-lookup.js';

export type EntitlementService = ReturnType<typeof createEntitlementService>;

const noCandidates: [] = [];

/**
 * Answers checks from the snapshot cache: load (only on a miss) → decide. A cached customer
 * costs no database round trip and no promise: the answer is computed synchronously.
 */
/** Reads a usage span from storage (a cache miss). */
export type UsageReader = (input: { customerId: string } & UsageSpan) => Promise<number>;

export function createEntitlementService(deps: { cache: SnapshotCache; clock: Clock; readUsage: UsageReader }) {
  const { cache, clock } = deps;

  /** The usage an entitlement is decided against: from the entry when known, else read once. */
  function usageOf(input: {
    entry: CustomerEntry;
    customerId: string;
    span: UsageSpan | null;
  }): number | Promise<number> {
    const { entry, span } = input;
    if (span === null) return 0;
    const known = entry.usage.get(span.key);
    if (known !== undefined) return known;
    return deps.readUsage({ customerId: input.customerId, ...span }).then((value) => {
      entry.usage.set(span.key, value);
      return value;
    });
  }

  function decideWith(input: {
    catalog: Catalog;
    entry: CustomerEntry;
    request: CheckRequest;
  }): Decision | Promise<Decision> {
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
    const decideAt = (usage: number) =>
      decide({
        customer: request.customer,
        entitlement,
        usage,
        quantity: request.quantity ?? 1,
        now,
        upgrades: {
          candidates: catalog.upgradeCandidates.get(feature.key) ?? noCandidates,
          currentPlanKey: resolved.planKey,
        },
      });
    if (creditPoolOf(feature) !== null) {
      // A feature drawing from a credit pool answers from the pool's counter, in pool units.
      const counted = countedAs({ catalog, resolved, entitlement, customer: request.customer, now, upgrades: true });
      const quantity = request.quantity ?? 1;
      const poolUsage = usageOf({ entry, customerId: request.customer, span: counted.span });
      return typeof poolUsage === 'number'
        ? counted.decideAt({ usage: poolUsage, quantity })
        : poolUsage.then((usage) => counted.decideAt({ usage, quantity }));
    }
    const usage = usageOf({ entry, customerId: request.customer, span: usageSpan({ catalog, entitlement, now }) });
    return typeof usage === 'number' ? decideAt(usage) : usage.then(decideAt);
  }

  return {
    check(request: CheckRequest): Decision | Promise<Decision> {
      const catalog = cache.getCatalog();
      const entry = cache.getCustomer(request.customer);
      if (!(catalog instanceof Promise) && !(entry instanceof Promise)) return decideWith({ catalog, entry, request });
      return Promise.all([catalog, entry]).then(([c, e]) => decideWith({ catalog: c, entry: e, request }));
    },

    /**
     * The customer's full snapshot at this instant: each feature's decision on using nothing more
     * (quantity 0), so its reason, usage and balance are what a check reports — a feature drawing
     * from a credit pool in the pool's figures. 404 for a customer Keymaster does not know.
     */
    async snapshot(
      customerId: string,
    ): Promise<{ resolved: CustomerEntitlements; now: number; decisions: Map<string, Decision> }> {
      const [catalog, entry] = await Promise.all([cache.getCatalog(), cache.getCustomer(customerId)]);
      const now = clock.now();
      const resolved = cache.entitlements({ entry, catalog, now });
      if (!resolved) throw notFound(ErrorCodes.customerNotFound, `Customer "${customerId}" does not exist.`);
      const decisions = new Map<string, Decision>();
      for (const entitlement of resolved.entitlements.values()) {
        const counted = countedAs({ catalog, resolved, entitlement, customer: customerId, now, upgrades: false });
        const usage = counted.span ? await usageOf({ entry, customerId, span: counted.span }) : 0;
        decisions.set(entitlement.feature, counted.decideAt({ usage, quantity: 0 }));
      }
      return { resolved, now, decisions };
    },
  };
}
