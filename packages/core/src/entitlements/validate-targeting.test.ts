import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../json.js';
import { validateTargeting } from './validate-targeting.js';

describe('validateTargeting', () => {
  it.each<[string, JsonValue]>([
    ['an if over an equality', { if: [{ '==': [{ var: 'tier' }, 'gold'] }, 'on', null] }],
    ['if without an else', { if: [{ '==': [{ var: 'tier' }, 'gold'] }, 'on'] }],
    ['if-else chains', { if: [{ var: 'a' }, 'x', { var: 'b' }, 'y', 'z'] }],
    ['a lone argument without its array', { if: [{ '!': { var: 'banned' } }, 'on', null] }],
    ['var with a default', { '==': [{ var: ['plan', 'free'] }, 'free'] }],
    ['var of the whole context', { var: '' }],
    ['in over a literal list', { if: [{ in: [{ var: 'country' }, ['DE', 'FR']] }, 'on', 'off'] }],
    ['between', { '<': [1, { var: 'seats' }, 10] }],
    ['arithmetic', { '>': [{ '+': [{ var: 'a' }, 1, 2] }, { '*': [{ var: 'b' }, 2] }] }],
    ['missing and missing_some', { or: [{ missing: ['a', 'b'] }, { missing_some: [1, ['c', 'd']] }] }],
    ['array operations', { some: [{ var: 'roles' }, { '==': [{ var: '' }, 'admin'] }] }],
    [
      'reduce with an initial value',
      { reduce: [{ var: 'xs' }, { '+': [{ var: 'current' }, { var: 'accumulator' }] }, 0] },
    ],
    ['substr and cat', { '==': [{ substr: [{ cat: [{ var: 'a' }, 'b'] }, 0, 2] }, 'ab'] }],
    [
      'flagd operators',
      {
        if: [
          { sem_ver: [{ var: 'v' }, '>=', '2.0.0'] },
          {
            fractional: [
              ['on', 10],
              ['off', 90],
            ],
          },
          null,
        ],
      },
    ],
    [
      'starts_with and ends_with',
      { and: [{ starts_with: [{ var: 'id' }, 'a'] }, { ends_with: [{ var: 'id' }, 'z'] }] },
    ],
    ['the empty rule', {}],
    ['an empty object as data', { if: [{}, 'on', 'off'] }],
  ])('accepts %s', (_name, rule) => {
    expect(validateTargeting(rule)).toEqual([]);
  });

  it.each<[string, JsonValue, { path: string; message: RegExp }[]]>([
    ['a string', 'x', [{ path: '/targeting', message: /a JsonLogic object .* not a string/ }]],
    ['a number', 5, [{ path: '/targeting', message: /not a number/ }]],
    ['a boolean', true, [{ path: '/targeting', message: /not a boolean/ }]],
    ['an array', [{ var: 'x' }], [{ path: '/targeting', message: /not an array/ }]],
    ['an unknown operator', { frobnicate: [1, 2] }, [{ path: '/targeting', message: /"frobnicate" is not a flagd/ }]],
    [
      'an unknown operator deep inside',
      { if: [{ and: [true, { frobnicate: [{ var: 'x' }] }] }, 'on', null] },
      [{ path: '/targeting/if/0/and/1', message: /"frobnicate"/ }],
    ],
    [
      'an operator only Keymaster evaluator knows',
      { '??': [{ var: 'a' }, 'b'] },
      [{ path: '/targeting', message: /"\?\?"/ }],
    ],
    ['throw', { if: [true, { throw: 'boom' }, null] }, [{ path: '/targeting/if/1', message: /"throw"/ }]],
    ['a $ref left in', { if: [{ $ref: 'vip' }, 'on', null] }, [{ path: '/targeting/if/0', message: /inline/ }]],
    [
      'two operators in one object',
      { '==': [1, 1], '!=': [1, 2] },
      [{ path: '/targeting', message: /one operator, not 2/ }],
    ],
    [
      '== with one argument',
      { if: [{ '==': [{ var: 'tier' }] }, 'on', null] },
      [{ path: '/targeting/if/0/==', message: /"==" takes 2 arguments, not 1/ }],
    ],
    ['== with three', { '==': [1, 2, 3] }, [{ path: '/targeting/==', message: /not 3/ }]],
    ['! with two', { '!': [true, false] }, [{ path: '/targeting/!', message: /"!" takes 1 argument, not 2/ }]],
    ['an empty if', { if: [] }, [{ path: '/targeting/if', message: /1 or more arguments, not 0/ }]],
    ['max of nothing', { max: [] }, [{ path: '/targeting/max', message: /1 or more/ }]],
    ['substr of one', { substr: ['abc'] }, [{ path: '/targeting/substr', message: /2 to 3 arguments, not 1/ }]],
    ['missing_some of one', { missing_some: [1] }, [{ path: '/targeting/missing_some', message: /2 arguments/ }]],
    ['a key with a slash, escaped', { '/': [1, 2, 3] }, [{ path: '/targeting/~1', message: /"\/" takes 2/ }]],
    [
      'division by zero',
      { if: [{ '>': [{ '/': [1, 0] }, 1] }, 'on', null] },
      [{ path: '/targeting', message: /whatever the context/ }],
    ],
    ['in of a number', { in: [1, 2] }, [{ path: '/targeting', message: /whatever the context/ }]],
    [
      'every problem at once',
      { and: [{ '==': [1] }, { nope: 1 }] },
      [
        { path: '/targeting/and/0/==', message: /takes 2/ },
        { path: '/targeting/and/1', message: /"nope"/ },
      ],
    ],
  ])('refuses %s, naming where', (_name, rule, expected) => {
    const errors = validateTargeting(rule);
    expect(errors).toHaveLength(expected.length);
    expected.forEach((e, i) => {
      expect(errors[i]?.path).toBe(e.path);
      expect(errors[i]?.message).toMatch(e.message);
    });
  });

  it('points under the path it is given', () => {
    expect(validateTargeting({ nope: 1 }, '/features/3/targeting')).toEqual([
      { path: '/features/3/targeting', message: expect.stringContaining('"nope"') },
    ]);
  });

  it('walks a very deep rule without overflowing the stack', () => {
    let rule: JsonValue = { var: 'x' };
    for (let i = 0; i < 100_000; i++) rule = { '!': [rule] };
    const errors = validateTargeting({ and: [rule, { nope: 1 }] });
    expect(errors).toEqual([{ path: '/targeting/and/1', message: expect.stringContaining('"nope"') }]);
    expect(validateTargeting(rule)).toEqual([{ path: '/targeting', message: 'is nested too deeply to evaluate' }]);
  });
});

