import type { Feature } from '@keymaster/contract';
import { type ReactElement, useId, useState } from 'react';
import { Field, FormError } from '../../ui/forms';
import { useFeaturePatch } from './feature-api';
import { errorsUnder, looseJson, looseText, shownUnder } from './field-errors';
import {
  type Condition,
  compileRules,
  conditionProblem,
  type Operator,
  operators,
  parseRules,
  type Rule,
} from './targeting-rules';

type Keyed<T> = T & { id: number };
interface RuleRow {
  id: number;
  variant: string;
  conditions: Keyed<Condition>[];
}
interface VariantRow {
  id: number;
  name: string;
  value: string;
}

/** A fieldset that only groups (for `disabled` or a screen reader's name), without a frame. */
const bare = { border: 0, padding: 0, margin: '0 0 0.5rem', minWidth: 0 } as const;

let ids = 0;
const nextId = () => {
  ids += 1;
  return ids;
};

const rowsOf = (rules: Rule[]): RuleRow[] =>
  rules.map((rule) => ({
    id: nextId(),
    variant: rule.variant,
    conditions: rule.conditions.map((condition) => ({ ...condition, id: nextId() })),
  }));

const rulesOf = (rows: RuleRow[]): Rule[] =>
  rows.map((row) => ({
    variant: row.variant,
    conditions: row.conditions.map(({ attribute, operator, value }) => ({ attribute, operator, value })),
  }));

/** Attributes every rule can test; traits and the caller's context add their own. */
const knownAttributes = [
  ['plan', 'the key of their plan'],
  ['subscription_status', 'trialing, active, past_due…'],
  ['targetingKey', 'the customer id'],
  ['customer.email', 'their email'],
  ['customer.name', 'their name'],
] as const;

/** The variants a rule may name without declaring any, as the server's `defaultVariants`. */
function predeclared(feature: Feature): { name: string; label: string }[] {
  if (feature.type === 'config')
    return (feature.options ?? []).map((option) => ({ name: String(option), label: `Value ${looseText(option)}` }));
  const counted = feature.type !== 'boolean';
  return [
    { name: 'on', label: counted ? "On, with the plan's terms (grants nothing alone)" : 'Turn on' },
    { name: 'off', label: 'Turn off' },
  ];
}

const variantHints: Record<Feature['type'], string> = {
  boolean: 'true or false.',
  metered: 'A limit (a whole number, e.g. 5000) that the rule grants, or true/false.',
  gauge: 'A limit (a whole number, e.g. 25) that the rule grants, or true/false.',
  config: 'The value the rule grants (text, a number, true/false or JSON).',
};

/**
 * The feature's targeting as rules a product manager can read: "if country is one of DE, FR,
 * turn off", checked in order, the first that matches deciding. Saved as the flagd rule the API
 * stores; a rule the editor did not write is edited as JSON instead.
 */
