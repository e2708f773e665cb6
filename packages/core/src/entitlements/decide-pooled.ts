import type { UpgradeCandidate } from '../catalog/catalog.js';
import type { PlanEntitlement } from '../catalog/plan.js';
import { poolCost } from './credits.js';
import { type Decision, decide, type UpgradePlan } from './decide.js';
import type { Entitlement } from './entitlement.js';

/** Where to look for a better plan for a feature drawing from a pool. */
export interface PooledUpgradeOptions {
  /** Published plans enabling the feature itself, cheapest first (`Catalog.upgradeCandidates`). */
  candidates: readonly UpgradeCandidate[];
  /** Published plans granting the pool, cheapest first. */
  poolCandidates: readonly UpgradeCandidate[];
  currentPlanKey: string | null;
}

const maxSuggestions = 3;

/**
 * Decides for a feature that draws from a credit pool (`creditCost`): `quantity` units of it cost
 * `quantity × perUnit` units of the pool. The feature's own entitlement gates it (plan term,
 * grants, targeting, kill switch: a denial keeps its reason); then the pool's entitlement must be
 * on (else the pool's denial is the reason) and cover the cost, exactly as `decide` would for the
 * pool itself. The figures reported (`limit`, `usage`, `balance`, `overage`, `resetsAt`) are the
 * pool's, in the pool's units, and `creditCost` names the pool and the cost of one unit.
 *
 * `usage` is the pool's usage in its current period. The feature's own limit, reset and overage
 * play no part: its allowance is the pool.
 */
export function decidePooled(input: {
  customer: string;
  entitlement: Entitlement;
  pool: Entitlement;
  perUnit: number;
  usage: number;
  quantity: number;
  now: number;
  upgrades?: PooledUpgradeOptions | undefined;
}): Decision {
  const { entitlement, pool, perUnit, quantity, now } = input;
  const creditCost = { pool: pool.feature, perUnit };
  const cost = poolCost({ perUnit, quantity });
  let decision: Decision;
  if (!entitlement.enabled) {
    decision = decide({ customer: input.customer, entitlement, usage: 0, quantity, now });
  } else {
    const usage = pool.enabled ? input.usage : 0;
    decision = { ...decide({ customer: input.customer, entitlement: pool, usage, quantity: cost, now }) };
    decision.feature = entitlement.feature;
  }
  decision.creditCost = creditCost;
  if (!decision.allowed && decision.reason !== 'feature_disabled' && input.upgrades) {
    decision.upgrade = suggestPooled({
      entitlement,
      pool,
      needed: (pool.enabled ? input.usage : 0) + cost,
      options: input.upgrades,
    });
  }
  return decision;
}

interface Offer {
  plan: UpgradePlan;
  monthlyPrice: number;
  feature: PlanEntitlement | null;
  pool: PlanEntitlement | null;
}

/**
 * The cheapest plans on sale that would let the customer use the feature for `needed` pool
 * units: a base plan (not the current one) that enables the feature and whose own pool term
 * covers `needed` (or is unlimited, or allows overage); an add-on — for a customer with a plan —
 * that together with what the customer has gives access to the feature and a pool covering it.
 */
function suggestPooled(input: {
  entitlement: Entitlement;
  pool: Entitlement;
  needed: number;
  options: PooledUpgradeOptions;
}): { plans: UpgradePlan[] } | null {
  const { entitlement, pool, needed, options } = input;
  const offers = new Map<string, Offer>();
  const offer = (candidate: UpgradeCandidate): Offer => {
    let found = offers.get(candidate.plan.key);
    if (!found) {
      found = { plan: candidate.plan, monthlyPrice: candidate.monthlyPrice, feature: null, pool: null };
      offers.set(candidate.plan.key, found);
    }
    return found;
  };
  for (const candidate of options.candidates) offer(candidate).feature = candidate.terms;
  for (const candidate of options.poolCandidates) offer(candidate).pool = candidate.terms;
  const covers = (terms: PlanEntitlement) => terms.limit === null || terms.overage === 'allow';
  const currentPool = pool.enabled ? (pool.unlimited ? Number.POSITIVE_INFINITY : (pool.limit ?? 0)) : 0;
  const plans: UpgradePlan[] = [];
  for (const found of [...offers.values()].sort((a, b) => a.monthlyPrice - b.monthlyPrice)) {
    if (plans.length === maxSuggestions) break;
    if (found.plan.key === options.currentPlanKey) continue;
    let enough: boolean;
    if (found.plan.kind === 'base') {
      enough =
        found.feature !== null && found.pool !== null && (covers(found.pool) || (found.pool.limit ?? 0) >= needed);
    } else {
      if (options.currentPlanKey === null) continue;
      const access = found.feature !== null || entitlement.enabled;
      const poolAfter = found.pool === null ? currentPool : currentPool + (found.pool.limit ?? 0);
      enough = access && (poolAfter >= needed || (found.pool !== null && covers(found.pool)));
      // An add-on that changes nothing the customer lacks is no suggestion.
      if (found.feature === null && found.pool === null) enough = false;
      if (entitlement.enabled && found.pool === null) enough = false;
    }
    if (enough) plans.push(found.plan);
  }
  return plans.length > 0 ? { plans } : null;
}
