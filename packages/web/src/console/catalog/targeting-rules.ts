/**
 * The targeting rule editor's model and its translation to and from the flagd rule the API
 * stores (JsonLogic). The editor shows a list of rules, checked in order: the first whose
 * conditions all hold answers its variant; when none holds, the rule answers null (no opinion,
 * the plan decides). That list is one `if` with an else-if per rule:
 *
 * ```json
 * {"if": [{"and": [cond, cond]}, "off", cond, "beta", null]}
 * ```
 *
 * A stored rule that was written another way (by hand, imported from flagd) is not forced into
 * this shape: `parseRules` answers null and the editor offers its JSON instead.
 */

export const operators = {
  equals: 'is',
  not_equals: 'is not',
  one_of: 'is one of',
  not_one_of: 'is none of',
  starts_with: 'starts with',
  ends_with: 'ends with',
  greater_than: 'is greater than',
  at_least: 'is at least',
  less_than: 'is less than',
  at_most: 'is at most',
  version_at_least: 'is version at least',
  version_below: 'is version below',
  in_rollout: 'falls in a rollout of (%)',
} as const;
export type Operator = keyof typeof operators;

/** One condition: `attribute operator value`. `value` is text as typed (a comma-separated list for one_of). */
export interface Condition {
  attribute: string;
  operator: Operator;
  value: string;
}

