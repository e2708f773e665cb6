import { describe, expect, it } from 'vitest';
import { buildFeature, buildPlan, buildPlanEntitlement } from '../test-builders.js';
import { buildCatalog } from './catalog.js';

const sso = buildPlanEntitlement({ feature: 'sso' });

describe('buildCatalog', () => {
  const catalog = buildCatalog({
    features: [
      buildFeature({ key: 'sso' }),
      buildFeature({ key: 'beta', targeting: { if: [true, 'on', null] } }),
      buildFeature({ key: 'broken', targeting: { frobnicate: [1] } }),
    ],
    planVersions: [
      buildPlan({ key: 'pro', version: 1, status: 'archived', entitlements: [sso] }),
      buildPlan({ key: 'pro', version: 2, status: 'published', entitlements: [sso] }),
      buildPlan({ key: 'pro', version: 3, status: 'draft', entitlements: [sso] }),
      buildPlan({ key: 'legacy', version: 1, status: 'archived', entitlements: [sso] }),
      buildPlan({ key: 'team', version: 4, status: 'published', entitlements: [sso] }),
      buildPlan({ key: 'team', version: 2, status: 'published', entitlements: [sso] }),
    ],
  });

  it('offers the newest published version of each plan to new subscriptions', () => {
    expect([...catalog.latestPublished.entries()].map(([key, plan]) => [key, plan.version])).toEqual([
      ['pro', 2],
      ['team', 4],
    ]);
  });

  it('keeps archived versions resolvable for their subscribers but never drafts', () => {
    expect(catalog.planVersion('pro', 1)?.status).toBe('archived');
    expect(catalog.planVersion('legacy', 1)?.status).toBe('archived');
    expect(catalog.planVersion('pro', 2)?.status).toBe('published');
    expect(catalog.planVersion('pro', 3)).toBeUndefined();
    expect(catalog.planVersion('pro', 9)).toBeUndefined();
  });

  it('compiles targeting rules and drops the ones that no longer compile', () => {
    expect([...catalog.targeting.keys()]).toEqual(['beta']);
    expect(catalog.targeting.get('beta')?.evaluate({})).toBe(true);
    expect(catalog.features.has('broken')).toBe(true);
  });

  it('indexes upgrade candidates per feature from the latest published versions, cheapest first', () => {
    const plans = buildCatalog({
      features: [buildFeature({ key: 'sso' })],
      planVersions: [
        buildPlan({ key: 'unpriced', price: null, entitlements: [sso] }),
        buildPlan({ key: 'monthly', price: { amount: 2000, currency: 'usd', interval: 'month' }, entitlements: [sso] }),
        buildPlan({ key: 'yearly', price: { amount: 12000, currency: 'usd', interval: 'year' }, entitlements: [sso] }),
        buildPlan({ key: 'off', price: { amount: 0, currency: 'usd', interval: 'month' }, entitlements: [] }),
        buildPlan({
          key: 'disabled',
          price: { amount: 0, currency: 'usd', interval: 'month' },
          entitlements: [{ ...sso, enabled: false }],
        }),
        buildPlan({ key: 'draft', status: 'draft', price: null, entitlements: [sso] }),
      ],
    });
    expect(plans.upgradeCandidates.get('sso')?.map((c) => [c.plan.key, c.monthlyPrice])).toEqual([
      ['yearly', 1000],
      ['monthly', 2000],
      ['unpriced', Number.POSITIVE_INFINITY],
    ]);
  });
});
