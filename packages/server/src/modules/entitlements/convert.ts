import {
  type Decision as ApiDecision,
  type CustomerEntitlements as ApiEntitlements,
  apiDecision,
} from '@keymaster/contract';
import type { CustomerEntitlements, Decision, Entitlement } from '@keymaster/core';
import { toIso } from '../../json-column.js';

// Most checks share a handful of reset instants (the start of next month...): remember the last
// one formatted rather than formatting it on every check.
let lastResetMs = Number.NaN;
let lastResetIso = '';
function resetIso(ms: number): string {
  if (ms !== lastResetMs) {
    lastResetIso = new Date(ms).toISOString();
    lastResetMs = ms;
  }
  return lastResetIso;
}

export function toApiDecision(decision: Decision): ApiDecision {
  return apiDecision(decision, decision.resetsAt === null ? null : resetIso(decision.resetsAt));
}

/**
 * One entitlement as the snapshot shows it: the decision on using nothing more (quantity 0), so
 * its reason, balance and reset are exactly what a check would report.
 */
function toApiEntitlement(input: {
  entitlement: Entitlement;
  decision: Decision;
}): ApiEntitlements['entitlements'][number] {
  const { entitlement: e, decision } = input;
  return {
    feature: e.feature,
    type: e.type,
    enabled: e.enabled,
    reason: decision.reason,
    limit: decision.limit,
    unlimited: decision.unlimited,
    usage: decision.usage,
    balance: decision.balance,
    overage: decision.overage,
    reset: e.reset,
    window: e.window,
    resets_at: decision.resetsAt === null ? null : resetIso(decision.resetsAt),
    value: decision.value,
    source: e.source,
    credit_cost: decision.creditCost && { pool: decision.creditCost.pool, per_unit: decision.creditCost.perUnit },
  };
}

export function toApiEntitlements(input: {
  resolved: CustomerEntitlements;
  now: number;
  /** Each feature's decision on quantity 0 (see the entitlement service's snapshot). */
  decisionOf: (feature: string) => Decision;
  only?: string | undefined;
}): ApiEntitlements {
  const { resolved, now } = input;
  const entitlements = [...resolved.entitlements.values()]
    .filter((e) => input.only === undefined || e.feature === input.only)
    .map((entitlement) => toApiEntitlement({ entitlement, decision: input.decisionOf(entitlement.feature) }));
  return {
    customer: resolved.customerId,
    plan:
      resolved.planKey !== null && resolved.planVersion !== null
        ? { key: resolved.planKey, version: resolved.planVersion }
        : null,
    subscription_status: resolved.subscriptionStatus,
    computed_at: toIso(now),
    valid_until: Number.isFinite(resolved.validUntil) ? toIso(resolved.validUntil) : null,
    entitlements,
  };
}
