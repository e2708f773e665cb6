import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../catalog/catalog.js';
import { buildEntitlement, buildFeature, buildPlan, buildPlanEntitlement, testNow } from '../test-builders.js';
import { countedAs } from './counted-as.js';
import type { CustomerEntitlements, Entitlement } from './entitlement.js';

const catalog = buildCatalog({
  features: [
    buildFeature({ key: 'credits', type: 'metered' }),
    buildFeature({ key: 'gpt4', type: 'metered', creditCost: { pool: 'credits', perUnit: 5 } }),
    buildFeature({ key: 'api_calls', type: 'metered' }),
  ],
  planVersions: [
    buildPlan({
      key: 'scale',
      price: { amount: 9000, currency: 'usd', interval: 'month' },
      entitlements: [
        buildPlanEntitlement({ feature: 'credits', limit: 100_000, reset: 'month' }),
        buildPlanEntitlement({ feature: 'gpt4' }),
        buildPlanEntitlement({ feature: 'api_calls', limit: 100_000, reset: 'month' }),
      ],
    }),
  ],
});

const pool = buildEntitlement({ feature: 'credits', limit: 1_000 });
const gpt4 = buildEntitlement({ feature: 'gpt4', limit: null, unlimited: true });
const calls = buildEntitlement({ feature: 'api_calls', limit: 100 });

function resolved(...entitlements: Entitlement[]): CustomerEntitlements {
  return {
    customerId: 'cus_acme',
    planKey: 'pro',
    planVersion: 1,
    subscriptionStatus: 'active',
    entitlements: new Map(entitlements.map((e) => [e.feature, e])),
    validUntil: Number.POSITIVE_INFINITY,
  };
}

const of = (entitlement: Entitlement, all: CustomerEntitlements, upgrades = true) =>
  countedAs({ catalog, resolved: all, entitlement, customer: 'cus_acme', now: testNow, upgrades });

describe('countedAs: which counter pays for a use', () => {
  it('a feature of its own: its own counter, one unit a unit', () => {
    const counted = of(calls, resolved(calls));
    expect(counted).toMatchObject({ counter: calls, perUnit: 1, pooled: false, span: { feature: 'api_calls' } });
    expect(counted.decideAt({ usage: 100, quantity: 0 })).toMatchObject({ allowed: true, balance: 0 });
    expect(counted.decideAt({ usage: 100, quantity: 1 })).toMatchObject({
      allowed: false,
      reason: 'limit_reached',
      upgrade: { plans: [{ key: 'scale' }] },
    });
  });

  it('credits read under the lock replace the entitlement’s', () => {
    const counted = of(calls, resolved(calls));
    expect(counted.decideAt({ usage: 100, quantity: 5, credits: 5 })).toMatchObject({ allowed: true, balance: 5 });
    expect(counted.decideAt({ usage: 100, quantity: 6, credits: 5 })).toMatchObject({ allowed: false });
  });

  it('a feature drawing from a pool: the pool’s counter, at per_unit pool units a unit', () => {
    const counted = of(gpt4, resolved(gpt4, pool));
    expect(counted).toMatchObject({ entitlement: gpt4, counter: pool, perUnit: 5, pooled: true });
    expect(counted.span?.feature).toBe('credits');
    expect(counted.decideAt({ usage: 995, quantity: 1 })).toMatchObject({
      allowed: true,
      feature: 'gpt4',
      limit: 1_000,
      creditCost: { pool: 'credits', perUnit: 5 },
    });
    expect(counted.decideAt({ usage: 996, quantity: 1 })).toMatchObject({ allowed: false, reason: 'limit_reached' });
  });

  it('a drawing feature that is off counts nothing', () => {
    const off: Entitlement = { ...gpt4, enabled: false, denial: 'no_entitlement', unlimited: false };
    expect(of(off, resolved(off, pool)).span).toBeNull();
  });

  it('a drawing feature whose pool the customer lacks counts on its own', () => {
    expect(of(gpt4, resolved(gpt4))).toMatchObject({ counter: gpt4, perUnit: 1, pooled: false });
  });

  it('suggests no upgrade when asked not to (the snapshot)', () => {
    expect(of(calls, resolved(calls), false).decideAt({ usage: 100, quantity: 1 }).upgrade).toBeNull();
  });
});
