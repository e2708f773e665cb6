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
import { decisionProvenance } from './provenance.js';
import { resolve } from './resolve.js';

const day = 86_400_000;
const calls = buildFeature({ type: 'metered', key: 'api_calls' });
const plan = buildPlan({
  key: 'pro',
  version: 3,
  entitlements: [buildPlanEntitlement({ feature: 'api_calls', limit: 1000, reset: 'month' })],
});

function provenance(input: { feature?: typeof calls; grants?: ReturnType<typeof buildGrant>[] }) {
  const feature = input.feature ?? calls;
  const catalog = buildCatalog({ features: [feature], planVersions: [plan] });
  const grants = input.grants ?? [];
  const resolved = resolve({
    catalog,
    state: { customer: buildCustomer(), subscription: buildSubscription({ planKey: 'pro', planVersion: 3 }), grants },
    now: testNow,
  });
  return decisionProvenance({
    feature,
    resolved,
    entitlement: resolved.entitlements.get(feature.key) ?? null,
    grants,
    now: testNow,
  });
}

describe('decisionProvenance', () => {
  it('names the plan and its version when the plan decided', () => {
    expect(provenance({})).toEqual({
      source: 'plan',
      plan: { key: 'pro', version: 3 },
      grants: [],
      targeting: false,
      denial: null,
    });
  });

  it('names the active grants on the feature, not expired ones nor other features', () => {
    const override = buildGrant({ id: 'grt_override', feature: 'api_calls', mode: 'override', limit: 5 });
    const expired = buildGrant({
      id: 'grt_old',
      feature: 'api_calls',
      mode: 'add',
      limit: 5,
      expiresAt: testNow - day,
    });
    const other = buildGrant({ id: 'grt_sso', feature: 'sso', mode: 'override', enabled: true });
    expect(provenance({ grants: [override, expired, other] })).toMatchObject({
      source: 'grant',
      grants: ['grt_override'],
    });
  });

  it('says a grant decided when an override switched the feature off', () => {
    const off = buildGrant({ id: 'grt_off', feature: 'api_calls', mode: 'override', enabled: false });
    expect(provenance({ grants: [off] })).toMatchObject({
      source: 'grant',
      grants: ['grt_off'],
      denial: 'no_entitlement',
    });
  });

  it('says the kill switch decided for a disabled feature', () => {
    expect(provenance({ feature: { ...calls, status: 'disabled' } })).toMatchObject({
      source: 'kill_switch',
      denial: 'feature_disabled',
    });
  });
});
