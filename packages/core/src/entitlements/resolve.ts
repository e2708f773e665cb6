import type { Catalog } from '../catalog/catalog.js';
import { defaultVariants, type Feature, isAllowedConfigValue, isQuantityType } from '../catalog/feature.js';
import type { PlanEntitlement, PlanVersion } from '../catalog/plan.js';
import type { Customer } from '../customers/customer.js';
import { type Grant, grantBoundaries, isGrantActive } from '../customers/grant.js';
import {
  effectiveStatus,
  isLive,
  type Subscription,
  type SubscriptionStatus,
  statusBoundaries,
} from '../customers/subscription.js';
import type { JsonObject, JsonValue } from '../json.js';
import type { CustomerEntitlements, Denial, Entitlement, EntitlementSource } from './entitlement.js';
import { type BillingAnchor, usagePeriod } from './periods.js';
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
 * while the subscription is live), then the feature's default variant. See this folder's README
 * for the exact rules.
 */
export function resolve(input: {
  catalog: Catalog;
  state: CustomerState;
  now: number;
  callerContext?: JsonObject;
}): CustomerEntitlements {
  const run = startResolution(input);
  const entitlements = new Map<string, Entitlement>();
  // The earliest boundary, kept as we go rather than gathered into one array for Math.min. A usage
  // period's end is one: the snapshot is resolved again when the period rolls over.
  let validUntil = Number.POSITIVE_INFINITY;
  for (const feature of input.catalog.features.values()) {
    const entitlement = resolveWith(run, feature);
    if (entitlement.period !== null && entitlement.period.end < validUntil) validUntil = entitlement.period.end;
    entitlements.set(feature.key, entitlement);
  }
  const { subscription, grants } = input.state;
  if (subscription) validUntil = earliest(validUntil, statusBoundaries(subscription, input.now));
  for (const grant of grants) validUntil = earliest(validUntil, grantBoundaries(grant, input.now));
  const { plan } = run;
  return {
    customerId: input.state.customer.id,
    planKey: plan.base?.key ?? plan.subscription?.planKey ?? null,
    planVersion: plan.base?.version ?? plan.subscription?.planVersion ?? null,
    subscriptionStatus: plan.status,
    entitlements,
    validUntil,
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
  return resolveWith(startResolution(input), input.feature);
}

/** The earliest of `until` and `instants`. Positional for speed: called per grant of every customer. */
function earliest(until: number, instants: readonly number[]): number {
  let first = until;
  for (const instant of instants) first = Math.min(first, instant);
  return first;
}

/**
 * What resolving any feature of one customer reads, gathered once per customer and handed to
 * `resolveWith` for each feature. On Node 20 an object built by spread (`{ ...input, feature }`)
 * costs about 50 times one written out, so the per-feature path builds none.
 */
interface Resolution {
  catalog: Catalog;
  state: CustomerState;
  now: number;
  callerContext: JsonObject | undefined;
  plan: PlanLayer;
  /** Built when the first rule needs it and shared by the others; rules do not modify it. */
  targetingContext: JsonObject | null;
}

function startResolution(input: {
  catalog: Catalog;
  state: CustomerState;
  now: number;
  callerContext?: JsonObject;
}): Resolution {
  return {
    catalog: input.catalog,
    state: input.state,
    now: input.now,
    callerContext: input.callerContext,
    plan: planLayer(input),
    targetingContext: null,
  };
}

interface PlanLayer {
  subscription: Subscription | null;
  /** The subscription's effective status at `now`. */
  status: SubscriptionStatus | null;
  live: boolean;
  base: PlanVersion | null;
  addOns: { plan: PlanVersion; quantity: number }[];
  billing: BillingAnchor | null;
}

function planLayer(input: { catalog: Catalog; state: CustomerState; now: number }): PlanLayer {
  const { subscription } = input.state;
  const { fallback } = input.catalog;
  if (!subscription) {
    // Without a subscription, the fallback plan if there is one; its usage resets are calendar
    // ones (a billing-period reset has no period to follow and never resets).
    return { subscription: null, status: null, live: fallback !== null, base: fallback, addOns: [], billing: null };
  }
  if (fallback && !isLive(subscription, input.now)) {
    return {
      subscription,
      status: effectiveStatus(subscription, input.now),
      live: true,
      base: fallback,
      addOns: [],
      billing: null,
    };
  }
  const base = input.catalog.planVersion(subscription.planKey, subscription.planVersion) ?? null;
  const addOns: PlanLayer['addOns'] = [];
  for (const addOn of subscription.addOns) {
    const plan = input.catalog.planVersion(addOn.planKey, addOn.planVersion);
    if (plan) addOns.push({ plan, quantity: addOn.quantity });
  }
  return {
    subscription,
    status: effectiveStatus(subscription, input.now),
    live: isLive(subscription, input.now),
    base,
    addOns,
    billing: { anchor: subscription.billingAnchor, interval: subscription.interval },
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

// Positional for speed: runs once per feature of every customer resolved.
function resolveWith(run: Resolution, feature: Feature): Entitlement {
  const { plan } = run;
  if (feature.status === 'disabled') return denied(feature, 'feature_disabled', plan.billing);

  let terms = plan.live ? planTerms(feature, plan) : null;
  let blocked = false;

  const rule = run.catalog.targeting.get(feature.key);
  if (rule) {
    run.targetingContext ??= targetingContext({
      customer: run.state.customer,
      planKey: plan.base?.key ?? plan.subscription?.planKey ?? null,
      subscriptionStatus: plan.status,
      callerContext: run.callerContext,
    });
    const answer = rule.evaluate(run.targetingContext);
    if (answer !== undefined) ({ terms, blocked } = applyTargeting(feature, terms, answer));
  }
  // The default variant is the lowest layer: it answers only when no rule or plan term did.
  if (terms === null && feature.defaultVariant !== null) terms = defaultTerms(feature, feature.defaultVariant);

  let override: Grant | undefined;
  let added = 0;
  let credits = 0;
  let credited = false;
  for (const grant of run.state.grants) {
    if (grant.feature !== feature.key || !isGrantActive(grant, run.now)) continue;
    if (grant.mode === 'add') added += grant.limit ?? 0;
    else if (grant.mode === 'credit') {
      credited = true;
      credits += Math.max(0, grant.remaining ?? grant.limit ?? 0);
    } else if (!override || grant.createdAt >= override.createdAt) override = grant;
  }
  if (override) ({ terms, blocked } = applyOverride(feature, terms, override));
  if (added > 0 && !blocked) terms = applyAddition(terms, added);
  // One-off credits with nothing below them are an allowance of their own, nothing per period
  // (used up, they still say so: `limit_reached` rather than `no_entitlement`).
  if (credited && !blocked && !terms?.enabled && feature.type === 'metered') terms = applyAddition(terms, 0);

  if (!terms?.enabled) {
    const reason: Denial = blocked || plan.live || !plan.subscription ? 'no_entitlement' : 'subscription_inactive';
    return denied(feature, reason, plan.billing);
  }
  const quantity = isQuantityType(feature.type);
  // A rolling window replaces the calendar reset; reporting both would announce a reset that never comes.
  const reset = feature.type === 'metered' && terms.window === null ? (terms.reset ?? 'billing_period') : null;
  return {
    feature: feature.key,
    type: feature.type,
    enabled: true,
    denial: null,
    limit: quantity ? terms.limit : null,
    unlimited: quantity && terms.limit === null,
    reset,
    window: feature.type === 'metered' ? terms.window : null,
    overage: quantity ? terms.overage : null,
    value: feature.type === 'config' ? terms.value : null,
    source: terms.source,
    billing: plan.billing,
    period: reset === null ? null : usagePeriod({ reset, now: run.now, billing: plan.billing }),
    credits: feature.type === 'metered' && terms.limit !== null ? credits : 0,
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
    period: null,
    credits: 0,
  };
}

/** Base plan terms, then each add-on: limits add up (times quantity), booleans switch on, values replace. */
function planTerms(feature: Feature, plan: PlanLayer): Terms | null {
  const base = plan.base ? enabledTerm(plan.base, feature.key) : undefined;
  let terms: Terms | null = base ? copyTerms(base, 'plan') : null;
  for (const { plan: addOn, quantity } of plan.addOns) {
    const extra = enabledTerm(addOn, feature.key);
    if (!extra) continue;
    if (!terms) {
      terms = copyTerms(extra, 'addon', extra.enabled, extra.limit === null ? null : extra.limit * quantity);
    } else if (isQuantityType(feature.type)) {
      terms.limit = terms.limit === null || extra.limit === null ? null : terms.limit + extra.limit * quantity;
    } else if (feature.type === 'config') {
      terms.value = extra.value;
    }
  }
  return terms;
}

/**
 * The plan's enabled term for a feature: a loop, as `find` would take a new closure per feature.
 * Positional for speed.
 */
function enabledTerm(plan: PlanVersion, featureKey: string): PlanEntitlement | undefined {
  for (const term of plan.entitlements) {
    if (term.feature === featureKey && term.enabled) return term;
  }
  return undefined;
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
    return { terms: copyTerms(terms ?? offTerms('targeting'), 'targeting', false), blocked: true };
  }
  const base = terms ?? offTerms('targeting');
  switch (feature.type) {
    case 'boolean':
      return answer === true
        ? { terms: copyTerms(base, 'targeting', true), blocked: false }
        : { terms, blocked: false };
    case 'metered':
    case 'gauge':
      return typeof answer === 'number' && Number.isInteger(answer) && answer >= 0
        ? { terms: copyTerms(base, 'targeting', true, answer), blocked: false }
        : { terms, blocked: false };
    case 'config':
      return isAllowedConfigValue(feature, answer)
        ? { terms: copyTerms(base, 'targeting', true, base.limit, answer), blocked: false }
        : { terms, blocked: false };
  }
}

/**
 * The terms the default variant gives, read as a targeting answer would be but never "off
 * explicitly": a default of `false` (or one the feature cannot take) leaves the feature off as
 * absent, so grants below the precedence line can still enable it.
 */
function defaultTerms(feature: Feature, variant: string): Terms | null {
  const own = feature.variants;
  const value = own !== null && variant in own ? own[variant] : defaultVariants(feature)[variant];
  if (value === undefined || value === false) return null;
  const { terms } = applyTargeting(feature, null, value);
  return terms === null ? null : copyTerms(terms, 'default');
}

/** An override grant replaces the terms it sets and keeps the rest from the layers below. */
function applyOverride(feature: Feature, terms: Terms | null, grant: Grant): { terms: Terms; blocked: boolean } {
  if (grant.enabled === false) return { terms: offTerms('grant'), blocked: true };
  const base = terms ?? offTerms('grant');
  const limit = isQuantityType(feature.type) && grant.limit !== undefined ? grant.limit : base.limit;
  const value = grant.value !== undefined ? grant.value : base.value;
  return { terms: copyTerms(base, 'grant', true, limit, value), blocked: false };
}

/**
 * `add` grants raise the limit; with nothing below them they are the whole allowance (a limit of
 * 0 and one-off credits on top, for `credit` grants alone).
 */
function applyAddition(terms: Terms | null, added: number): Terms {
  if (!terms?.enabled) {
    // The defaults of `offTerms`, switched on with the added units and no reset.
    return {
      enabled: true,
      limit: added,
      reset: 'never',
      window: null,
      overage: 'block',
      value: null,
      source: 'grant',
    };
  }
  return copyTerms(terms, terms.source, terms.enabled, terms.limit === null ? null : terms.limit + added);
}

function offTerms(source: EntitlementSource): Terms {
  return { enabled: false, limit: 0, reset: null, window: null, overage: 'block', value: null, source };
}

/**
 * `from` with `source` and the given terms, written out in full rather than spread: this runs
 * for every feature of every customer, and on Node 20 `{ ...from, source }` costs about 50 times
 * an object literal. Positional for speed; a term left out is copied from `from`.
 */
function copyTerms(
  from: Omit<Terms, 'source'>,
  source: EntitlementSource,
  enabled = from.enabled,
  limit = from.limit,
  value = from.value,
): Terms {
  return { enabled, limit, reset: from.reset, window: from.window, overage: from.overage, value, source };
}
