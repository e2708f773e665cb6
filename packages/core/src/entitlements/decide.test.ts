import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../catalog/catalog.js';
import type { Reset } from '../catalog/plan.js';
import { buildEntitlement, buildFeature, buildPlan, buildPlanEntitlement, testNow, utc } from '../test-builders.js';
import { type Decision, decide, exceedsAllowance, Reasons, unknownDecision } from './decide.js';
import type { Entitlement } from './entitlement.js';
import type { BillingAnchor } from './periods.js';

const now = testNow;
const monthEnd = utc('2026-07-01T00:00:00Z');

/** What `decide` answers for a denied or boolean entitlement: nothing counted, nothing to reset. */
const uncounted: Omit<Decision, 'allowed' | 'reason' | 'type'> = {
  customer: 'cus_acme',
  feature: 'api_calls',
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

const denied = (denial: Entitlement['denial'], type: Entitlement['type'] = 'metered') =>
  buildEntitlement({
    type,
    enabled: false,
    denial,
    limit: null,
    reset: null,
    overage: null,
    source: null,
  });

function decideFor(input: { entitlement: Entitlement; usage?: number; quantity?: number }): Decision {
  return decide({
    customer: 'cus_acme',
    entitlement: input.entitlement,
    usage: input.usage ?? 0,
    quantity: input.quantity ?? 1,
    now,
  });
}

describe('decide', () => {
  const cases: { name: string; entitlement: Entitlement; usage: number; quantity: number; decision: Decision }[] = [
    {
      name: 'metered, within the limit: entitled, with the balance before this use',
      entitlement: buildEntitlement(),
      usage: 250,
      quantity: 1,
      decision: {
        ...uncounted,
        allowed: true,
        reason: 'entitled',
        type: 'metered',
        limit: 1000,
        usage: 250,
        balance: 750,
        overage: 'block',
        resetsAt: monthEnd,
      },
    },
    {
      name: 'metered, landing exactly on the limit',
      entitlement: buildEntitlement(),
      usage: 990,
      quantity: 10,
      decision: {
        ...uncounted,
        allowed: true,
        reason: 'entitled',
        type: 'metered',
        limit: 1000,
        usage: 990,
        balance: 10,
        overage: 'block',
        resetsAt: monthEnd,
      },
    },
    {
      name: 'metered, one past the limit: limit_reached',
      entitlement: buildEntitlement(),
      usage: 1000,
      quantity: 1,
      decision: {
        ...uncounted,
        allowed: false,
        reason: 'limit_reached',
        type: 'metered',
        limit: 1000,
        usage: 1000,
        balance: 0,
        overage: 'block',
        resetsAt: monthEnd,
      },
    },
    {
      name: 'a quantity larger than the whole balance',
      entitlement: buildEntitlement(),
      usage: 0,
      quantity: 1001,
      decision: {
        ...uncounted,
        allowed: false,
        reason: 'limit_reached',
        type: 'metered',
        limit: 1000,
        usage: 0,
        balance: 1000,
        overage: 'block',
        resetsAt: monthEnd,
      },
    },
    {
      name: 'quantity 0 at the limit: allowed (a probe, nothing more is asked)',
      entitlement: buildEntitlement(),
      usage: 1000,
      quantity: 0,
      decision: {
        ...uncounted,
        allowed: true,
        reason: 'entitled',
        type: 'metered',
        limit: 1000,
        usage: 1000,
        balance: 0,
        overage: 'block',
        resetsAt: monthEnd,
      },
    },
    {
      name: 'quantity 0 already past the limit: limit_reached',
      entitlement: buildEntitlement(),
      usage: 1001,
      quantity: 0,
      decision: {
        ...uncounted,
        allowed: false,
        reason: 'limit_reached',
        type: 'metered',
        limit: 1000,
        usage: 1001,
        balance: 0,
        overage: 'block',
        resetsAt: monthEnd,
      },
    },
    {
      name: 'a zero limit refuses the first unit',
      entitlement: buildEntitlement({ type: 'gauge', limit: 0, reset: null }),
      usage: 0,
      quantity: 1,
      decision: {
        ...uncounted,
        allowed: false,
        reason: 'limit_reached',
        type: 'gauge',
        limit: 0,
        usage: 0,
        balance: 0,
        overage: 'block',
      },
    },
    {
      name: 'overage allowed: past the limit is reported, not refused',
      entitlement: buildEntitlement({ overage: 'allow' }),
      usage: 1200,
      quantity: 10,
      decision: {
        ...uncounted,
        allowed: true,
        reason: 'entitled',
        type: 'metered',
        limit: 1000,
        usage: 1200,
        balance: 0,
        overage: 'allow',
        resetsAt: monthEnd,
      },
    },
    {
      name: 'unlimited: always allowed, no balance',
      entitlement: buildEntitlement({ limit: null, unlimited: true }),
      usage: 10_000_000,
      quantity: 5_000,
      decision: {
        ...uncounted,
        allowed: true,
        reason: 'entitled',
        type: 'metered',
        limit: null,
        usage: 10_000_000,
        balance: null,
        unlimited: true,
        overage: 'block',
        resetsAt: monthEnd,
      },
    },
    {
      name: 'gauge at its cap: limit_reached, nothing resets',
      entitlement: buildEntitlement({ feature: 'seats', type: 'gauge', limit: 5, reset: null }),
      usage: 5,
      quantity: 1,
      decision: {
        ...uncounted,
        feature: 'seats',
        allowed: false,
        reason: 'limit_reached',
        type: 'gauge',
        limit: 5,
        usage: 5,
        balance: 0,
        overage: 'block',
      },
    },
    {
      name: 'boolean: entitled, usage is ignored',
      entitlement: buildEntitlement({ feature: 'sso', type: 'boolean', limit: null, reset: null, overage: null }),
      usage: 99,
      quantity: 50,
      decision: { ...uncounted, feature: 'sso', allowed: true, reason: 'entitled', type: 'boolean' },
    },
    {
      name: 'config: entitled, with the value',
      entitlement: buildEntitlement({
        feature: 'support_tier',
        type: 'config',
        limit: null,
        reset: null,
        overage: null,
        value: 'chat',
      }),
      usage: 3,
      quantity: 1,
      decision: {
        ...uncounted,
        feature: 'support_tier',
        allowed: true,
        reason: 'entitled',
        type: 'config',
        value: 'chat',
      },
    },
    {
      name: 'no_entitlement',
      entitlement: denied('no_entitlement'),
      usage: 10,
      quantity: 1,
      decision: { ...uncounted, allowed: false, reason: 'no_entitlement', type: 'metered', usage: 10 },
    },
    {
      name: 'a disabled entitlement without a denial is no_entitlement',
      entitlement: denied(null, 'boolean'),
      usage: 0,
      quantity: 1,
      decision: { ...uncounted, allowed: false, reason: 'no_entitlement', type: 'boolean' },
    },
    {
      name: 'feature_disabled',
      entitlement: denied('feature_disabled'),
      usage: 0,
      quantity: 1,
      decision: { ...uncounted, allowed: false, reason: 'feature_disabled', type: 'metered', usage: 0 },
    },
    {
      name: 'subscription_inactive',
      entitlement: denied('subscription_inactive', 'boolean'),
      usage: 0,
      quantity: 1,
      decision: { ...uncounted, allowed: false, reason: 'subscription_inactive', type: 'boolean' },
    },
  ];

  it.each(cases)('$name', ({ entitlement, usage, quantity, decision }) => {
    expect(decideFor({ entitlement, usage, quantity })).toEqual(decision);
  });

  it('covers every reason', () => {
    const seen = new Set([
      ...cases.map((c) => decideFor(c).reason),
      unknownDecision({ customer: 'x', feature: 'y', reason: 'unknown_customer' }).reason,
      unknownDecision({ customer: 'x', feature: 'y', reason: 'unknown_feature' }).reason,
    ]);
    expect([...seen].sort()).toEqual([...Reasons].sort());
  });
});

describe('decide: resetsAt', () => {
  const billing: BillingAnchor = { anchor: utc('2026-05-20T09:00:00Z'), interval: 'month' };
  const cases: { reset: Reset | null; window?: string; billing?: BillingAnchor; resetsAt: string | null }[] = [
    { reset: 'day', resetsAt: '2026-06-16T00:00:00.000Z' },
    { reset: 'week', resetsAt: '2026-06-22T00:00:00.000Z' },
    { reset: 'month', resetsAt: '2026-07-01T00:00:00.000Z' },
    { reset: 'year', resetsAt: '2027-01-01T00:00:00.000Z' },
    { reset: 'billing_period', billing, resetsAt: '2026-06-20T09:00:00.000Z' },
    { reset: 'billing_period', resetsAt: null },
    { reset: 'never', billing, resetsAt: null },
    { reset: null, window: '5h', billing, resetsAt: null },
  ];
  it.each(cases)('$reset (window $window) → $resetsAt', ({ reset, window, billing, resetsAt }) => {
    const entitlement = buildEntitlement({ reset, window: window ?? null, billing: billing ?? null });
    const decision = decideFor({ entitlement });
    expect(decision.resetsAt === null ? null : new Date(decision.resetsAt).toISOString()).toBe(resetsAt);
  });

  it('reports no reset for a denied entitlement', () => {
    expect(decideFor({ entitlement: buildEntitlement({ enabled: false, denial: 'no_entitlement' }) }).resetsAt).toBe(
      null,
    );
  });
});

describe('unknownDecision', () => {
  it.each(['unknown_customer', 'unknown_feature'] as const)('%s', (reason) => {
    expect(unknownDecision({ customer: 'cus_ghost', feature: 'teleport', reason })).toEqual({
      ...uncounted,
      customer: 'cus_ghost',
      feature: 'teleport',
      allowed: false,
      reason,
      type: null,
    });
  });
});

describe('decide: upgrade suggestions', () => {
  const term = buildPlanEntitlement;
  const monthly = (amount: number) => ({ amount, currency: 'usd', interval: 'month' as const });
  const catalog = buildCatalog({
    features: [buildFeature({ key: 'sso' }), buildFeature({ type: 'metered', key: 'api_calls' })],
    planVersions: [
      buildPlan({
        key: 'free',
        name: 'Free',
        price: monthly(0),
        entitlements: [term({ feature: 'api_calls', limit: 100 })],
      }),
      buildPlan({
        key: 'sso_addon',
        name: 'SSO',
        kind: 'addon',
        price: monthly(300),
        entitlements: [term({ feature: 'sso' })],
      }),
      buildPlan({
        key: 'extra_calls',
        name: 'Extra calls',
        kind: 'addon',
        price: monthly(500),
        entitlements: [term({ feature: 'api_calls', limit: 500 })],
      }),
      buildPlan({
        key: 'starter',
        name: 'Starter',
        price: monthly(900),
        entitlements: [term({ feature: 'sso' }), term({ feature: 'api_calls', limit: 500 })],
      }),
      buildPlan({
        key: 'pro',
        name: 'Pro',
        price: monthly(2000),
        entitlements: [term({ feature: 'sso' }), term({ feature: 'api_calls', limit: 1000 })],
      }),
      buildPlan({
        key: 'business',
        name: 'Business',
        price: { amount: 36_000, currency: 'usd', interval: 'year' },
        entitlements: [term({ feature: 'sso' }), term({ feature: 'api_calls', limit: 10_000 })],
      }),
      buildPlan({
        key: 'scale',
        name: 'Scale',
        price: monthly(5000),
        entitlements: [term({ feature: 'api_calls', limit: 2000, overage: 'allow' })],
      }),
      buildPlan({
        key: 'enterprise',
        name: 'Enterprise',
        price: null,
        entitlements: [term({ feature: 'sso' }), term({ feature: 'api_calls', limit: null })],
      }),
      buildPlan({ key: 'draft', status: 'draft', price: monthly(1), entitlements: [term({ feature: 'sso' })] }),
    ],
  });

  function suggested(input: {
    entitlement: Entitlement;
    currentPlanKey: string | null;
    usage?: number;
    quantity?: number;
  }): string[] | null {
    const decision = decide({
      customer: 'cus_acme',
      entitlement: input.entitlement,
      usage: input.usage ?? 0,
      quantity: input.quantity ?? 1,
      now,
      upgrades: {
        candidates: catalog.upgradeCandidates.get(input.entitlement.feature) ?? [],
        currentPlanKey: input.currentPlanKey,
      },
    });
    return decision.upgrade ? decision.upgrade.plans.map((plan) => plan.key) : null;
  }

  const noSso = { ...denied('no_entitlement', 'boolean'), feature: 'sso' };
  const proCalls = buildEntitlement({ limit: 1000 });

  it('names each plan by key, name, kind and price', () => {
    const decision = decide({
      customer: 'cus_acme',
      entitlement: noSso,
      usage: 0,
      quantity: 1,
      now,
      upgrades: { candidates: catalog.upgradeCandidates.get('sso') ?? [], currentPlanKey: 'free' },
    });
    expect(decision.upgrade).toEqual({
      plans: [
        { key: 'sso_addon', name: 'SSO', kind: 'addon', price: monthly(300) },
        { key: 'starter', name: 'Starter', kind: 'base', price: monthly(900) },
        { key: 'pro', name: 'Pro', kind: 'base', price: monthly(2000) },
      ],
    });
  });

  it.each([
    {
      name: 'cheapest first, at most 3',
      entitlement: noSso,
      currentPlanKey: 'free',
      plans: ['sso_addon', 'starter', 'pro'],
    },
    {
      name: 'never the current plan',
      entitlement: noSso,
      currentPlanKey: 'starter',
      plans: ['sso_addon', 'pro', 'business'],
    },
    {
      name: 'no add-ons without a current plan to add them to',
      entitlement: noSso,
      currentPlanKey: null,
      plans: ['starter', 'pro', 'business'],
    },
    {
      name: 'a yearly price ranks by its monthly equivalent, an unpriced plan last',
      entitlement: noSso,
      currentPlanKey: 'pro',
      plans: ['sso_addon', 'starter', 'business'],
    },
    {
      name: 'limit reached: base plans whose own limit covers the need, add-ons that cover the gap',
      entitlement: proCalls,
      currentPlanKey: 'pro',
      usage: 1000,
      quantity: 1,
      plans: ['extra_calls', 'business', 'scale'],
    },
    {
      name: 'limit reached by a large quantity: overage-allowed and unlimited plans qualify',
      entitlement: proCalls,
      currentPlanKey: 'pro',
      usage: 1000,
      quantity: 5000,
      plans: ['business', 'scale', 'enterprise'],
    },
    {
      name: 'limit reached beyond every capped plan',
      entitlement: proCalls,
      currentPlanKey: 'pro',
      usage: 1000,
      quantity: 20_000,
      plans: ['scale', 'enterprise'],
    },
    {
      name: 'no entitlement, no subscription: the cheapest base plans with enough',
      entitlement: denied('no_entitlement'),
      currentPlanKey: null,
      usage: 0,
      quantity: 300,
      plans: ['starter', 'pro', 'business'],
    },
    {
      name: 'an inactive subscription is offered plans too',
      entitlement: { ...denied('subscription_inactive', 'boolean'), feature: 'sso' },
      currentPlanKey: 'pro',
      plans: ['sso_addon', 'starter', 'business'],
    },
  ])('$name', ({ entitlement, currentPlanKey, usage, quantity, plans }) => {
    expect(suggested({ entitlement, currentPlanKey, usage, quantity })).toEqual(plans);
  });

  it.each([
    { name: 'allowed', entitlement: proCalls, usage: 10, currentPlanKey: 'pro' },
    {
      name: 'feature_disabled',
      entitlement: { ...denied('feature_disabled', 'boolean'), feature: 'sso' },
      currentPlanKey: 'free',
    },
    {
      name: 'no plan would allow it',
      entitlement: buildEntitlement({ feature: 'seats', type: 'gauge' }),
      usage: 5000,
      currentPlanKey: 'pro',
    },
  ])('null when $name', ({ entitlement, usage, currentPlanKey }) => {
    expect(suggested({ entitlement, currentPlanKey, usage })).toBeNull();
  });

  it('null when no upgrade options are handed in', () => {
    expect(decideFor({ entitlement: noSso }).upgrade).toBeNull();
  });
});

describe('exceedsAllowance: the limit test decide and the SDK share', () => {
  const cases: [limit: number, credits: number, usage: number, quantity: number, exceeds: boolean][] = [
    [10, 0, 7, 3, false],
    [10, 0, 7, 4, true],
    [10, 0, 11, 0, true],
    [10, 5, 12, 6, true],
    [10, 5, 12, 5, false],
    [10, 5, 7, 8, false],
    [10, 5, 7, 9, true],
  ];
  for (const [limit, credits, usage, quantity, exceeds] of cases) {
    it(`limit ${limit}, credits ${credits}, usage ${usage}, quantity ${quantity}: ${exceeds}`, () => {
      expect(exceedsAllowance(limit, credits, usage, quantity)).toBe(exceeds);
      const entitlement = buildEntitlement({ limit, credits });
      expect(decide({ customer: 'cus_acme', entitlement, usage, quantity, now }).allowed).toBe(!exceeds);
    });
  }
});
