import type { Decision as ServerDecision } from '@keymaster/contract';
import type { Reason } from '@keymaster/core';

/**
 * Why the SDK answered without the customer's entitlements: `loading` — the first fetch is still
 * out; `unavailable` — the server could not be reached (or answered 5xx) and nothing was cached.
 * Either way the feature's failure policy decided `allowed`.
 */
export type FallbackReason = 'loading' | 'unavailable';

/** A server reason, or why the failure policy answered instead. */
export type DecisionReason = Reason | FallbackReason;

/** Where an answer came from. */
export type DecisionSource = 'cache' | 'server' | 'fallback';

/**
 * The decision `POST /v1/check` gives (same fields, snake_case as on the wire), plus how fresh
 * it is. Decisions are frozen and shared between calls: never mutate one.
 *
 * - `source: 'cache'` — decided locally from the customer's cached snapshot with core's `decide`
 *   (the server's own code): `allowed`, `reason`, `limit`, `usage`, `balance`, `unlimited`,
 *   `overage`, `value`, `resets_at` and `credit_cost` equal the server's answer for that snapshot. `upgrade` is always null (suggestions need the catalog:
 *   use `checkRemote` for a paywall).
 * - `source: 'fallback'` — nothing cached: `reason` is `loading` or `unavailable` and the
 *   feature's failure policy set `allowed`; the figures are null.
 * - `source: 'server'` — answered by the server (`consume`, `checkRemote`).
 */
export interface Decision extends Omit<ServerDecision, 'reason'> {
  reason: DecisionReason;
  source: DecisionSource;
  /**
   * True when the answer comes from a snapshot older than `staleAfterMs` that neither the stream
   * nor polling could confirm (the server is unreachable), and for every fallback answer.
   */
  stale: boolean;
  /** When the server computed the snapshot (or the answer); null for a fallback. */
  as_of: string | null;
}

/** Fail open (allow) or closed (deny) when there is no answer to go by. */
export type FailureMode = 'open' | 'closed';

/** What to answer per feature when nothing is cached and the server cannot be asked. */
export interface FailurePolicy {
  default: FailureMode;
  features?: Record<string, FailureMode>;
}

/**
 * The answer when nothing cached can decide: `loading` (a fetch is under way) or `unavailable`
 * (the server cannot be reached), allowed or not by the feature's failure policy.
 */
export function fallbackDecision(input: {
  customer: string;
  feature: string;
  reason: FallbackReason;
  policy: FailurePolicy;
}): Decision {
  const mode = input.policy.features?.[input.feature] ?? input.policy.default;
  return Object.freeze({
    customer: input.customer,
    feature: input.feature,
    allowed: mode === 'open',
    reason: input.reason,
    type: null,
    limit: null,
    usage: null,
    balance: null,
    unlimited: false,
    overage: null,
    value: null,
    resets_at: null,
    upgrade: null,
    credit_cost: null,
    source: 'fallback',
    stale: true,
    as_of: null,
  });
}

/** A server's decision, marked as such. */
export function fromServer(decision: ServerDecision, asOf: string): Decision {
  return Object.freeze({ ...decision, source: 'server', stale: false, as_of: asOf });
}
