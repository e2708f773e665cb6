import { describe, expect, it } from 'vitest';
import type { FieldError } from '../errors.js';
import { buildFeature } from '../test-builders.js';
import {
  defaultVariants,
  type Feature,
  isAllowedConfigValue,
  isQuantityType,
  validateFeature,
  validateKey,
} from './feature.js';

const problem = (path: string, fragment: string): FieldError => ({ path, message: expect.stringContaining(fragment) });

describe('validateKey', () => {
  it.each([
    ['api_calls', true],
    ['a', true],
    ['v2.export-csv', true],
    ['0day', true],
    ['a'.repeat(64), true],
    ['a'.repeat(65), false],
    ['', false],
    ['API_CALLS', false],
    ['_hidden', false],
    ['-dash', false],
    ['with space', false],
    ['emoji🙂', false],
  ])('%j is valid: %s', (key, valid) => {
    expect(validateKey(key, '/key')).toEqual(valid ? [] : [problem('/key', 'must be a slug')]);
  });

  it('reports the path it is given', () => {
    expect(validateKey('Bad', '/entitlements/3/feature')).toEqual([problem('/entitlements/3/feature', 'slug')]);
  });
});

describe('validateFeature', () => {
  const cases: { name: string; feature: Feature; errors: FieldError[] }[] = [
    { name: 'a plain boolean', feature: buildFeature({ key: 'sso' }), errors: [] },
    { name: 'a bad key', feature: buildFeature({ key: '_sso' }), errors: [problem('/key', 'letters, digits')] },
    { name: 'a camelCase key (flag keys are)', feature: buildFeature({ key: 'newCheckout' }), errors: [] },
    {
      name: 'a config feature with an empty options list',
      feature: buildFeature({ type: 'config', key: 'tier', options: [] }),
      errors: [problem('/options', 'at least one option')],
    },
    {
      name: 'a config feature without options (any value)',
      feature: buildFeature({ type: 'config', key: 'tier', options: null }),
      errors: [],
    },
    {
      name: 'a credit cost drawing from the feature itself',
      feature: buildFeature({ type: 'metered', key: 'credits', creditCost: { pool: 'credits', perUnit: 1 } }),
      errors: [problem('/credit_cost/pool', 'cannot draw from itself')],
    },
    {
      name: 'a credit cost of zero per unit',
      feature: buildFeature({ type: 'metered', key: 'gpt', creditCost: { pool: 'credits', perUnit: 0 } }),
      errors: [problem('/credit_cost/per_unit', 'greater than 0')],
    },
    {
      name: 'a credit cost that is not a number',
      feature: buildFeature({ type: 'metered', key: 'gpt', creditCost: { pool: 'credits', perUnit: Number.NaN } }),
      errors: [problem('/credit_cost/per_unit', 'greater than 0')],
    },
    {
      name: 'a credit cost on a max meter',
      feature: buildFeature({
        type: 'metered',
        key: 'gpt',
        meter: { eventType: 'call', aggregation: 'max', property: 'tokens', filter: null },
        creditCost: { pool: 'credits', perUnit: 1 },
      }),
      errors: [problem('/meter/aggregation', 'count or sum')],
    },
    {
      name: 'a fractional credit cost',
      feature: buildFeature({ type: 'metered', key: 'gpt', creditCost: { pool: 'credits', perUnit: 0.25 } }),
      errors: [],
    },
    {
      name: 'a sum meter without a property',
      feature: buildFeature({
        type: 'metered',
        key: 'tokens',
        meter: { eventType: 'completion', aggregation: 'sum', property: null, filter: null },
      }),
      errors: [problem('/meter/property', '"sum"')],
    },
    {
      name: 'a count meter without a property',
      feature: buildFeature({
        type: 'metered',
        key: 'calls',
        meter: { eventType: 'request', aggregation: 'count', property: null, filter: null },
      }),
      errors: [],
    },
    {
      name: 'a non-boolean variant of a boolean feature',
      feature: buildFeature({ key: 'sso', variants: { yes: true, maybe: 'perhaps' } }),
      errors: [problem('/variants/maybe', 'true or false')],
    },
    {
      name: 'metered variants: booleans and non-negative integer limits only',
      feature: buildFeature({
        type: 'metered',
        key: 'calls',
        variants: { boost: 5000, off: false, negative: -1, fraction: 1.5, text: '10' },
      }),
      errors: [
        problem('/variants/negative', 'non-negative integer'),
        problem('/variants/fraction', 'non-negative integer'),
        problem('/variants/text', 'non-negative integer'),
      ],
    },
    {
      name: 'a default variant naming a predeclared or declared variant',
      feature: buildFeature({ type: 'gauge', key: 'seats', variants: { few: 2 }, defaultVariant: 'few' }),
      errors: [],
    },
    {
      name: 'a default variant naming no variant',
      feature: buildFeature({ key: 'sso', defaultVariant: 'maybe' }),
      errors: [problem('/default_variant', 'variants')],
    },
    {
      name: 'metadata that is not flat',
      feature: buildFeature({ key: 'sso', metadata: { owner: 'growth', since: 2, nested: { a: 1 } } }),
      errors: [problem('/metadata/nested', 'string, number or boolean')],
    },
    {
      name: 'a gauge variant limit of zero',
      feature: buildFeature({ type: 'gauge', key: 'seats', variants: { none: 0 } }),
      errors: [],
    },
    {
      name: 'a config variant outside the options',
      feature: buildFeature({ type: 'config', key: 'tier', options: ['email', 'chat'], variants: { vip: 'phone' } }),
      errors: [problem('/variants/vip', 'one of the feature options')],
    },
    {
      name: 'every problem at once',
      feature: buildFeature({
        type: 'metered',
        key: '-credits',
        creditCost: { pool: '-credits', perUnit: -1 },
        meter: { eventType: 'x', aggregation: 'max', property: null, filter: null },
      }),
      errors: [
        problem('/key', 'letters, digits'),
        problem('/credit_cost/pool', 'itself'),
        problem('/credit_cost/per_unit', 'greater than 0'),
        problem('/meter/aggregation', 'count or sum'),
        problem('/meter/property', '"max"'),
      ],
    },
  ];

  it.each(cases)('$name', ({ feature, errors }) => {
    expect(validateFeature(feature)).toEqual(errors);
  });
});