export function TargetingEditor(props: { feature: Feature; writable: boolean }): ReactElement {
  const { feature } = props;
  const parsed = parseRules(feature.targeting);
  const [mode, setMode] = useState<'rules' | 'json'>(parsed === null ? 'json' : 'rules');
  const [rules, setRules] = useState<RuleRow[]>(() => rowsOf(parsed ?? []));
  const [json, setJson] = useState(() =>
    feature.targeting === null ? '' : JSON.stringify(feature.targeting, null, 2),
  );
  const [variants, setVariants] = useState<VariantRow[]>(() =>
    Object.entries(feature.variants ?? {}).map(([name, value]) => ({ id: nextId(), name, value: looseText(value) })),
  );
  const [tried, setTried] = useState(false);
  const [local, setLocal] = useState<string | null>(null);
  const save = useFeaturePatch(feature.key);
  const listId = useId();

  const choices = [
    ...predeclared(feature),
    ...variants
      .filter((variant) => variant.name.trim())
      .map((variant) => ({ name: variant.name.trim(), label: `${variant.name.trim()} (${variant.value})` })),
  ];

  function submit(): void {
    setTried(true);
    setLocal(null);
    let targeting: unknown;
    if (mode === 'rules') {
      const problems = rules.some((rule) => !rule.variant || rule.conditions.some((c) => conditionProblem(c)));
      if (problems) return;
      targeting = compileRules(rulesOf(rules));
    } else if (json.trim() === '') {
      targeting = null;
    } else {
      try {
        targeting = JSON.parse(json);
      } catch {
        setLocal('The rule is not valid JSON.');
        return;
      }
    }
    const declared: Record<string, unknown> = {};
    for (const variant of variants) if (variant.name.trim()) declared[variant.name.trim()] = looseJson(variant.value);
    save.mutate(
      { targeting, variants: Object.keys(declared).length > 0 ? declared : null },
      { onSuccess: () => setTried(false) },
    );
  }

  function switchMode(): void {
    if (mode === 'rules') {
      setJson(JSON.stringify(compileRules(rulesOf(rules)), null, 2));
      setMode('json');
      setLocal(null);
      return;
    }
    let value: unknown = null;
    try {
      value = json.trim() ? JSON.parse(json) : null;
    } catch {
      setLocal('The rule is not valid JSON.');
      return;
    }
    const back = parseRules(value);
    if (back === null) {
      setLocal('This rule uses more than the editor shows (e.g. nested or, a fractional split): keep it as JSON.');
      return;
    }
    setRules(rowsOf(back));
    setMode('rules');
    setLocal(null);
  }

  const updateRule = (id: number, change: (rule: RuleRow) => RuleRow) =>
    setRules(rules.map((rule) => (rule.id === id ? change(rule) : rule)));

  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      <p className="muted">
        Rules are checked in order for each customer; the first whose conditions all hold decides. When none holds, the
        plan decides. The kill switch and per-customer grants come before rules.
      </p>
      <datalist id={listId}>
        {knownAttributes.map(([name, label]) => (
          <option key={name} value={name}>
            {label}
          </option>
        ))}
      </datalist>
      <fieldset disabled={!props.writable} style={bare}>
        {mode === 'rules' ? (
          <>
            {rules.length === 0 ? <p>No rules: the plans alone decide who gets this feature.</p> : null}
            {rules.map((rule, index) => (
              <fieldset key={rule.id} className="panel">
                <legend>Rule {index + 1}</legend>
                {rule.conditions.length === 0 ? <p className="small muted">Applies to every customer.</p> : null}
                {rule.conditions.map((condition, position) => (
                  <ConditionRow
                    key={condition.id}
                    label={`Rule ${index + 1}, condition ${position + 1}`}
                    condition={condition}
                    listId={listId}
                    showProblem={tried}
                    onChange={(next) =>
                      updateRule(rule.id, (r) => ({
                        ...r,
                        conditions: r.conditions.map((c) => (c.id === condition.id ? { ...next, id: c.id } : c)),
                      }))
                    }
                    onRemove={() =>
                      updateRule(rule.id, (r) => ({
                        ...r,
                        conditions: r.conditions.filter((c) => c.id !== condition.id),
                      }))
                    }
                  />
                ))}
                <p>
                  <button
                    type="button"
                    onClick={() =>
                      updateRule(rule.id, (r) => ({
                        ...r,
                        conditions: [...r.conditions, { id: nextId(), attribute: '', operator: 'equals', value: '' }],
                      }))
                    }
                  >
                    Add condition
                  </button>
                </p>
                <Field
                  label="Then"
                  error={tried && !rule.variant ? 'Choose what the rule grants' : undefined}
                  hint="What the customer gets when this rule matches."
                >
                  {(control) => (
                    <select
                      {...control}
                      value={rule.variant}
                      onChange={(e) => updateRule(rule.id, (r) => ({ ...r, variant: e.target.value }))}
                    >
                      <option value="">Choose…</option>
                      {choices.map((choice) => (
                        <option key={choice.name} value={choice.name}>
                          {choice.label}
                        </option>
                      ))}
                      {rule.variant && !choices.some((choice) => choice.name === rule.variant) ? (
                        <option value={rule.variant}>{rule.variant} (not declared)</option>
                      ) : null}
                    </select>
                  )}
                </Field>
                <div className="row">
                  {index > 0 ? (
                    <button
                      type="button"
                      onClick={() => {
                        const next = [...rules];
                        [next[index - 1], next[index]] = [next[index]!, next[index - 1]!];
                        setRules(next);
                      }}
                    >
                      Move rule {index + 1} up
                    </button>
                  ) : null}
                  <button type="button" onClick={() => setRules(rules.filter((r) => r.id !== rule.id))}>
                    Remove rule {index + 1}
                  </button>
                </div>
              </fieldset>
            ))}
            <p>
              <button
                type="button"
                onClick={() =>
                  setRules([
                    ...rules,
                    {
                      id: nextId(),
                      variant: '',
                      conditions: [{ id: nextId(), attribute: '', operator: 'equals', value: '' }],
                    },
                  ])
                }
              >
                Add rule
              </button>
            </p>
          </>
        ) : (
          <Field
            label="Rule (flagd JSON)"
            error={errorsUnder(save.error, '/targeting')}
            hint="JsonLogic with fractional, sem_ver, starts_with and ends_with, answering a variant name. Empty: no rule."
          >
            {(control) => <textarea {...control} rows={10} value={json} onChange={(e) => setJson(e.target.value)} />}
          </Field>
        )}
        {feature.type === 'boolean' && variants.length === 0 ? null : (
          <fieldset>
            <legend>Named values</legend>
            <p className="muted small">
              Values a rule can grant besides on and off. {variantHints[feature.type]} A rule names them in “Then”.
            </p>
            {variants.map((variant, index) => (
              <div className="row" key={variant.id}>
                <Field label={`Name ${index + 1}`}>
                  {(control) => (
                    <input
                      {...control}
                      value={variant.name}
                      onChange={(e) =>
                        setVariants(variants.map((v) => (v.id === variant.id ? { ...v, name: e.target.value } : v)))
                      }
                    />
                  )}
                </Field>
                <Field label={`Value ${index + 1}`} error={errorsUnder(save.error, `/variants/${variant.name.trim()}`)}>
                  {(control) => (
                    <input
                      {...control}
                      value={variant.value}
                      onChange={(e) =>
                        setVariants(variants.map((v) => (v.id === variant.id ? { ...v, value: e.target.value } : v)))
                      }
                    />
                  )}
                </Field>
                <button type="button" onClick={() => setVariants(variants.filter((v) => v.id !== variant.id))}>
                  Remove value {index + 1}
                </button>
              </div>
            ))}
            <button type="button" onClick={() => setVariants([...variants, { id: nextId(), name: '', value: '' }])}>
              Add named value
            </button>
          </fieldset>
        )}
        {local ? (
          <p className="form-error" role="alert">
            {local}
          </p>
        ) : null}
        <FormError
          error={save.error}
          shown={shownUnder(save.error, mode === 'json' ? ['/targeting', '/variants'] : ['/variants'])}
        />
        {save.isSuccess && !save.isPending ? (
          <p className="alert ok" role="status">
            Targeting saved.
          </p>
        ) : null}
        {props.writable ? (
          <div className="row">
            <button type="submit" className="primary" disabled={save.isPending}>
              {save.isPending ? 'Saving…' : 'Save targeting'}
            </button>
            <button type="button" onClick={switchMode}>
              {mode === 'rules' ? 'Edit as JSON' : 'Edit as rules'}
            </button>
          </div>
        ) : null}
      </fieldset>
    </form>
  );
}

