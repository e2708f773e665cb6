import type { UsageSpan } from '@keymaster/core';
import {
  type Catalog,
  type CountedAs,
  type CustomerEntitlements,
  countedAs,
  type Decision,
  invalid,
  poolCost,
  unknownDecision,
} from '@keymaster/core';

/** What a consume or a hold records against, once the request has passed every gate. */
export interface MeteredTarget {
  /** Which counter pays (the feature's own, or its credit pool's) and how to decide. */
  counted: CountedAs;
  span: UsageSpan;
  /** Units of the counter the request costs: the quantity, times the pool cost when pooled. */
  cost: number;
  /** The limit to enforce: null when unlimited or when overage is allowed. */
  limit: number | null;
  /** The period's allowance (null: unlimited): what passes it is paid by one-off credit grants. */
  allowance: number | null;
  /** Whether the customer has one-off credits on the counter, so the store must draw them. */
  credited: boolean;
}

/**
 * The gates before units are recorded, shared by consumes and reservations: an unknown feature
 * or customer, or a feature the customer is not entitled to (or whose credit pool is off), is
 * answered with a decision and records nothing; a feature that is not metered is a 400 naming
 * `/feature`.
 */
export function meteredTarget(input: {
  catalog: Catalog;
  resolved: CustomerEntitlements | null;
  customer: string;
  feature: string;
  quantity: number;
  now: number;
  verb: string;
}): { answer: Decision } | { target: MeteredTarget } {
  const { catalog, resolved, customer, now, quantity } = input;
  const feature = catalog.features.get(input.feature);
  if (!feature) return { answer: unknownDecision({ customer, feature: input.feature, reason: 'unknown_feature' }) };
  if (!resolved) return { answer: unknownDecision({ customer, feature: input.feature, reason: 'unknown_customer' }) };
  if (feature.type !== 'metered') {
    throw invalid([
      { path: '/feature', message: `"${feature.key}" is ${feature.type}: only metered features are ${input.verb}` },
    ]);
  }
  const entitlement = resolved.entitlements.get(feature.key)!;
  const counted = countedAs({ catalog, resolved, entitlement, customer, now, upgrades: true });
  const { counter, span } = counted;
  if (!entitlement.enabled || !counter.enabled || span === null) {
    return { answer: counted.decideAt({ usage: 0, quantity }) };
  }
  const limit = counter.limit === null || counter.overage === 'allow' ? null : counter.limit;
  return {
    target: {
      counted,
      span,
      cost: poolCost({ perUnit: counted.perUnit, quantity }),
      limit,
      allowance: counter.limit,
      credited: counter.limit !== null && counter.credits > 0,
    },
  };
}

/**
 * A granted decision: allowed, with usage already including the granted units (`spent` of the
 * counter's, which the balance no longer has).
 */
export function grantedDecision(decision: Decision, input: { usage: number; spent: number }): Decision {
  return {
    ...decision,
    allowed: true,
    reason: 'entitled',
    usage: input.usage,
    balance: decision.balance === null ? null : Math.max(0, decision.balance - input.spent),
    upgrade: null,
  };
}
