import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../catalog/catalog.js';
import { buildEntitlement, buildFeature, buildPlan, buildPlanEntitlement, testNow, utc } from '../test-builders.js';
import { decidePooled } from './decide-pooled.js';
import type { Entitlement } from './entitlement.js';

const now = testNow;
const monthEnd = utc('2026-07-01T00:00:00Z');
const term = buildPlanEntitlement;

const gpt4 = buildEntitlement({ feature: 'gpt4', limit: null, unlimited: true, reset: 'billing_period' });
const credits = buildEntitlement({ feature: 'credits', limit: 10_000, reset: 'month' });
const off = (e: Entitlement, denial: Entitlement['denial']): Entitlement => ({
  ...e,
  enabled: false,
  denial,
  limit: null,
  unlimited: false,
  reset: null,
  overage: null,
  source: null,
});

describe('decidePooled: a feature drawing from a credit pool', () => {
  const cases: {
    name: string;
    entitlement?: Entitlement;
    pool?: Entitlement;
    usage: number;
    quantity: number;
    expected: Record<string, unknown>;
  }[] = [
    {
      name: 'within the pool: the pool figures, in credits',
      usage: 2_000,
      quantity: 3,
      expected: { allowed: true, reason: 'entitled', limit: 10_000, usage: 2_000, balance: 8_000, resetsAt: monthEnd },
    },
    {
      name: 'exactly the rest of the pool (quantity × per_unit)',
      usage: 9_985,
      quantity: 3,
      expected: { allowed: true, reason: 'entitled', balance: 15 },
    },
    {
      name: 'more than the pool has left',
      usage: 9_990,
      quantity: 3,
      expected: { allowed: false, reason: 'limit_reached', balance: 10 },
    },
    {
      name: 'the pool plus one-off credits',
      pool: { ...credits, credits: 100 },
      usage: 9_990,
      quantity: 3,
      expected: { allowed: true, balance: 110 },
    },
    {
      name: 'a pool that allows overage',
      pool: { ...credits, overage: 'allow' },
      usage: 12_000,
      quantity: 3,
      expected: { allowed: true, usage: 12_000, balance: 0, overage: 'allow' },
    },
    {
      name: 'an unlimited pool',
      pool: { ...credits, limit: null, unlimited: true },
      usage: 1e9,
      quantity: 3,
      expected: { allowed: true, unlimited: true, balance: null },
    },
    {
      name: 'the feature itself not entitled: its own reason, nothing counted',
      entitlement: off(gpt4, 'no_entitlement'),
      usage: 0,
      quantity: 1,
      expected: { allowed: false, reason: 'no_entitlement', limit: null, usage: 0, balance: null },
    },
    {
      name: 'the feature killed',
      entitlement: off(gpt4, 'feature_disabled'),
      usage: 0,
      quantity: 1,
      expected: { allowed: false, reason: 'feature_disabled' },
    },
    {
      name: 'the pool killed: everything drawing from it is off',
      pool: off(credits, 'feature_disabled'),
      usage: 0,
      quantity: 1,
      expected: { allowed: false, reason: 'feature_disabled', balance: null },
    },
    {
      name: 'no pool on the plan',
      pool: off(credits, 'no_entitlement'),
      usage: 0,
      quantity: 1,
      expected: { allowed: false, reason: 'no_entitlement' },
    },
  ];
  it.each(cases)('$name', ({ entitlement, pool, usage, quantity, expected }) => {
    const decision = decidePooled({
      customer: 'cus_acme',
      entitlement: entitlement ?? gpt4,
      pool: pool ?? credits,
      perUnit: 5,
      usage,
      quantity,
      now,
    });
    expect(decision).toMatchObject({
      customer: 'cus_acme',
      feature: 'gpt4',
      type: 'metered',
      creditCost: { pool: 'credits', perUnit: 5 },
      ...expected,
    });
  });
});

describe('decidePooled: upgrades consider the pool', () => {
  const catalog = buildCatalog({
    features: [
      buildFeature({ type: 'metered', key: 'credits' }),
      buildFeature({ type: 'metered', key: 'gpt4', creditCost: { pool: 'credits', perUnit: 5 } }),
    ],
    planVersions: [
      buildPlan({
        key: 'starter',
        price: { amount: 1000, currency: 'usd', interval: 'month' },
        entitlements: [term({ feature: 'credits', limit: 10_000 }), term({ feature: 'gpt4' })],
      }),
      buildPlan({
        key: 'no_gpt4',
        price: { amount: 2000, currency: 'usd', interval: 'month' },
        entitlements: [term({ feature: 'credits', limit: 1_000_000 })],
      }),
      buildPlan({
        key: 'growth',
        price: { amount: 5000, currency: 'usd', interval: 'month' },
        entitlements: [term({ feature: 'credits', limit: 50_000 }), term({ feature: 'gpt4' })],
      }),
      buildPlan({
        key: 'scale',
        price: { amount: 9000, currency: 'usd', interval: 'month' },
        entitlements: [term({ feature: 'credits', limit: 200_000 }), term({ feature: 'gpt4' })],
      }),
      buildPlan({
        key: 'credit_pack',
        kind: 'addon',
        price: { amount: 1500, currency: 'usd', interval: 'month' },
        entitlements: [term({ feature: 'credits', limit: 20_000 })],
      }),
      buildPlan({
        key: 'gpt4_access',
        kind: 'addon',
        price: { amount: 500, currency: 'usd', interval: 'month' },
        entitlements: [term({ feature: 'gpt4' })],
      }),
    ],
  });
  const upgrades = (currentPlanKey: string | null) => ({
    candidates: catalog.upgradeCandidates.get('gpt4') ?? [],
    poolCandidates: catalog.upgradeCandidates.get('credits') ?? [],
    currentPlanKey,
  });
  const suggested = (input: { entitlement?: Entitlement; usage: number; quantity: number; plan: string | null }) =>
    decidePooled({
      customer: 'cus_acme',
      entitlement: input.entitlement ?? gpt4,
      pool: credits,
      perUnit: 5,
      usage: input.usage,
      quantity: input.quantity,
      now,
      upgrades: upgrades(input.plan),
    }).upgrade?.plans.map((p) => p.key) ?? null;

  it('a pool that ran out: larger pools that also have the feature, and credit add-ons that cover it', () => {
    // 10,000 used + 3 × 5 = 10,015 credits needed.
    expect(suggested({ usage: 10_000, quantity: 3, plan: 'starter' })).toEqual(['credit_pack', 'growth', 'scale']);
  });

  it('a need beyond every add-on: only base plans with a pool that large', () => {
    expect(suggested({ usage: 10_000, quantity: 20_000, plan: 'starter' })).toEqual(['scale']);
  });

  it('no access to the feature: plans or add-ons granting it, with enough in the pool', () => {
    expect(suggested({ entitlement: off(gpt4, 'no_entitlement'), usage: 0, quantity: 1, plan: 'no_gpt4' })).toEqual([
      'gpt4_access',
      'starter',
      'growth',
    ]);
  });

  it('never suggests add-ons to a customer without a plan, nor anything when nothing covers it', () => {
    expect(suggested({ entitlement: off(gpt4, 'no_entitlement'), usage: 0, quantity: 1, plan: null })).toEqual([
      'starter',
      'growth',
      'scale',
    ]);
    expect(suggested({ usage: 0, quantity: 1_000_000, plan: 'starter' })).toBeNull();
  });
});