function ConditionRow(props: {
  label: string;
  condition: Condition;
  listId: string;
  showProblem: boolean;
  onChange: (condition: Condition) => void;
  onRemove: () => void;
}): ReactElement {
  const { condition } = props;
  const problem = props.showProblem ? conditionProblem(condition) : null;
  const set = (change: Partial<Condition>) => props.onChange({ ...condition, ...change });
  const rollout = condition.operator === 'in_rollout';
  return (
    <fieldset className="row" style={bare}>
      <legend className="visually-hidden">{props.label}</legend>
      {rollout ? (
        <p className="small muted">Customers, bucketed by their id:</p>
      ) : (
        <Field label="Attribute" error={problem === 'needs an attribute' ? problem : undefined}>
          {(control) => (
            <input
              {...control}
              list={props.listId}
              placeholder="country"
              value={condition.attribute}
              onChange={(e) => set({ attribute: e.target.value })}
            />
          )}
        </Field>
      )}
      <Field label="Operator">
        {(control) => (
          <select
            {...control}
            value={condition.operator}
            onChange={(e) => set({ operator: e.target.value as Operator })}
          >
            {Object.entries(operators).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field
        label={rollout ? 'Percent' : 'Value'}
        error={problem && problem !== 'needs an attribute' ? problem : undefined}
        hint={
          condition.operator === 'one_of' || condition.operator === 'not_one_of'
            ? 'Separate values with commas.'
            : undefined
        }
      >
        {(control) => <input {...control} value={condition.value} onChange={(e) => set({ value: e.target.value })} />}
      </Field>
      <button type="button" onClick={props.onRemove}>
        Remove condition
      </button>
    </fieldset>
  );
}
