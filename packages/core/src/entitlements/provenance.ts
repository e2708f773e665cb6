import type { Feature } from '../catalog/feature.js';
import { type Grant, isGrantActive } from '../customers/grant.js';
import type { CustomerEntitlements, Entitlement, EntitlementSource } from './entitlement.js';

/** Which layer decided a decision, for the decision log: "why was acme denied at 10:32?". */
export interface DecisionProvenance {
  /** The deciding layer; `kill_switch` for a disabled feature; null when nothing entitled the customer. */
  source: EntitlementSource | 'kill_switch' | null;
  /** The customer's base plan and its version at the instant, if any. */
  plan: { key: string; version: number | null } | null;
  /** The customer's grants on the feature active at the instant (override, add and credit). */
  grants: string[];
  /** Whether the feature has a targeting rule (it decided when `source` is `targeting`). */
  targeting: boolean;
  /** Why the entitlement is off, when it is. */
  denial: Entitlement['denial'];
}

/**
 * Where a decision came from, from what decided it: the feature (its kill switch and targeting
 * rule), the customer's resolution (plan and version) and entitlement (its source), and the
 * grants active on the feature. Pure; computed only for the decisions the log keeps.
 */
export function decisionProvenance(input: {
  feature: Feature;
  resolved: CustomerEntitlements | null;
  entitlement: Entitlement | null;
  grants: readonly Grant[];
  now: number;
}): DecisionProvenance {
  const { feature, resolved, entitlement, now } = input;
  const disabled = feature.status === 'disabled';
  const active = input.grants.filter((g) => g.feature === feature.key && isGrantActive(g, now));
  // A denial names no layer of its own; an override grant switching the feature off is one (the newest override wins).
  let override: Grant | undefined;
  for (const grant of active) {
    if (grant.mode === 'override' && (!override || grant.createdAt >= override.createdAt)) override = grant;
  }
  const switchedOff = entitlement !== null && !entitlement.enabled && override?.enabled === false;
  return {
    source: disabled ? 'kill_switch' : switchedOff ? 'grant' : (entitlement?.source ?? null),
    plan: resolved?.planKey ? { key: resolved.planKey, version: resolved.planVersion } : null,
    grants: active.map((g) => g.id),
    targeting: feature.targeting !== null,
    denial: entitlement?.denial ?? (disabled ? 'feature_disabled' : null),
  };
}

/** Whether the decision log keeps a decision of this feature (its `decisionLog`, `denied` by default). */
export function keepsDecision(feature: Pick<Feature, 'decisionLog'>, allowed: boolean): boolean {
  const level = feature.decisionLog ?? 'denied';
  return level === 'all' || (level === 'denied' && !allowed);
}
