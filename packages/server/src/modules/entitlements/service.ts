import type { CheckRequest } from '@keymaster/contract';
import {
  type Catalog,
  type CustomerEntitlements,
  type CustomerState,
  countedAs,
  creditPoolOf,
  type Decision,
  decide,
  type Entitlement,
  type EntitlementSource,
  ErrorCodes,
  evaluateFlag,
  type Feature,
  type FlagEvaluation,
  type Grant,
  invalid,
  type JsonObject,
  keepsDecision,
  notFound,
  resolve,
  resolveFeature,
  type UsageSpan,
  unknownDecision,
  usageSpan,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { LimitRefusal } from '../alerts/refused-check.js';
import type { CustomerEntry, SnapshotCache } from './snapshot-cache.js';

export type EntitlementService = ReturnType<typeof createEntitlementService>;

const noCandidates: [] = [];
const noGrants: readonly Grant[] = [];

/** A check's decision with what it was decided from, for the decision log. */
export interface CheckedDecision {
  decision: Decision;
  request: CheckRequest;
  feature: Feature;
  resolved: CustomerEntitlements | null;
  entitlement: Entitlement | null;
  grants: readonly Grant[];
  now: number;
}

/**
 * Answers checks from the snapshot cache: load (only on a miss) → decide. A cached customer
 * costs no database round trip and no promise: the answer is computed synchronously.
 */
/** Reads a usage span from storage (a cache miss): at once where the store can, else later. */
export type UsageReader = (input: { customerId: string } & UsageSpan) => number | Promise<number>;

export function createEntitlementService(deps: {
  cache: SnapshotCache;
  clock: Clock;
  readUsage: UsageReader;
  /** The customer as they stood at a past instant (see loadCustomerStateAt). */
  loadStateAt: (customerId: string, at: number) => Promise<CustomerState | null>;
  /** Told of each decision its feature's `decision_log` keeps (see `keepsDecision`); must not block. */
  onDecision?: ((input: CheckedDecision) => void) | undefined;
  /** Told of a check refused for the limit (it fires `usage.limit_reached`); the answer waits for it. */
  onLimitRefused?: ((refusal: LimitRefusal) => Promise<void> | undefined) | undefined;
}) {
  const { cache, clock } = deps;

  /** The usage an entitlement is decided against: from the entry when known, else read once. */
  function usageOf(input: {
    entry: CustomerEntry;
    customerId: string;
    span: UsageSpan | null;
  }): number | Promise<number> {
    const { span } = input;
    if (span === null) return 0;
    // The map as it is now: a usage change while the read is out replaces it (see CustomerEntry).
    const usage = input.entry.usage;
    const known = usage.get(span.key);
    if (known !== undefined) return known;
    const read = deps.readUsage({ customerId: input.customerId, ...span });
    if (typeof read === 'number') {
      usage.set(span.key, read);
      return read;
    }
    return read.then((value) => {
      usage.set(span.key, value);
      return value;
    });
  }

  /** The entitlement a check decides from: re-resolved when caller context meets a targeting rule. */
  function entitlementFor(input: {
    catalog: Catalog;
    entry: CustomerEntry;
    resolved: CustomerEntitlements;
    feature: Feature;
    request: CheckRequest;
    now: number;
  }): Entitlement {
    const { catalog, entry, feature, request, now } = input;
    return request.context !== undefined && catalog.targeting.has(feature.key) && entry.state
      ? resolveFeature({ catalog, state: entry.state, feature, now, callerContext: request.context as JsonObject })
      : input.resolved.entitlements.get(feature.key)!;
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
    if (!entry.state) {
      const unknown = unknownDecision({
        customer: request.customer,
        feature: request.feature,
        reason: 'unknown_customer',
      });
      if (deps.onDecision && keepsDecision(feature, false)) {
        deps.onDecision({
          decision: unknown,
          request,
          feature,
          resolved: null,
          entitlement: null,
          grants: [],
          now: clock.now(),
        });
      }
      return unknown;
    }
    const now = clock.now();
    const resolved = cache.entitlements({ entry, catalog, now })!;
    const entitlement = entitlementFor({ catalog, entry, resolved, feature, request, now });
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
    /** The decision, kept by the decision log if its feature says so, and a refusal for the limit told. */
    const told = (decision: Decision, usage: number): Decision | Promise<Decision> => {
      if (deps.onDecision && keepsDecision(feature, decision.allowed)) {
        const grants = entry.state?.grants ?? noGrants;
        deps.onDecision({ decision, request, feature, resolved, entitlement, grants, now });
      }
      if (decision.allowed || decision.reason !== 'limit_reached' || !deps.onLimitRefused) return decision;
      const telling = deps.onLimitRefused({ catalog, resolved, entitlement, customer: request.customer, usage, now });
      return telling ? telling.then(() => decision) : decision;
    };
    if (creditPoolOf(feature) !== null) {
      // A feature drawing from a credit pool answers from the pool's counter, in pool units.
      const counted = countedAs({ catalog, resolved, entitlement, customer: request.customer, now, upgrades: true });
      const quantity = request.quantity ?? 1;
      const poolUsage = usageOf({ entry, customerId: request.customer, span: counted.span });
      return typeof poolUsage === 'number'
        ? told(counted.decideAt({ usage: poolUsage, quantity }), poolUsage)
        : poolUsage.then((usage) => told(counted.decideAt({ usage, quantity }), usage));
    }
    const usage = usageOf({ entry, customerId: request.customer, span: usageSpan({ catalog, entitlement, now }) });
    return typeof usage === 'number' ? told(decideAt(usage), usage) : usage.then((u) => told(decideAt(u), u));
  }

  return {
    check(request: CheckRequest): Decision | Promise<Decision> {
      const catalog = cache.getCatalog();
      const entry = cache.getCustomer(request.customer);
      if (!(catalog instanceof Promise) && !(entry instanceof Promise)) return decideWith({ catalog, entry, request });
      return Promise.all([catalog, entry]).then(([c, e]) => decideWith({ catalog: c, entry: e, request }));
    },

    /**
     * A check together with the layer whose terms decided it (`source`, null when nothing did),
     * for answers that report where a value came from (OFREP). Unknown features and customers
     * answer the check's `unknown_*` decision.
     */
    async explain(request: CheckRequest): Promise<{ decision: Decision; source: EntitlementSource | null }> {
      const [catalog, entry] = await Promise.all([cache.getCatalog(), cache.getCustomer(request.customer)]);
      const decision = await decideWith({ catalog, entry, request });
      const feature = catalog.features.get(request.feature);
      if (!feature || !entry.state) return { decision, source: null };
      const now = clock.now();
      const resolved = cache.entitlements({ entry, catalog, now })!;
      return { decision, source: entitlementFor({ catalog, entry, resolved, feature, request, now }).source };
    },

    /** The feature's definition as the cached catalog holds it, or undefined. */
    async definition(feature: string): Promise<Feature | undefined> {
      return (await cache.getCatalog()).features.get(feature);
    },

    /**
     * A feature evaluated from its definition alone, as flagd would (`evaluateFlag`): for callers
     * without a customer (OFREP without a targeting key). Undefined for an unknown feature.
     */
    async evaluateDefinition(input: {
      feature: string;
      context: JsonObject;
    }): Promise<{ feature: Feature; evaluation: FlagEvaluation } | undefined> {
      const catalog = await cache.getCatalog();
      const feature = catalog.features.get(input.feature);
      if (!feature) return undefined;
      const targeting = catalog.targeting.get(feature.key);
      return { feature, evaluation: evaluateFlag({ feature, context: input.context, targeting }) };
    },

    /** The keys of every feature in the catalog, in key order. */
    async featureKeys(): Promise<string[]> {
      return [...(await cache.getCatalog()).features.keys()].sort();
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

    /**
     * What the customer was entitled to at a past instant: their subscription as its history
     * says it stood then, the grants they had by then, today's catalog (published plan versions
     * never change). Each feature's decision is made as the snapshot's is (quantity 0, a feature
     * drawing from a credit pool in the pool's figures), against the usage recorded for the
     * period containing that instant; one-off credit grants count with what is left of them now
     * (balances keep no history).
     */
    async snapshotAt(
      customerId: string,
      at: number,
    ): Promise<{ resolved: CustomerEntitlements; now: number; decisions: Map<string, Decision> }> {
      if (at > clock.now()) throw invalid([{ path: '/querystring/at', message: 'must not be in the future' }]);
      const [catalog, state] = await Promise.all([cache.getCatalog(), deps.loadStateAt(customerId, at)]);
      if (!state) throw notFound(ErrorCodes.customerNotFound, `Customer "${customerId}" does not exist.`);
      const resolved = resolve({ catalog, state, now: at });
      const decisions = new Map<string, Decision>();
      // Several drawing features share their pool's counter: read each span once.
      const read = new Map<string, number | Promise<number>>();
      for (const entitlement of resolved.entitlements.values()) {
        const counted = countedAs({ catalog, resolved, entitlement, customer: customerId, now: at, upgrades: false });
        const { span } = counted;
        let usage = 0;
        if (span) {
          let pending = read.get(span.key);
          if (!pending) {
            pending = deps.readUsage({ customerId, ...span });
            read.set(span.key, pending);
          }
          usage = await pending;
        }
        decisions.set(entitlement.feature, counted.decideAt({ usage, quantity: 0 }));
      }
      return { resolved, now: at, decisions };
    },
  };
}
