import type { Decision as CoreDecision } from '@keymaster/core';
import type { Decision } from './entitlements.js';

/**
 * Core's decision as `POST /v1/check` shows it: the one mapping from `decide`'s answer to the wire,
 * used by the server for every answer and by the SDK for the decisions it makes locally, so the
 * two cannot drift apart. `resetsAt` comes formatted from the caller (the server reuses the string
 * across checks; the SDK has the snapshot's).
 */
export function apiDecision(decision: CoreDecision, resetsAt: string | null): Decision {
  return {
    customer: decision.customer,
    feature: decision.feature,
    allowed: decision.allowed,
    reason: decision.reason,
    type: decision.type,
    limit: decision.limit,
    usage: decision.usage,
    balance: decision.balance,
    unlimited: decision.unlimited,
    overage: decision.overage,
    value: decision.value,
    resets_at: resetsAt,
    upgrade: decision.upgrade,
    credit_cost: decision.creditCost && { pool: decision.creditCost.pool, per_unit: decision.creditCost.perUnit },
  };
}
