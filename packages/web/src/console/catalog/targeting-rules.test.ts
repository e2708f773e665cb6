import { compileTargeting, validateTargeting } from '@keymaster/core';
import { describe, expect, it } from 'vitest';
import { compileRules, conditionProblem, parseRules, type Rule } from './targeting-rules';

/** Compiles rules with Keymaster's own (flagd's) evaluator, as a check would, for evaluating contexts. */
function evaluator(rules: Rule[], key = 'beta') {
  const targeting = compileRules(rules);
  expect(validateTargeting(targeting as never)).toEqual([]);
  const feature = {
    key,
    name: 'Beta',
    type: 'boolean',
    unit: null,
    status: 'active',
    targeting,
    variants: null,
    defaultVariant: null,
    metadata: null,
  } as Parameters<typeof compileTargeting>[0];
  const compiled = compileTargeting(feature).targeting;
  return (context: Record<string, unknown>) => compiled?.evaluate(context as never);
}

const evaluate = (rules: Rule[], context: Record<string, unknown>) => evaluator(rules)(context);

const rule = (variant: string, ...conditions: Rule['conditions']): Rule => ({ variant, conditions });

describe('targeting rules', () => {
  it('compiles no rules to no targeting, and reads null and {} back as none', () => {
    expect(compileRules([])).toBeNull();
    expect(parseRules(null)).toEqual([]);
    expect(parseRules({})).toEqual([]);
  });

  it('compiles rules to one if with an else-if per rule, and reads them back as written', () => {
    const rules: Rule[] = [
      rule('off', { attribute: 'country', operator: 'one_of', value: 'DE, FR' }),
      rule(
        'on',
        { attribute: 'plan', operator: 'equals', value: 'pro' },
        { attribute: 'app_version', operator: 'version_at_least', value: '2.3.0' },
        { attribute: 'seats', operator: 'greater_than', value: '10' },
      ),
      rule('on', { attribute: 'email', operator: 'ends_with', value: '@example.com' }),
      rule('on', { attribute: '', operator: 'in_rollout', value: '25' }),
      rule('off', { attribute: 'tier', operator: 'not_one_of', value: 'gold' }),
      rule('on'),
    ];
    const compiled = compileRules(rules);
    const branches = (compiled as { if: unknown[] }).if;
    expect(branches.slice(0, 2)).toEqual([{ in: [{ var: 'country' }, ['DE', 'FR']] }, 'off']);
    expect(branches).toHaveLength(rules.length * 2 + 1);
    expect(parseRules(compiled)).toEqual(rules);
  });

  it('answers the first matching rule and nothing when none matches, with flagd', () => {
    const rules = [
      rule('off', { attribute: 'country', operator: 'one_of', value: 'DE, FR' }),
      rule('on', { attribute: 'app_version', operator: 'version_at_least', value: '2.3.0' }),
      rule('on', { attribute: 'beta', operator: 'equals', value: 'true' }),
    ];
    expect(evaluate(rules, { country: 'DE', app_version: '3.0.0' })).toBe(false);
    expect(evaluate(rules, { country: 'US', app_version: '2.3.1' })).toBe(true);
    expect(evaluate(rules, { country: 'US', app_version: '2.2.9' })).toBeUndefined();
    expect(evaluate(rules, { beta: true })).toBe(true);
    expect(evaluate(rules, { beta: false })).toBeUndefined();
  });

  it('puts about the given share of customers in a rollout, the same ones every time', () => {
    const rollout = evaluator([rule('on', { attribute: '', operator: 'in_rollout', value: '30' })]);
    const inside = Array.from({ length: 1000 }, (_, index) => `cus_${index}`).filter(
      (id) => rollout({ targetingKey: id }) === true,
    );
    expect(inside.length).toBeGreaterThan(250);
    expect(inside.length).toBeLessThan(350);
    expect(rollout({ targetingKey: inside[0] })).toBe(true);
  });

  it('leaves a rule it did not write to the JSON editor', () => {
    expect(
      parseRules({
        fractional: [
          ['on', 50],
          ['off', 50],
        ],
      }),
    ).toBeNull();
    expect(parseRules({ if: [{ in: ['@acme', { var: 'email' }] }, 'on', null] })).toBeNull();
    expect(parseRules({ if: [{ '==': [{ var: 'tier' }, 'gold'] }, 'on', 'off'] })).toBeNull();
  });

  it('says what a condition lacks before it is saved', () => {
    expect(conditionProblem({ attribute: '', operator: 'equals', value: 'x' })).toBe('needs an attribute');
    expect(conditionProblem({ attribute: 'seats', operator: 'greater_than', value: 'many' })).toBe('needs a number');
    expect(conditionProblem({ attribute: '', operator: 'in_rollout', value: '120' })).toMatch(/1 to 100/);
    expect(conditionProblem({ attribute: 'country', operator: 'one_of', value: ' , ' })).toBe(
      'needs at least one value',
    );
    expect(conditionProblem({ attribute: 'country', operator: 'one_of', value: 'DE' })).toBeNull();
  });
});
