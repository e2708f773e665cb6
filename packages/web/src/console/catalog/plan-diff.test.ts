import type { Plan } from '@keymaster/contract';
import { describe, expect, it } from 'vitest';
import { describeTerms, diffEntitlements, diffPlanFields, type PlanTerm } from './plan-diff';

const term = (overrides: Partial<PlanTerm> & { feature: string }): PlanTerm => ({
  enabled: true,
  limit: null,
  reset: null,
  window: null,
  overage: 'block',
  value: null,
  ...overrides,
});

const plan = (overrides: Partial<Plan>): Plan => ({
  id: 'plv_1',
  key: 'pro',
  version: 1,
  status: 'published',
  name: 'Pro',
  description: null,
  kind: 'base',
  price: { amount: 4900, currency: 'usd', interval: 'month' },
  trial_days: null,
  stripe_product: null,
  entitlements: [],
  latest_version: 2,
  published_version: 1,
  created_at: '2026-01-01T00:00:00.000Z',
  published_at: '2026-01-01T00:00:00.000Z',
  archived_at: null,
  ...overrides,
});

describe('plan version diff', () => {
  it('lists added, removed and changed features by key, and leaves out the unchanged', () => {
    const v1 = [
      term({ feature: 'sso' }),
      term({ feature: 'api_calls', limit: 1000, reset: 'month' }),
      term({ feature: 'audit_log' }),
      term({ feature: 'tier', value: { level: 1, name: 'basic' } }),
    ];
    const v2 = [
      term({ feature: 'tier', value: { name: 'basic', level: 1 } }),
      term({ feature: 'api_calls', limit: 5000, reset: 'month', overage: 'allow' }),
      term({ feature: 'sso' }),
      term({ feature: 'exports' }),
    ];
    const changes = diffEntitlements(v1, v2);
    expect(changes.map(({ feature, kind, fields }) => ({ feature, kind, fields }))).toEqual([
      { feature: 'api_calls', kind: 'changed', fields: ['limit', 'overage'] },
      { feature: 'audit_log', kind: 'removed', fields: ['enabled', 'limit', 'reset', 'window', 'overage', 'value'] },
      { feature: 'exports', kind: 'added', fields: ['enabled', 'limit', 'reset', 'window', 'overage', 'value'] },
    ]);
    expect(changes[0]?.from?.limit).toBe(1000);
    expect(changes[0]?.to?.limit).toBe(5000);
  });

  it('counts a feature switched off as changed, not removed', () => {
    expect(diffEntitlements([term({ feature: 'sso' })], [term({ feature: 'sso', enabled: false })])).toMatchObject([
      { feature: 'sso', kind: 'changed', fields: ['enabled'] },
    ]);
  });

  it('says the plan-wide fields that changed', () => {
    const v1 = plan({});
    const v2 = plan({ version: 2, price: { amount: 5900, currency: 'usd', interval: 'month' }, trial_days: 14 });
    expect(diffPlanFields(v1, v2)).toEqual([
      { label: 'Price', from: '$49.00 / month', to: '$59.00 / month' },
      { label: 'Trial', from: 'none', to: '14 days' },
    ]);
    expect(diffPlanFields(v1, plan({ version: 2 }))).toEqual([]);
  });

  it('describes terms in a few words', () => {
    expect(describeTerms(term({ feature: 'sso' }))).toBe('on');
    expect(describeTerms(term({ feature: 'api_calls', limit: 1000, reset: 'month' }))).toBe(
      'on, limit 1,000, resets monthly',
    );
    expect(describeTerms(term({ feature: 'seats', limit: 5, overage: 'allow' }))).toBe('on, limit 5, overage allowed');
    expect(describeTerms(term({ feature: 'x', enabled: false, limit: 3 }))).toBe('off');
  });
});
