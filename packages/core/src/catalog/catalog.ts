import { type CompiledTargeting, compileTargeting } from '../entitlements/targeting.js';
import type { Feature } from './feature.js';
import { monthlyPrice, type PlanEntitlement, type PlanVersion } from './plan.js';

/** A published plan that grants a feature, as offered in an upgrade suggestion. */
export interface UpgradeCandidate {
  plan: Pick<PlanVersion, 'key' | 'name' | 'kind' | 'price'>;
  terms: PlanEntitlement;
  monthlyPrice: number;
}

/**
 * The catalog as resolution needs it: every feature, every plan version a subscription can be on,
 * compiled targeting rules and, per feature, the plans on sale that grant it (cheapest first).
 * Built once per catalog change and shared by every customer's resolution.
 */
export interface Catalog {
  readonly features: ReadonlyMap<string, Feature>;
  readonly targeting: ReadonlyMap<string, CompiledTargeting>;
  /** The newest published version of each plan: what a new subscription gets. */
  readonly latestPublished: ReadonlyMap<string, PlanVersion>;
  /** Per feature, the latest published versions of plans that enable it, by monthly price. */
  readonly upgradeCandidates: ReadonlyMap<string, readonly UpgradeCandidate[]>;
  planVersion(key: string, version: number): PlanVersion | undefined;
  /**
   * What a customer without a live subscription (none, paused, canceled, expired) gets: the
   * latest published version of the configured fallback plan (e.g. `free`), or null for nothing.
   */
  readonly fallback: PlanVersion | null;
}

export function buildCatalog(input: {
  features: Iterable<Feature>;
  planVersions: Iterable<PlanVersion>;
  /** The key of the plan customers fall back to without a live subscription. */
  fallbackPlan?: string | null;
}): Catalog {
  const features = new Map<string, Feature>();
  const targeting = new Map<string, CompiledTargeting>();
  for (const feature of input.features) {
    features.set(feature.key, feature);
    // A rule that no longer compiles (it was validated when stored) is ignored rather than
    // taking every check down with it.
    const compiled = compileTargeting(feature).targeting;
    if (compiled) targeting.set(feature.key, compiled);
  }
  const versions = new Map<string, PlanVersion>();
  const latestPublished = new Map<string, PlanVersion>();
  for (const plan of input.planVersions) {
    if (plan.status === 'draft') continue;
    versions.set(`${plan.key}@${plan.version}`, plan);
    const latest = latestPublished.get(plan.key);
    if (plan.status === 'published' && (!latest || latest.version < plan.version)) latestPublished.set(plan.key, plan);
  }
  return {
    features,
    targeting,
    latestPublished,
    upgradeCandidates: indexUpgrades(latestPublished.values()),
    planVersion: (key, version) => versions.get(`${key}@${version}`),
    fallback: input.fallbackPlan ? (latestPublished.get(input.fallbackPlan) ?? null) : null,
  };
}

function indexUpgrades(plans: Iterable<PlanVersion>): Map<string, UpgradeCandidate[]> {
  const index = new Map<string, UpgradeCandidate[]>();
  for (const plan of plans) {
    for (const terms of plan.entitlements) {
      if (!terms.enabled) continue;
      const list = index.get(terms.feature) ?? [];
      list.push({
        plan: { key: plan.key, name: plan.name, kind: plan.kind, price: plan.price },
        terms,
        monthlyPrice: monthlyPrice(plan.price),
      });
      index.set(terms.feature, list);
    }
  }
  for (const list of index.values()) list.sort((a, b) => a.monthlyPrice - b.monthlyPrice);
  return index;
}
