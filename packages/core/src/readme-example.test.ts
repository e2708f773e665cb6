// The example of packages/core/README.md, run as written: keep the two in step.
import { describe, expect, it } from 'vitest';
import { buildCatalog, decide, type Feature, type PlanVersion, resolve, type Subscription } from './index.js';

describe('README example', () => {
  const features: Feature[] = [
    {
      key: 'api_calls',
      name: 'API calls',
      type: 'metered',
      unit: 'calls',
      status: 'active',
      meter: null,
      creditCost: null,
      targeting: null,
      variants: null,
      defaultVariant: null,
      metadata: null,
    },
    {
      key: 'sso',
      name: 'Single sign-on',
      type: 'boolean',
      unit: null,
      status: 'active',
      targeting: null,
      variants: null,
      defaultVariant: null,
      metadata: null,
    },
  ];

  const plan = (key: string, amount: number, entitlements: PlanVersion['entitlements']): PlanVersion => ({
    key,
    version: 1,
    name: key,
    description: null,
    status: 'published',
    kind: 'base',
    price: { amount, currency: 'usd', interval: 'month' },
    trialDays: null,
    entitlements,
  });
  const terms = { enabled: true, reset: null, window: null, overage: 'block', value: null } as const;

  const catalog = buildCatalog({
    features,
    planVersions: [
      plan('pro', 2000, [{ ...terms, feature: 'api_calls', limit: 1000, reset: 'month' }]),
      plan('business', 9000, [
        { ...terms, feature: 'api_calls', limit: 10_000 },
        { ...terms, feature: 'sso', limit: null },
      ]),
    ],
  });

  const now = Date.parse('2026-06-15T12:00:00Z');
  const subscription: Subscription = {
    id: 'sub_1',
    customerId: 'acme',
    planKey: 'pro',
    planVersion: 1,
    status: 'active',
    currentPeriodStart: Date.parse('2026-06-01T00:00:00Z'),
    currentPeriodEnd: Date.parse('2026-07-01T00:00:00Z'),
    interval: 'month',
    billingAnchor: Date.parse('2026-06-01T00:00:00Z'),
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
    createdAt: now,
  };

  const snapshot = resolve({
    catalog,
    now,
    state: {
      customer: { id: 'acme', name: 'Acme', email: null, traits: { country: 'DE' } },
      subscription,
      grants: [],
    },
  });

  const check = (feature: string, usage: number, quantity = 1) =>
    decide({
      customer: 'acme',
      entitlement: snapshot.entitlements.get(feature)!,
      usage,
      quantity,
      now,
      upgrades: { candidates: catalog.upgradeCandidates.get(feature) ?? [], currentPlanKey: snapshot.planKey },
    });

  const business = {
    key: 'business',
    name: 'business',
    kind: 'base',
    price: { amount: 9000, currency: 'usd', interval: 'month' },
  };

  it('allows within the limit', () => {
    expect(check('api_calls', 250)).toMatchObject({
      allowed: true,
      reason: 'entitled',
      limit: 1000,
      usage: 250,
      balance: 750,
      resetsAt: Date.parse('2026-07-01T00:00:00Z'),
      upgrade: null,
    });
  });

  it('refuses at the limit and names the plan that would allow it', () => {
    expect(check('api_calls', 1000)).toMatchObject({
      allowed: false,
      reason: 'limit_reached',
      balance: 0,
      upgrade: { plans: [business] },
    });
  });

  it('refuses a feature the plan lacks', () => {
    expect(check('sso', 0)).toMatchObject({ allowed: false, reason: 'no_entitlement', upgrade: { plans: [business] } });
  });
});
