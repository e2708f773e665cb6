import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../catalog/catalog.js';
import {
  buildFeature,
  buildGrant,
  buildPlan,
  buildPlanEntitlement,
  buildState,
  buildSubscription,
  testNow,
  utc,
} from '../test-builders.js';
import { planRelation, previewPlanChange, standingSubscription } from './plan-change.js';

const sso = buildFeature({ key: 'sso' });
const audit = buildFeature({ key: 'audit_log' });
const starter = buildPlan({
  key: 'starter',
  name: 'Starter',
  price: { amount: 1000, currency: 'usd', interval: 'month' },
  entitlements: [buildPlanEntitlement({ feature: 'audit_log' })],
});
const pro = buildPlan({
  key: 'pro',
  price: { amount: 5000, currency: 'usd', interval: 'month' },
  entitlements: [buildPlanEntitlement({ feature: 'sso' }), buildPlanEntitlement({ feature: 'audit_log' })],
});
const yearly = buildPlan({
  key: 'yearly_starter',
  price: { amount: 9600, currency: 'usd', interval: 'year' },
  entitlements: [],
});
const catalog = buildCatalog({ features: [sso, audit], planVersions: [starter, pro, yearly] });

describe('planRelation', () => {
  it('ranks by monthly-equivalent price: the same plan is current, a dearer or equal one an upgrade', () => {
    expect(planRelation({ current: pro, plan: pro })).toBe('current');
    expect(planRelation({ current: starter, plan: pro })).toBe('upgrade');
    expect(planRelation({ current: pro, plan: starter })).toBe('downgrade');
    // 9,600 a year is 800 a month: below Starter's 1,000.
    expect(planRelation({ current: starter, plan: yearly })).toBe('downgrade');
    expect(planRelation({ current: undefined, plan: starter })).toBe('upgrade');
  });
});

describe('previewPlanChange', () => {
  it('takes an upgrade now, with what the customer gains', () => {
    const state = buildState({ subscription: buildSubscription({ planKey: 'starter' }) });
    const preview = previewPlanChange({ catalog, state, target: pro, now: testNow });
    expect(preview).toMatchObject({ relation: 'upgrade', when: 'now', at: testNow });
    expect(preview.changes).toEqual({ gained: ['sso'], lost: [], changed: [] });
  });

  it('takes a downgrade at period end unless told, with what the customer loses', () => {
    const state = buildState({ subscription: buildSubscription({ planKey: 'pro' }) });
    const preview = previewPlanChange({ catalog, state, target: starter, now: testNow });
    expect(preview).toMatchObject({ relation: 'downgrade', when: 'period_end', at: utc('2026-07-01T00:00:00Z') });
    expect(preview.changes.lost).toEqual(['sso']);
    expect(previewPlanChange({ catalog, state, target: starter, when: 'now', now: testNow }).at).toBe(testNow);
  });

  it("keeps the customer's grants in both resolutions: a granted feature is not a gain", () => {
    const state = buildState({
      subscription: buildSubscription({ planKey: 'starter' }),
      grants: [buildGrant({ feature: 'sso', enabled: true })],
    });
    expect(previewPlanChange({ catalog, state, target: pro, now: testNow }).changes.gained).toEqual([]);
  });

  it('previews a customer without a standing subscription as subscribing now', () => {
    const ended = buildSubscription({ planKey: 'pro', status: 'canceled', canceledAt: utc('2026-06-02T00:00:00Z') });
    expect(standingSubscription(ended, testNow)).toBeNull();
    const preview = previewPlanChange({
      catalog,
      state: buildState({ subscription: ended }),
      target: starter,
      now: testNow,
    });
    expect(preview).toMatchObject({ relation: 'upgrade', when: 'now', at: testNow, current: undefined });
    expect(preview.changes.gained).toEqual(['audit_log']);
  });
});
