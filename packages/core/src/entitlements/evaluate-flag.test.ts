import { describe, expect, it } from 'vitest';
import type { Feature } from '../catalog/feature.js';
import type { JsonObject } from '../json.js';
import { buildFeature } from '../test-builders.js';
import { evaluateFlag, type FlagEvaluation } from './evaluate-flag.js';
import { compileTargeting } from './targeting.js';

const byEmail = { if: [{ '==': [{ var: 'email' }, 'ada@example.com'] }, 'loud', null] };
const greeting = (overrides: Partial<Feature> = {}) =>
  buildFeature({
    type: 'config',
    key: 'greeting',
    variants: { quiet: 'hi', loud: 'HELLO' },
    options: ['hi', 'HELLO'],
    defaultVariant: 'quiet',
    ...overrides,
  } as Partial<Feature> & { type: 'config' });

const rows: { name: string; feature: Feature; context?: JsonObject; expected: FlagEvaluation }[] = [
  {
    name: 'no targeting: the default variant, STATIC',
    feature: greeting(),
    expected: { value: 'hi', variant: 'quiet', reason: 'STATIC' },
  },
  {
    name: 'a falsy default variant is still a value (boolean "off")',
    feature: buildFeature({ key: 'beta', defaultVariant: 'off' }),
    expected: { value: false, variant: 'off', reason: 'STATIC' },
  },
  {
    name: 'no targeting and no default variant: DEFAULT, the caller default applies',
    feature: greeting({ defaultVariant: null }),
    expected: { value: undefined, variant: undefined, reason: 'DEFAULT' },
  },
  {
    name: 'the rule names a variant: TARGETING_MATCH',
    feature: greeting({ targeting: byEmail }),
    context: { email: 'ada@example.com' },
    expected: { value: 'HELLO', variant: 'loud', reason: 'TARGETING_MATCH' },
  },
  {
    name: 'the rule names nothing: the default variant, DEFAULT',
    feature: greeting({ targeting: byEmail }),
    context: { email: 'bob@example.com' },
    expected: { value: 'hi', variant: 'quiet', reason: 'DEFAULT' },
  },
  {
    name: 'the rule names nothing and there is no default variant: DEFAULT without a value',
    feature: greeting({ targeting: byEmail, defaultVariant: null }),
    expected: { value: undefined, variant: undefined, reason: 'DEFAULT' },
  },
  {
    name: 'the kill switch: DISABLED, no value, no variant',
    feature: greeting({ status: 'disabled', targeting: byEmail }),
    context: { email: 'ada@example.com' },
    expected: { value: undefined, variant: undefined, reason: 'DISABLED' },
  },
  {
    name: 'a rule naming an unknown variant: ERROR',
    feature: greeting({ targeting: { if: [true, 'shout', null] } }),
    expected: { value: undefined, variant: undefined, reason: 'ERROR', error: expect.stringContaining('shout') },
  },
];

describe('evaluateFlag', () => {
  it.each(rows)('$name', ({ feature, context, expected }) => {
    expect(evaluateFlag({ feature, context: context ?? {} })).toEqual(expected);
  });

  it('buckets fractional rollouts on the targetingKey, as flagd does', () => {
    // flagd testbed "fractional-flag-shorthand": jon@company.com → heads, jane@company.com → tails.
    const feature = buildFeature({
      type: 'config',
      key: 'fractional-flag-shorthand',
      variants: { heads: 'heads', tails: 'tails' },
      options: ['heads', 'tails'],
      targeting: {
        fractional: [
          ['heads', 50],
          ['tails', 50],
        ],
      },
    } as Partial<Feature> & { type: 'config' });
    const targeting = compileTargeting(feature).targeting ?? undefined;
    const variant = (targetingKey: string) => evaluateFlag({ feature, targeting, context: { targetingKey } }).variant;
    expect([variant('jon@company.com'), variant('jane@company.com')]).toEqual(['heads', 'tails']);
  });
});
