import type { Catalog } from '../catalog/catalog.js';
import { type UsageSpan, usageSpan } from '../metering/usage-span.js';
import { creditPoolOf } from './credits.js';
import { type Decision, decide } from './decide.js';
import { decidePooled } from './decide-pooled.js';
import type { CustomerEntitlements, Entitlement } from './entitlement.js';

const noCandidates: [] = [];

/**
 * How a feature's use is counted for one customer: against its own counter, or — for a feature
 * with `credit_cost` — against its pool's, at `perUnit` pool units a unit. Check, the snapshot,
 * consume, reservations and events all go through here, so they agree on which counter and which
 * entitlement a use is measured against.
 */
export interface CountedAs {
  /** The feature's own entitlement: it gates the use (plan term, grants, targeting, kill switch). */
  entitlement: Entitlement;
  /** The entitlement whose allowance pays: the pool's, or the feature's own. */
  counter: Entitlement;
  /** Units of `counter` one unit of the feature costs: 1 unless it draws from a pool. */
  perUnit: number;
  pooled: boolean;
  /** The counters to read; null when nothing is counted (the feature or the pool is off). */
  span: UsageSpan | null;
  /** The decision at a given usage of `counter` (and, when given, credits left on it). */
  decideAt(input: { usage: number; quantity: number; credits?: number | undefined }): Decision;
}

export function countedAs(input: {
  catalog: Catalog;
  resolved: CustomerEntitlements;
  entitlement: Entitlement;
  customer: string;
  now: number;
  /** Suggest upgrades when the answer is no (checks and consumes do; the snapshot does not). */
  upgrades: boolean;
}): CountedAs {
  const { catalog, resolved, entitlement, customer, now } = input;
  const feature = catalog.features.get(entitlement.feature);
  const cost = feature ? creditPoolOf(feature) : null;
  const pool = cost ? resolved.entitlements.get(cost.pool) : undefined;
  const currentPlanKey = resolved.planKey;
  if (!cost || !pool) {
    const upgrades = input.upgrades
      ? { candidates: catalog.upgradeCandidates.get(entitlement.feature) ?? noCandidates, currentPlanKey }
      : undefined;
    return {
      entitlement,
      counter: entitlement,
      perUnit: 1,
      pooled: false,
      span: usageSpan({ catalog, entitlement, now }),
      decideAt: ({ usage, quantity, credits }) =>
        decide({ customer, entitlement: withCredits(entitlement, credits), usage, quantity, now, upgrades }),
    };
  }
  const upgrades = input.upgrades
    ? {
        candidates: catalog.upgradeCandidates.get(entitlement.feature) ?? noCandidates,
        poolCandidates: catalog.upgradeCandidates.get(pool.feature) ?? noCandidates,
        currentPlanKey,
      }
    : undefined;
  return {
    entitlement,
    counter: pool,
    perUnit: cost.perUnit,
    pooled: true,
    span: entitlement.enabled ? usageSpan({ catalog, entitlement: pool, now }) : null,
    decideAt: ({ usage, quantity, credits }) =>
      decidePooled({
        customer,
        entitlement,
        pool: withCredits(pool, credits),
        perUnit: cost.perUnit,
        usage,
        quantity,
        now,
        upgrades,
      }),
  };
}

/** The entitlement with the credits the store just read under its lock, when it read them. */
function withCredits(entitlement: Entitlement, credits: number | undefined): Entitlement {
  return credits === undefined || credits === entitlement.credits ? entitlement : { ...entitlement, credits };
}