describe('defaultVariants', () => {
  it.each([
    ['boolean', { on: true, off: false, true: true, false: false }],
    ['metered', { on: true, off: false, true: true, false: false }],
    ['gauge', { on: true, off: false, true: true, false: false }],
    ['config', {}],
  ] as const)('%s', (type, variants) => {
    expect(defaultVariants({ type })).toEqual(variants);
  });

  it('names each config option after its string form, so a rule can answer the option itself', () => {
    expect(defaultVariants({ type: 'config', options: ['email', 3, true] })).toEqual({
      email: 'email',
      '3': 3,
      true: true,
    });
  });
});

describe('isAllowedConfigValue', () => {
  const enumFeature = buildFeature({ type: 'config', options: ['email', 2, { sla: '4h' }] });
  it.each([
    ['email', true],
    ['phone', false],
    [2, true],
    ['2', false],
    [{ sla: '4h' }, true],
    [{ sla: '8h' }, false],
    [null, false],
  ])('%j in options: %s', (value, allowed) => {
    expect(isAllowedConfigValue(enumFeature, value)).toBe(allowed);
  });

  it('allows anything when the feature has no options', () => {
    expect(isAllowedConfigValue(buildFeature({ type: 'config', options: null }), { any: ['thing'] })).toBe(true);
  });
});

describe('isQuantityType', () => {
  it.each([
    ['boolean', false],
    ['metered', true],
    ['gauge', true],
    ['config', false],
  ] as const)('%s: %s', (type, counted) => {
    expect(isQuantityType(type)).toBe(counted);
  });
});
