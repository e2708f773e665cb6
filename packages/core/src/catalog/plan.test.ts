import { describe, expect, it } from 'vitest';
import type { FieldError } from '../errors.js';
import { buildFeature, buildPlan } from '../test-builders.js';
import type { Feature } from './feature.js';
import { monthlyPrice, type PlanEntitlementInput, parseWindow, validatePlan } from './plan.js';

const problem = (path: string, fragment: string): FieldError => ({ path, message: expect.stringContaining(fragment) });

const features: ReadonlyMap<string, Feature> = new Map<string, Feature>(
  [
    buildFeature({ key: 'sso' }),
    buildFeature({ type: 'metered', key: 'api_calls' }),
    buildFeature({ type: 'gauge', key: 'seats' }),
    buildFeature({ type: 'config', key: 'support_tier', options: ['email', 'chat', 'phone'] }),
    buildFeature({ type: 'config', key: 'theme', options: null }),
  ].map((feature) => [feature.key, feature]),
);

/** A plan term as a user writes it: only `feature` and what the case is about. */
function term(input: Partial<PlanEntitlementInput> & { feature: string }): PlanEntitlementInput {
  return { enabled: true, reset: null, window: null, overage: 'block', value: null, ...input };
}

function validate(entitlements: PlanEntitlementInput[], overrides: Parameters<typeof buildPlan>[0] = {}) {
  return validatePlan({ plan: { ...buildPlan(overrides), entitlements }, features });
}