/** One rule: when every condition holds (always, with none), the feature gets `variant`. */
export interface Rule {
  conditions: Condition[];
  variant: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const comparisons = { greater_than: '>', at_least: '>=', less_than: '<', at_most: '<=' } as const;
const versions = { version_at_least: '>=', version_below: '<' } as const;

/** Splits a one-of list: `DE, FR` → `['DE', 'FR']`. */
export const listOf = (value: string): string[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

/** Equality compares loosely (`"10" == 10`), but `true`/`false` must be booleans to match boolean traits. */
const scalar = (value: string): Json => (value === 'true' ? true : value === 'false' ? false : value);

/** Why a condition cannot be saved, or null. */
export function conditionProblem(condition: Condition): string | null {
  const { operator, value } = condition;
  if (operator !== 'in_rollout' && condition.attribute.trim() === '') return 'needs an attribute';
  if (operator in comparisons && (value.trim() === '' || !Number.isFinite(Number(value)))) return 'needs a number';
  if (operator === 'in_rollout') {
    const percent = Number(value);
    if (value.trim() === '' || !Number.isInteger(percent) || percent < 1 || percent > 100)
      return 'needs a whole percentage from 1 to 100';
  }
  if ((operator === 'one_of' || operator === 'not_one_of') && listOf(value).length === 0)
    return 'needs at least one value';
  return null;
}

function compileCondition(condition: Condition): Json {
  const attribute: Json = { var: condition.attribute.trim() };
  const { operator, value } = condition;
  switch (operator) {
    case 'equals':
      return { '==': [attribute, scalar(value)] };
    case 'not_equals':
      return { '!=': [attribute, scalar(value)] };
    case 'one_of':
      return { in: [attribute, listOf(value)] };
    case 'not_one_of':
      return { '!': { in: [attribute, listOf(value)] } };
    case 'starts_with':
    case 'ends_with':
      return { [operator]: [attribute, value] };
    case 'greater_than':
    case 'at_least':
    case 'less_than':
    case 'at_most':
      return { [comparisons[operator]]: [attribute, Number(value)] };
    case 'version_at_least':
    case 'version_below':
      return { sem_ver: [attribute, versions[operator], value.trim()] };
    case 'in_rollout': {
      // flagd's `fractional` buckets the customer by a hash of the feature key and their id, so
      // the same customers stay in (and a larger percentage keeps those already in).
      const percent = Number(value);
      return {
        '==': [
          {
            fractional: [
              ['in', percent],
              ['out', 100 - percent],
            ],
          },
          'in',
        ],
      };
    }
  }
}

/** The flagd rule for a list of rules, or null for none (the feature has no targeting). */
export function compileRules(rules: readonly Rule[]): Json {
  if (rules.length === 0) return null;
  const branches: Json[] = [];
  for (const rule of rules) {
    const conditions = rule.conditions.map(compileCondition);
    branches.push(conditions.length === 0 ? true : conditions.length === 1 ? conditions[0]! : { and: conditions });
    branches.push(rule.variant);
  }
  return { if: [...branches, null] };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `{op: args}` as `[op, args]`, when `value` is a one-operator object. */
function single(value: unknown): [string, unknown] | null {
  if (!isObject(value)) return null;
  const keys = Object.keys(value);
  return keys.length === 1 ? [keys[0]!, value[keys[0]!]] : null;
}

/** The attribute of `{var: "name"}`, or null. */
function attributeOf(value: unknown): string | null {
  const op = single(value);
  return op && op[0] === 'var' && typeof op[1] === 'string' ? op[1] : null;
}

const text = (value: unknown): string | null =>
  typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : null;

function parseCondition(value: unknown): Condition | null {
  const op = single(value);
  if (!op || (!Array.isArray(op[1]) && op[0] !== '!')) return null;
  const [name, args] = op;
  if (name === '!') {
    const inner = parseCondition(Array.isArray(args) && args.length === 1 ? args[0] : args);
    return inner?.operator === 'one_of' ? { ...inner, operator: 'not_one_of' } : null;
  }
  const list = args as unknown[];
  if (name === '==' && list.length === 2) {
    const rollout = parseRollout(list);
    if (rollout !== null) return { attribute: '', operator: 'in_rollout', value: String(rollout) };
  }
  const attribute = attributeOf(list[0]);
  if (attribute === null) return null;
  if (name === 'sem_ver' && list.length === 3) {
    const version = text(list[2]);
    const operator = list[1] === '>=' ? 'version_at_least' : list[1] === '<' ? 'version_below' : null;
    return operator && version !== null ? { attribute, operator, value: version } : null;
  }
  if (list.length !== 2) return null;
  if (name === 'in') {
    const values = list[1];
    if (!Array.isArray(values) || !values.every((item) => typeof item === 'string' && !item.includes(','))) return null;
    return { attribute, operator: 'one_of', value: values.join(', ') };
  }
  const operand = text(list[1]);
  if (operand === null) return null;
  if (name === '==') return { attribute, operator: 'equals', value: operand };
  if (name === '!=') return { attribute, operator: 'not_equals', value: operand };
  if ((name === 'starts_with' || name === 'ends_with') && typeof list[1] === 'string')
    return { attribute, operator: name, value: operand };
  const comparison = (Object.entries(comparisons) as [Operator, string][]).find(([, symbol]) => symbol === name);
  if (comparison && typeof list[1] === 'number') return { attribute, operator: comparison[0], value: operand };
  return null;
}

/** The percentage of `{"==": [{"fractional": [["in", p], ["out", 100 - p]]}, "in"]}`, or null. */
function parseRollout(args: unknown[]): number | null {
  const op = single(args[0]);
  if (op?.[0] !== 'fractional' || args[1] !== 'in' || !Array.isArray(op[1])) return null;
  const buckets = op[1] as unknown[];
  if (buckets.length !== 2) return null;
  const [inside, outside] = buckets as [unknown, unknown];
  if (!Array.isArray(inside) || !Array.isArray(outside) || inside[0] !== 'in' || outside[0] !== 'out') return null;
  const percent = inside[1];
  return typeof percent === 'number' && Number.isInteger(percent) && outside[1] === 100 - percent ? percent : null;
}

function parseConditions(value: unknown): Condition[] | null {
  if (value === true) return [];
  const op = single(value);
  if (op && op[0] === 'and' && Array.isArray(op[1])) {
    const conditions = op[1].map(parseCondition);
    return conditions.every((condition) => condition !== null) ? (conditions as Condition[]) : null;
  }
  const condition = parseCondition(value);
  return condition ? [condition] : null;
}

/**
 * The editor's rules for a stored rule: `[]` for none (null or `{}`), null when the rule is not
 * one the editor writes (so that it is never rewritten into something it did not say).
 */
export function parseRules(targeting: unknown): Rule[] | null {
  if (targeting === null || targeting === undefined) return [];
  if (isObject(targeting) && Object.keys(targeting).length === 0) return [];
  const op = single(targeting);
  if (op?.[0] !== 'if' || !Array.isArray(op[1])) return null;
  const args = op[1] as unknown[];
  const pairs = args.length % 2 === 0 ? args : args.slice(0, -1);
  if (args.length % 2 === 1 && args.at(-1) !== null) return null;
  const rules: Rule[] = [];
  for (let index = 0; index < pairs.length; index += 2) {
    const conditions = parseConditions(pairs[index]);
    const variant = pairs[index + 1];
    if (conditions === null || typeof variant !== 'string') return null;
    rules.push({ conditions, variant });
  }
  return rules;
}
