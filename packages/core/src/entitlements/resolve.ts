import type { Catalog } from '../catalog/catalog.js';
import { type Feature, isAllowedConfigValue, isQuantityType } from '../catalog/feature.js';
import type { PlanEntitlement, PlanVersion } from '../catalog/plan.js';
import type { Customer } from '../customers/customer.js';
import { type Grant, grantBoundaries, isGrantActive } from '../customers/grant.js';
import { effectiveStatus, isLive, type Subscription, statusBoundaries } from '../customers/subscription.js';
import type { JsonObject, JsonValue } from '../json.js';
import type { CustomerEntitlements, Denial, Entitlement, EntitlementSource } from './entitlement.js';
import type { BillingAnchor } from './periods.js';
import { targetingContext } from './targeting.js';

/** Everything resolution reads about one customer; loaded by the caller, handed in whole. */
export interface CustomerState {
  customer: Customer;
  /** The customer's current base subscription (the newest one), if any. */
  subscription: Subscription | null;
  grants: readonly Grant[];
}

/**
 * Resolves every feature of the catalog for one customer at `now`.
 *
 * Precedence, highest first: the kill switch (a disabled feature is off for everyone), then the
 * customer's grants, then the feature's targeting rule, then the plan (base plan + add-ons, only
 * while the subscription is live). See this folder's README for the exact rules.
 */
export function resolve(input: {
  catalog: Catalog;
  state: CustomerState;
  now: number;
  callerContext?: JsonObject;
}): CustomerEntitlements {
  const plan = planLayer(input);
  const entitlements = new Map<string, Entitlement>();
  for (const feature of input.catalog.features.values()) {
    entitlements.set(feature.key, resolveWith({ ...input, plan, feature }));
  }
  const { subscription, grants } = input.state;
  const boundaries = [
    ...(subscription ? statusBoundaries(subscription, input.now) : []),
    ...grants.flatMap((grant) => grantBoundaries(grant, input.now)),
  ];
  return {
    customerId: input.state.customer.id,
    planKey: plan.subscription?.planKey ?? null,
    planVersion: plan.subscription?.planVersion ?? null,
    subscriptionStatus: subscription ? effectiveStatus(subscription, input.now) : null,
    entitlements,
    validUntil: Math.min(Number.POSITIVE_INFINITY, ...boundaries),
  };
}

/** Resolves one feature; used when a check carries its own targeting context. */
export function resolveFeature(input: {
  catalog: Catalog;
  state: CustomerState;
  feature: Feature;
  now: number;
  callerContext?: JsonObject;
}): Entitlement {
  return resolveWith({ ...input, plan: planLayer(input) });
}

interface PlanLayer {
  subscription: Subscription | null;
  live: boolean;
  base: PlanVersion | null;
  addOns: { plan: PlanVersion; quantity: number }[];
  billing: BillingAnchor | null;
}

function planLayer(input: { catalog: Catalog; state: CustomerState; now: number }): PlanLayer {
  const { subscription } = input.state;
  if (!subscription) return { subscription: null, live: false, base: null, addOns: [], billing: null };
  const base = input.catalog.planVersion(subscription.planKey, subscription.planVersion) ?? null;
  const addOns = subscription.addOns.flatMap((addOn) => {
    const plan = input.catalog.planVersion(addOn.planKey, addOn.planVersion);
    return plan ? [{ plan, quantity: addOn.quantity }] : [];
  });
  return {
    subscription,
    live: isLive(subscription, input.now),
    base,
    addOns,
    billing: { anchor: subscription.currentPeriodStart, interval: base?.price?.interval ?? 'month' },
  };
}

/** The terms a layer contributes; `blocked` marks an explicit "off" that nothing below may undo. */
interface Terms {
  enabled: boolean;
  limit: number | null;
  reset: PlanEntitlement['reset'];
  window: string | null;
  overage: PlanEntitlement['overage'];
  value: JsonValue | null;
  source: EntitlementSource;
}

