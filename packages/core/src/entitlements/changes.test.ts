import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../catalog/catalog.js';
import {
  buildCustomer,
  buildFeature,
  buildGrant,
  buildPlan,
  buildPlanEntitlement,
  buildSubscription,
  testNow,
} from '../test-builders.js';
import { entitlementChanges, entitlementTerms } from './changes.js';
import { resolve } from './resolve.js';

const term = buildPlanEntitlement;
const features = [
  buildFeature({ key: 'sso' }),
  buildFeature({ key: 'audit_log' }),
  buildFeature({ type: 'metered', key: 'api_calls' }),
  buildFeature({ type: 'gauge', key: 'seats' }),
  buildFeature({ type: 'config', key: 'support_tier', options: ['email', 'chat'] }),
];
const v1 = buildPlan({
  key: 'pro',
  version: 1,
  entitlements: [
    term({ feature: 'sso' }),
    term({ feature: 'api_calls', limit: 1000, reset: 'month' }),
    term({ feature: 'seats', limit: 10 }),
    term({ feature: 'support_tier', value: 'email' }),
  ],
});
const v2 = buildPlan({
  key: 'pro',
  version: 2,
  entitlements: [
    term({ feature: 'audit_log' }),
    term({ feature: 'api_calls', limit: 1000, reset: 'month' }),
    term({ feature: 'seats', limit: 5 }),
    term({ feature: 'support_tier', value: 'chat' }),
  ],
});
const catalog = buildCatalog({ features, planVersions: [v1, v2] });

function changesFor(grants = [] as ReturnType<typeof buildGrant>[]) {
  const state = (version: number) => ({
    customer: buildCustomer(),
    subscription: buildSubscription({ planKey: 'pro', planVersion: version }),
    grants,
  });
  return entitlementChanges({
    before: resolve({ catalog, state: state(1), now: testNow }),
    after: resolve({ catalog, state: state(2), now: testNow }),
  });
}

describe('entitlementChanges', () => {
  it('lists what a customer gains, loses and sees changed, feature by feature', () => {
    expect(changesFor()).toEqual({
      gained: ['audit_log'],
      lost: ['sso'],
      changed: [
        {
          feature: 'seats',
          before: { enabled: true, limit: 10, value: null },
          after: { enabled: true, limit: 5, value: null },
        },
        {
          feature: 'support_tier',
          before: { enabled: true, limit: null, value: 'email' },
          after: { enabled: true, limit: null, value: 'chat' },
        },
      ],
    });
  });

  it("counts the customer's own grants: a feature granted to them is not lost", () => {
    const grant = buildGrant({ feature: 'sso', enabled: true, createdAt: testNow - 1 });
    expect(changesFor([grant]).lost).toEqual([]);
  });
});

describe('entitlementTerms', () => {
  it('lists every feature with its terms, in key order', () => {
    const resolved = resolve({
      catalog,
      state: {
        customer: buildCustomer(),
        subscription: buildSubscription({ planKey: 'pro', planVersion: 1 }),
        grants: [],
      },
      now: testNow,
    });
    const terms = entitlementTerms(resolved);
    expect(Object.keys(terms)).toEqual(['api_calls', 'audit_log', 'seats', 'sso', 'support_tier']);
    expect(terms).toMatchObject({
      api_calls: { enabled: true, limit: 1000 },
      audit_log: { enabled: false },
      seats: { enabled: true, limit: 10 },
      support_tier: { enabled: true, value: 'email' },
    });
  });
});
