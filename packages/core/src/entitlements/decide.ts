import type { UpgradeCandidate } from '../catalog/catalog.js';
import { type CreditCost, type FeatureType, isQuantityType } from '../catalog/feature.js';
import type { Overage, PlanVersion } from '../catalog/plan.js';
import type { JsonValue } from '../json.js';
import type { Entitlement } from './entitlement.js';
import { usagePeriod } from './periods.js';

export const Reasons = [
  'entitled',
  'no_entitlement',
  'limit_reached',
  'feature_disabled',
  'subscription_inactive',
  'unknown_customer',
  'unknown_feature',
] as const;
export type Reason = (typeof Reasons)[number];

/** A plan that would allow what was denied: the upsell moment. */
export type UpgradePlan = Pick<PlanVersion, 'key' | 'name' | 'kind' | 'price'>;

/** The answer to "may this customer use this feature (and `quantity` more of it)?". */
export interface Decision {
  customer: string;
  feature: string;
  allowed: boolean;
  reason: Reason;
  type: FeatureType | null;
  limit: number | null;
  usage: number | null;
  balance: number | null;
  unlimited: boolean;
  overage: Overage | null;
  value: JsonValue | null;
  /** When metered usage next resets (epoch ms), if it does. */
  resetsAt: number | null;
  upgrade: { plans: UpgradePlan[] } | null;
  /**
   * For a feature drawing from a credit pool: the pool and what one unit costs. `limit`, `usage`,
   * `balance`, `overage` and `resetsAt` are then the pool's, in the pool's units. Null otherwise.
   */
  creditCost: CreditCost | null;
}

/** Where to look for a better plan when the answer is no. */
export interface UpgradeOptions {
  /** The catalog's candidates for this feature, cheapest first (`Catalog.upgradeCandidates`). */
  candidates: readonly UpgradeCandidate[];
  currentPlanKey: string | null;
}

const maxSuggestions = 3;

/**
 * Decides from data handed in: an entitlement, the usage already counted against it in the
 * current period, and the quantity asked for. `usage` is ignored for boolean and config features.
 *
 * Quantity features are allowed while `usage + quantity <= limit`, or always when unlimited or
 * when overage is allowed (usage past the limit is then reported, not refused).
 */
export function decide(input: {
  customer: string;
  entitlement: Entitlement;
  usage: number;
  quantity: number;
  now: number;
  upgrades?: UpgradeOptions | undefined;
}): Decision {
  const { entitlement: e, usage, quantity } = input;
  const counted = isQuantityType(e.type);
  const credits = counted && e.limit !== null ? e.credits : 0;
  let reason: Reason;
  if (!e.enabled) reason = e.denial ?? 'no_entitlement';
  else if (
    counted &&
    e.limit !== null &&
    e.overage !== 'allow' &&
    exceedsAllowance(e.limit, credits, usage, quantity)
  ) {
    reason = 'limit_reached';
  } else reason = 'entitled';
  const allowed = reason === 'entitled';
  const period =
    e.period !== null && input.now >= e.period.start && input.now < e.period.end
      ? e.period
      : e.reset !== null && e.enabled
        ? usagePeriod({ reset: e.reset, now: input.now, billing: e.billing })
        : null;
  return {
    customer: input.customer,
    feature: e.feature,
    allowed,
    reason,
    type: e.type,
    limit: e.limit,
    usage: counted ? usage : null,
    balance: counted && e.enabled && e.limit !== null ? Math.max(0, e.limit - usage) + credits : null,
    unlimited: e.unlimited,
    overage: e.overage,
    value: e.value,
    resetsAt: period ? period.end : null,
    upgrade:
      allowed || reason === 'feature_disabled' || !input.upgrades ? null : suggest(e, usage + quantity, input.upgrades),
    creditCost: null,
  };
}

/**
 * `decide`'s limit test: whether `quantity` more does not fit a limited allowance that blocks
 * overage. Without credits: `usage + quantity > limit` (so a period already past its limit refuses
 * even "may I at all"). With credits: what is left of the period's allowance plus the credits must
 * cover it — usage past the allowance was paid by credits already. Positional and allocation-free:
 * the SDK calls it on every local check.
 */
export function exceedsAllowance(limit: number, credits: number, usage: number, quantity: number): boolean {
  if (credits === 0) return usage + quantity > limit;
  return quantity > Math.max(0, limit - usage) + credits;
}

/** The answer for a customer or feature Keymaster does not know. */
export function unknownDecision(input: {
  customer: string;
  feature: string;
  reason: 'unknown_customer' | 'unknown_feature';
}): Decision {
  return {
    customer: input.customer,
    feature: input.feature,
    allowed: false,
    reason: input.reason,
    type: null,
    limit: null,
    usage: null,
    balance: null,
    unlimited: false,
    overage: null,
    value: null,
    resetsAt: null,
    upgrade: null,
    creditCost: null,
  };
}

/**
 * The cheapest plans on sale that would allow `needed` units: base plans other than the current
 * one whose own terms suffice, and add-ons that cover the gap on top of the current limit.
 */
function suggest(e: Entitlement, needed: number, options: UpgradeOptions): { plans: UpgradePlan[] } | null {
  const plans: UpgradePlan[] = [];
  const current = e.enabled && e.limit !== null ? e.limit : 0;
  const counted = isQuantityType(e.type);
  for (const { plan, terms } of options.candidates) {
    if (plans.length === maxSuggestions) break;
    if (plan.key === options.currentPlanKey) continue;
    // An add-on only helps a customer who has a base plan to add it to.
    if (plan.kind === 'addon' && options.currentPlanKey === null) continue;
    const enough =
      !counted ||
      terms.limit === null ||
      terms.overage === 'allow' ||
      (plan.kind === 'base' ? terms.limit >= needed : current + terms.limit >= needed);
    if (enough) plans.push(plan);
  }
  return plans.length > 0 ? { plans } : null;
}