function resolveWith(input: {
  catalog: Catalog;
  state: CustomerState;
  plan: PlanLayer;
  feature: Feature;
  now: number;
  callerContext?: JsonObject;
}): Entitlement {
  const { feature, plan } = input;
  if (feature.status === 'disabled') return denied(feature, 'feature_disabled', plan.billing);

  let terms = plan.live ? planTerms(feature, plan) : null;
  let blocked = false;

  const rule = input.catalog.targeting.get(feature.key);
  if (rule) {
    const answer = rule.evaluate(
      targetingContext({
        customer: input.state.customer,
        planKey: plan.subscription?.planKey ?? null,
        subscriptionStatus: plan.subscription ? effectiveStatus(plan.subscription, input.now) : null,
        callerContext: input.callerContext,
      }),
    );
    if (answer !== undefined) ({ terms, blocked } = applyTargeting(feature, terms, answer));
  }

  let override: Grant | undefined;
  let added = 0;
  for (const grant of input.state.grants) {
    if (grant.feature !== feature.key || !isGrantActive(grant, input.now)) continue;
    if (grant.mode === 'add') added += grant.limit ?? 0;
    else if (!override || grant.createdAt >= override.createdAt) override = grant;
  }
  if (override) ({ terms, blocked } = applyOverride(feature, terms, override));
  if (added > 0 && !blocked) terms = applyAddition(terms, added);

  if (!terms?.enabled) {
    const reason: Denial = blocked || plan.live || !plan.subscription ? 'no_entitlement' : 'subscription_inactive';
    return denied(feature, reason, plan.billing);
  }
  const quantity = isQuantityType(feature.type);
  return {
    feature: feature.key,
    type: feature.type,
    enabled: true,
    denial: null,
    limit: quantity ? terms.limit : null,
    unlimited: quantity && terms.limit === null,
    // A rolling window replaces the calendar reset; reporting both would announce a reset that never comes.
    reset: feature.type === 'metered' && terms.window === null ? (terms.reset ?? 'billing_period') : null,
    window: feature.type === 'metered' ? terms.window : null,
    overage: quantity ? terms.overage : null,
    value: feature.type === 'config' ? terms.value : null,
    source: terms.source,
    billing: plan.billing,
  };
}

function denied(feature: Feature, denial: Denial, billing: BillingAnchor | null): Entitlement {
  return {
    feature: feature.key,
    type: feature.type,
    enabled: false,
    denial,
    limit: null,
    unlimited: false,
    reset: null,
    window: null,
    overage: null,
    value: null,
    source: null,
    billing,
  };
}

/** Base plan terms, then each add-on: limits add up (times quantity), booleans switch on, values replace. */
function planTerms(feature: Feature, plan: PlanLayer): Terms | null {
  const base = plan.base?.entitlements.find((e) => e.feature === feature.key && e.enabled);
  let terms: Terms | null = base ? { ...base, source: 'plan' } : null;
  for (const { plan: addOn, quantity } of plan.addOns) {
    const extra = addOn.entitlements.find((e) => e.feature === feature.key && e.enabled);
    if (!extra) continue;
    if (!terms) {
      terms = { ...extra, limit: extra.limit === null ? null : extra.limit * quantity, source: 'addon' };
    } else if (isQuantityType(feature.type)) {
      terms.limit = terms.limit === null || extra.limit === null ? null : terms.limit + extra.limit * quantity;
    } else if (feature.type === 'config') {
      terms.value = extra.value;
    }
  }
  return terms;
}

/**
 * A targeting answer: `false` switches the feature off, `true` switches a boolean on (and keeps
 * the plan's terms for the other kinds), a number sets a metered or gauge limit, and for a config
 * feature the answer is the value. An answer the feature cannot take is ignored.
 */
function applyTargeting(
  feature: Feature,
  terms: Terms | null,
  answer: JsonValue,
): { terms: Terms | null; blocked: boolean } {
  if (answer === false) {
    // Off, but the lower terms are kept: an override grant that switches the feature back on then
    // inherits the plan's reset, window and overage instead of defaults.
    return { terms: { ...(terms ?? offTerms('targeting')), enabled: false, source: 'targeting' }, blocked: true };
  }
  const base = terms ?? offTerms('targeting');
  switch (feature.type) {
    case 'boolean':
      return answer === true
        ? { terms: { ...base, enabled: true, source: 'targeting' }, blocked: false }
        : { terms, blocked: false };
    case 'metered':
    case 'gauge':
      return typeof answer === 'number' && Number.isInteger(answer) && answer >= 0
        ? { terms: { ...base, enabled: true, limit: answer, source: 'targeting' }, blocked: false }
        : { terms, blocked: false };
    case 'config':
      return isAllowedConfigValue(feature, answer)
        ? { terms: { ...base, enabled: true, value: answer, source: 'targeting' }, blocked: false }
        : { terms, blocked: false };
  }
}

/** An override grant replaces the terms it sets and keeps the rest from the layers below. */
function applyOverride(feature: Feature, terms: Terms | null, grant: Grant): { terms: Terms; blocked: boolean } {
  if (grant.enabled === false) return { terms: offTerms('grant'), blocked: true };
  const base = terms ?? offTerms('grant');
  return {
    terms: {
      ...base,
      enabled: true,
      limit: isQuantityType(feature.type) && grant.limit !== undefined ? grant.limit : base.limit,
      value: grant.value !== undefined ? grant.value : base.value,
      source: 'grant',
    },
    blocked: false,
  };
}

/** `add` grants raise the limit; with nothing below them they are the whole allowance. */
function applyAddition(terms: Terms | null, added: number): Terms {
  if (!terms?.enabled) return { ...offTerms('grant'), enabled: true, limit: added, reset: 'never' };
  return { ...terms, limit: terms.limit === null ? null : terms.limit + added };
}

function offTerms(source: EntitlementSource): Terms {
  return { enabled: false, limit: 0, reset: null, window: null, overage: 'block', value: null, source };
}
