import {
  type Catalog,
  type CustomerEntitlements,
  type Decision,
  decide,
  type Entitlement,
  invalid,
  type UpgradeOptions,
  unknownDecision,
} from '@keymaster/core';
import { type UsageSpan, usageSpan } from '../entitlements/usage-lookup.js';

/** What a consume or a hold records against, once the request has passed every gate. */
export interface MeteredTarget {
  entitlement: Entitlement;
  span: UsageSpan;
  /** The limit to enforce: null when unlimited or when overage is allowed. */
  limit: number | null;
  upgrades: UpgradeOptions;
}

/**
 * The gates before units are recorded, shared by consumes and reservations: an unknown feature
 * or customer, or a feature the customer is not entitled to, is answered with a decision and
 * records nothing; a feature that is not metered is a 400 naming `/feature`.
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
  const { catalog, resolved, customer, now } = input;
  const feature = catalog.features.get(input.feature);
  if (!feature) return { answer: unknownDecision({ customer, feature: input.feature, reason: 'unknown_feature' }) };
  if (!resolved) return { answer: unknownDecision({ customer, feature: input.feature, reason: 'unknown_customer' }) };
  if (feature.type !== 'metered') {
    throw invalid([
      { path: '/feature', message: `"${feature.key}" is ${feature.type}: only metered features are ${input.verb}` },
    ]);
  }
  const entitlement = resolved.entitlements.get(feature.key)!;
  const upgrades = { candidates: catalog.upgradeCandidates.get(feature.key) ?? [], currentPlanKey: resolved.planKey };
  const span = usageSpan({ catalog, entitlement, now });
  if (!entitlement.enabled || span === null) {
    return { answer: decide({ customer, entitlement, usage: 0, quantity: input.quantity, now, upgrades }) };
  }
  const limit = entitlement.limit === null || entitlement.overage === 'allow' ? null : entitlement.limit;
  return { target: { entitlement, span, limit, upgrades } };
}

/** A granted decision: allowed, with usage already including the granted units. */
export function grantedDecision(decision: Decision, usage: number): Decision {
  return {
    ...decision,
    allowed: true,
    reason: 'entitled',
    usage,
    balance: decision.limit === null ? null : Math.max(0, decision.limit - usage),
    upgrade: null,
  };
}