describe('validatePlan', () => {
  const cases: { name: string; entitlements: PlanEntitlementInput[]; errors: FieldError[] }[] = [
    {
      name: 'a valid plan of every feature type',
      entitlements: [
        term({ feature: 'sso' }),
        term({ feature: 'api_calls', limit: 1000, reset: 'month' }),
        term({ feature: 'seats', limit: null }),
        term({ feature: 'support_tier', value: 'chat' }),
        term({ feature: 'theme', value: { dark: true } }),
      ],
      errors: [],
    },
    {
      name: 'an unknown feature',
      entitlements: [term({ feature: 'sso' }), term({ feature: 'teleport' })],
      errors: [problem('/entitlements/1/feature', 'unknown feature "teleport"')],
    },
    {
      name: 'a feature listed twice',
      entitlements: [term({ feature: 'sso' }), term({ feature: 'seats', limit: 3 }), term({ feature: 'sso' })],
      errors: [problem('/entitlements/2/feature', 'listed twice')],
    },
    {
      name: 'a limit on a boolean feature',
      entitlements: [term({ feature: 'sso', limit: 10 })],
      errors: [problem('/entitlements/0/limit', 'a boolean feature has no limit')],
    },
    {
      name: 'a null limit on a boolean feature (means nothing, allowed)',
      entitlements: [term({ feature: 'sso', limit: null })],
      errors: [],
    },
    {
      name: 'a limit on a config feature',
      entitlements: [term({ feature: 'support_tier', value: 'chat', limit: 1 })],
      errors: [problem('/entitlements/0/limit', 'a config feature has no limit')],
    },
    {
      name: 'a negative limit',
      entitlements: [term({ feature: 'api_calls', limit: -1 })],
      errors: [problem('/entitlements/0/limit', 'non-negative integer')],
    },
    {
      name: 'a fractional limit',
      entitlements: [term({ feature: 'seats', limit: 2.5 })],
      errors: [problem('/entitlements/0/limit', 'non-negative integer')],
    },
    {
      name: 'a zero limit',
      entitlements: [term({ feature: 'seats', limit: 0 })],
      errors: [],
    },
    {
      name: 'a missing limit on a metered feature',
      entitlements: [term({ feature: 'api_calls' })],
      errors: [problem('/entitlements/0/limit', 'is required')],
    },
    {
      name: 'a missing limit on a gauge feature',
      entitlements: [term({ feature: 'sso' }), term({ feature: 'seats' })],
      errors: [problem('/entitlements/1/limit', 'is required')],
    },
    {
      name: 'a missing limit on a disabled metered term (nothing to limit)',
      entitlements: [term({ feature: 'api_calls', enabled: false })],
      errors: [],
    },
    {
      name: 'a reset on a gauge',
      entitlements: [term({ feature: 'seats', limit: 5, reset: 'month' })],
      errors: [problem('/entitlements/0/reset', 'only metered features reset')],
    },
    {
      name: 'a window on a boolean',
      entitlements: [term({ feature: 'sso', window: '5h' })],
      errors: [problem('/entitlements/0/window', 'only metered features reset')],
    },
    {
      name: 'both a reset and a window',
      entitlements: [term({ feature: 'api_calls', limit: 100, reset: 'day', window: '5h' })],
      errors: [problem('/entitlements/0/window', 'either reset or window')],
    },
    {
      name: 'a rolling window alone',
      entitlements: [term({ feature: 'api_calls', limit: 100, window: '5h' })],
      errors: [],
    },
    {
      name: 'a malformed window',
      entitlements: [term({ feature: 'api_calls', limit: 100, window: '5 hours' })],
      errors: [problem('/entitlements/0/window', 'must be a duration')],
    },
    {
      name: 'a config value outside the options',
      entitlements: [term({ feature: 'support_tier', value: 'pager' })],
      errors: [problem('/entitlements/0/value', 'must be one of ["email","chat","phone"]')],
    },
    {
      name: 'a config feature without a value',
      entitlements: [term({ feature: 'support_tier' })],
      errors: [problem('/entitlements/0/value', 'needs a value')],
    },
    {
      name: 'a disabled config term without a value',
      entitlements: [term({ feature: 'support_tier', enabled: false })],
      errors: [],
    },
    {
      name: 'a value on a metered feature',
      entitlements: [term({ feature: 'api_calls', limit: 1, value: 5 })],
      errors: [problem('/entitlements/0/value', 'a metered feature has no value')],
    },
    {
      name: 'every problem of every term at once',
      entitlements: [
        term({ feature: 'nope' }),
        term({ feature: 'seats', limit: -3, reset: 'week', window: '1x' }),
        term({ feature: 'support_tier', value: 'pager' }),
      ],
      errors: [
        problem('/entitlements/0/feature', 'unknown feature'),
        problem('/entitlements/1/limit', 'non-negative integer'),
        problem('/entitlements/1/reset', 'only metered features reset'),
        problem('/entitlements/1/window', 'either reset or window'),
        problem('/entitlements/1/window', 'must be a duration'),
        problem('/entitlements/2/value', 'must be one of'),
      ],
    },
  ];

  it.each(cases)('$name', ({ entitlements, errors }) => {
    expect(validate(entitlements)).toEqual(errors);
  });

  it('checks the plan key and price', () => {
    expect(validate([], { key: 'Pro Plan', price: { amount: -100, currency: 'usd', interval: 'month' } })).toEqual([
      problem('/key', 'slug'),
      problem('/price/amount', 'must not be negative'),
    ]);
  });
});

describe('parseWindow', () => {
  it.each([
    ['30m', 30 * 60_000],
    ['5h', 5 * 3_600_000],
    ['7d', 7 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['1m', 60_000],
    ['0h', null],
    ['05h', null],
    ['5', null],
    ['h', null],
    ['5H', null],
    ['5 h', null],
    ['1.5h', null],
    ['5y', null],
    ['', null],
  ])('%j → %s ms', (window, ms) => {
    expect(parseWindow(window)).toBe(ms);
  });
});

describe('monthlyPrice', () => {
  it.each([
    [{ amount: 2000, currency: 'usd', interval: 'month' } as const, 2000],
    [{ amount: 24000, currency: 'usd', interval: 'year' } as const, 2000],
    [{ amount: 1000, currency: 'usd', interval: 'year' } as const, 1000 / 12],
    [{ amount: 0, currency: 'usd', interval: 'month' } as const, 0],
    [null, Number.POSITIVE_INFINITY],
  ])('%j → %s', (price, monthly) => {
    expect(monthlyPrice(price)).toBe(monthly);
  });
});