// Every rule of flagd's conformance flags is a valid flagd rule (the testbed also holds rules that
// call flagd's operators with the wrong arguments: flagd defines those as answering null).
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const flagsDir = join(repoRoot, '../shared/conformance/flagd-testbed/flags');
const testbedMissing = !existsSync(flagsDir);

describe.skipIf(testbedMissing)(`the flagd testbed's flag files (${flagsDir})`, () => {
  const file = testbedMissing
    ? { flags: {} }
    : (JSON.parse(readFileSync(join(flagsDir, 'testkit-flags.json'), 'utf8')) as {
        flags: Record<string, { targeting?: JsonValue }>;
        $evaluators?: Record<string, JsonValue>;
      });
  const evaluators = file.$evaluators ?? {};
  /** flagd's `$ref`s replaced by the evaluators they name; a dangling one is left as it is. */
  const inline = (rule: JsonValue): JsonValue => {
    if (Array.isArray(rule)) return rule.map(inline);
    if (rule === null || typeof rule !== 'object') return rule;
    const ref = rule.$ref;
    if (typeof ref === 'string' && Object.keys(rule).length === 1 && ref in evaluators) return inline(evaluators[ref]!);
    return Object.fromEntries(Object.entries(rule).map(([k, v]) => [k, inline(v)]));
  };
  const rules = Object.entries(file.flags).flatMap(([key, flag]) =>
    flag.targeting === undefined ? [] : [{ key, rule: inline(flag.targeting) }],
  );

  it('has rules to check', () => {
    expect(rules.length).toBeGreaterThanOrEqual(30);
  });

  it('accepts every rule, and refuses only the dangling $ref flagd itself fails with PARSE_ERROR', () => {
    const refused = rules.filter(({ rule }) => validateTargeting(rule).length > 0).map(({ key }) => key);
    expect(refused).toEqual(['ref-to-nonexistent-evaluator-flag']);
  });
});
