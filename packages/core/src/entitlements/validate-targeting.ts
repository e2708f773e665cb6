import { FeatureFlag } from '@openfeature/flagd-core';
import type { FieldError } from '../errors.js';
import type { JsonValue } from '../json.js';

/** How many arguments an operator takes: at least `min`, at most `max` (no upper bound without it). */
interface Arity {
  min: number;
  max?: number;
}

const exactly = (n: number): Arity => ({ min: n, max: n });
const between = (min: number, max: number): Arity => ({ min, max });
const atLeast = (min: number): Arity => ({ min });

/**
 * flagd's JsonLogic: the standard JsonLogic operations and flagd's own four. The evaluator
 * Keymaster runs (flagd-core's) knows more (`??`, `length`, `throw`, ...), but flagd in other
 * languages does not, and a rule must mean the same in a flagd file exported from Keymaster.
 *
 * Arities are JsonLogic's. flagd's own operators have none: flagd defines a call with the wrong
 * arguments as answering null (the default variant), and its conformance suite checks that.
 */
const operators: Record<string, Arity> = {
  var: between(0, 2),
  missing: atLeast(0),
  missing_some: exactly(2),
  if: atLeast(1),
  '?:': atLeast(1),
  '==': exactly(2),
  '===': exactly(2),
  '!=': exactly(2),
  '!==': exactly(2),
  '!': exactly(1),
  '!!': exactly(1),
  or: atLeast(1),
  and: atLeast(1),
  '>': exactly(2),
  '>=': exactly(2),
  // `<` and `<=` also take three: "between".
  '<': between(2, 3),
  '<=': between(2, 3),
  max: atLeast(1),
  min: atLeast(1),
  '+': atLeast(1),
  '*': atLeast(1),
  '-': between(1, 2),
  '/': exactly(2),
  '%': exactly(2),
  map: exactly(2),
  filter: exactly(2),
  all: exactly(2),
  none: exactly(2),
  some: exactly(2),
  reduce: between(2, 3),
  merge: atLeast(0),
  in: exactly(2),
  cat: atLeast(0),
  substr: between(2, 3),
  fractional: atLeast(0),
  sem_ver: atLeast(0),
  starts_with: atLeast(0),
  ends_with: atLeast(0),
};

const isObject = (value: unknown): value is Record<string, JsonValue> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const pointer = (key: string | number) => `/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`;

const kindOf = (value: JsonValue) =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;

function arityMessage(operator: string, arity: Arity, given: number): string {
  const { min, max } = arity;
  const takes =
    max === undefined
      ? `${min} or more arguments`
      : min === max
        ? `${min} argument${min === 1 ? '' : 's'}`
        : `${min} to ${max} arguments`;
  return `"${operator}" takes ${takes}, not ${given}`;
}

/**
 * Why a targeting rule would not evaluate as written, as field errors under `path` (a JSON
 * pointer to the rule; each error points into it): a rule that is not a JsonLogic object, an
 * object with other than one operator, an operator flagd does not know, the wrong number of
 * arguments, or a part that fails whatever the context (`{"/": [1, 0]}`: flagd's compiler
 * evaluates what does not depend on the context). Empty when the rule is valid; `{}` is the empty
 * rule (no targeting), as in flagd.
 *
 * A rule may still fail for some contexts (`substr` of an attribute that is missing): those
 * evaluations answer as flagd does, with an error the caller sees.
 *
 * @example
 * validateTargeting({ if: [{ '==': [{ var: 'tier' }] }, 'on', null] })
 * // [{ path: '/targeting/if/0/==', message: '"==" takes 2 arguments, not 1' }]
 */
export function validateTargeting(rule: JsonValue, path = '/targeting'): FieldError[] {
  if (!isObject(rule)) {
    return [
      {
        path,
        message: `must be a flagd targeting rule (a JsonLogic object such as {"if": [...]}), not ${kindOf(rule)}`,
      },
    ];
  }
  const errors: FieldError[] = [];
  // An explicit stack: a rule from a flagd file has no depth limit, and recursion would overflow.
  const pending: { value: JsonValue; at: string }[] = [{ value: rule, at: path }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, at } = next;
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) pending.push({ value: item, at: `${at}${pointer(index)}` });
      continue;
    }
    if (!isObject(value)) continue;
    const keys = Object.keys(value);
    // `{}` is data (and the empty rule), as flagd reads it.
    if (keys.length === 0) continue;
    if (keys.length > 1) {
      errors.push({ path: at, message: `must name one operator, not ${keys.length} (${keys.join(', ')})` });
      continue;
    }
    const operator = keys[0]!;
    const arity = operators[operator];
    if (arity === undefined) {
      const hint = operator === '$ref' ? ': inline the evaluator it names' : '';
      errors.push({ path: at, message: `"${operator}" is not a flagd targeting operator${hint}` });
      continue;
    }
    const args = value[operator]!;
    const argsAt = `${at}${pointer(operator)}`;
    // A lone argument may be given without its array: `{"var": "tier"}`, `{"!": true}`.
    const count = Array.isArray(args) ? args.length : 1;
    if (count < arity.min || (arity.max !== undefined && count > arity.max)) {
      errors.push({ path: argsAt, message: arityMessage(operator, arity, count) });
    }
    pending.push({ value: args, at: argsAt });
  }
  if (errors.length > 0) return errors.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return compileErrors(rule, path);
}

const silent = { error() {}, warn() {}, info() {}, debug() {} };

/** What flagd's own compiler refuses: it evaluates the parts that do not depend on the context. */
function compileErrors(rule: Record<string, JsonValue>, path: string): FieldError[] {
  let parseError: boolean;
  try {
    const flag = new FeatureFlag(
      'rule',
      { state: 'ENABLED', defaultVariant: '', variants: {}, targeting: rule as unknown as string },
      silent,
    );
    const probe = flag.evaluate({});
    parseError = probe.reason === 'ERROR' && probe.errorCode === 'PARSE_ERROR';
  } catch {
    // The compiler and flagd's hashing of the flag recurse: a rule nested thousands deep overflows.
    return [{ path, message: 'is nested too deeply to evaluate' }];
  }
  if (parseError) {
    return [
      { path, message: 'fails whatever the context (a part of it that depends on no attribute cannot be evaluated)' },
    ];
  }
  return [];
}
