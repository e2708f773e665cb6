/**
 * Fixture builders for core's tests: each returns a complete, valid object and takes overrides for
 * the fields a test is about, so a test states only what matters to it. Not part of the package
 * (excluded from the build).
 */
import type { Feature, FeatureType } from './catalog/feature.js';
import type { PlanEntitlement, PlanVersion } from './catalog/plan.js';
import type { Customer } from './customers/customer.js';
import type { Grant } from './customers/grant.js';
import type { Subscription } from './customers/subscription.js';
import type { Entitlement } from './entitlements/entitlement.js';
import type { CustomerState } from './entitlements/resolve.js';

/** An ISO-8601 UTC time as epoch ms, so fixtures read as dates. */
export function utc(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not an ISO time: ${iso}`);
  return ms;
}

/** The instant most tests run at: mid-month, mid-week (a Monday), mid-day. */
export const testNow = utc('2026-06-15T12:00:00Z');

type FeatureOf<T extends FeatureType> = Extract<Feature, { type: T }>;

/** A feature of `type` (boolean unless given) with every optional part empty. */
export function buildFeature<T extends FeatureType = 'boolean'>(
  overrides: Partial<FeatureOf<T>> & { type?: T } = {},
): FeatureOf<T> {
  const base = {
    key: 'feature',
    name: 'Feature',
    unit: null,
    status: 'active',
    targeting: null,
    variants: null,
    defaultVariant: null,
    metadata: null,
  } as const;
  const defaults: { [K in FeatureType]: FeatureOf<K> } = {
    boolean: { ...base, type: 'boolean' },
    metered: { ...base, type: 'metered', meter: null, creditCost: null },
    gauge: { ...base, type: 'gauge' },
    config: { ...base, type: 'config', options: null },
  };
  const feature: Feature = { ...defaults[overrides.type ?? 'boolean'], ...overrides } as Feature;
  return feature as FeatureOf<T>;
}

/** One plan term: enabled, unlimited, no reset or window, overage blocked. */
export function buildPlanEntitlement(overrides: Partial<PlanEntitlement> & { feature: string }): PlanEntitlement {
  return { enabled: true, limit: null, reset: null, window: null, overage: 'block', value: null, ...overrides };
}

/** A published base plan version 1 at $20/month with no entitlements. */
export function buildPlan(overrides: Partial<PlanVersion> = {}): PlanVersion {
  return {
    key: 'pro',
    version: 1,
    name: 'Pro',
    description: null,
    status: 'published',
    kind: 'base',
    price: { amount: 2000, currency: 'usd', interval: 'month' },
    trialDays: null,
    entitlements: [],
    ...overrides,
  };
}

export function buildCustomer(overrides: Partial<Customer> = {}): Customer {
  return { id: 'cus_acme', name: 'Acme Inc.', email: 'billing@acme.example', traits: {}, ...overrides };
}

/** An active subscription to pro@1 whose current period is June 2026 (contains `testNow`). */
export function buildSubscription(overrides: Partial<Subscription> = {}): Subscription {
  return {
    id: 'sub_1',
    customerId: 'cus_acme',
    planKey: 'pro',
    planVersion: 1,
    status: 'active',
    currentPeriodStart: utc('2026-06-01T00:00:00Z'),
    currentPeriodEnd: utc('2026-07-01T00:00:00Z'),
    interval: 'month',
    billingAnchor: utc('2026-06-01T00:00:00Z'),
    trialEnd: null,
    trialNoticeSent: false,
    onTrialEnd: 'cancel',
    cancelAt: null,
    canceledAt: null,
    endsAt: null,
    onEndsAt: 'expire',
    contractMonths: null,
    graceEndsAt: null,
    resumesAt: null,
    scheduledChange: null,
    addOns: [],
    source: 'api',
    createdAt: utc('2026-06-01T00:00:00Z'),
    ...overrides,
  };
}

/** An open-ended override grant that sets no term yet (tests say which). */
export function buildGrant(overrides: Partial<Grant> & { feature: string }): Grant {
  return {
    id: 'grt_1',
    customerId: 'cus_acme',
    mode: 'override',
    enabled: undefined,
    limit: undefined,
    value: undefined,
    startsAt: null,
    expiresAt: null,
    reason: 'support ticket',
    createdAt: utc('2026-06-01T00:00:00Z'),
    revokedAt: null,
    rolloverCap: null,
    remaining: null,
    ...overrides,
  };
}

/** A resolved entitlement: 1,000 metered units a calendar month, from the plan. */
export function buildEntitlement(overrides: Partial<Entitlement> = {}): Entitlement {
  return {
    feature: 'api_calls',
    type: 'metered',
    enabled: true,
    denial: null,
    limit: 1000,
    unlimited: false,
    reset: 'month',
    window: null,
    overage: 'block',
    value: null,
    source: 'plan',
    billing: null,
    period: null,
    credits: 0,
    ...overrides,
  };
}

export function buildState(overrides: Partial<CustomerState> = {}): CustomerState {
  return { customer: buildCustomer(), subscription: buildSubscription(), grants: [], ...overrides };
}
