import type { Feature, FeatureCreate, FeaturePatch } from '@keymaster/contract';
import type { ReactElement } from 'react';
import { Field, fieldError } from '../../ui/forms';
import { errorsUnder, looseJson, looseText } from './field-errors';

export const featureTypes = {
  boolean: 'Boolean (on or off)',
  metered: 'Metered (used up, resets)',
  gauge: 'Gauge (a current level, e.g. seats)',
  config: 'Config (a value per plan)',
} as const satisfies Record<Feature['type'], string>;
export type FeatureType = keyof typeof featureTypes;

const aggregations = ['count', 'sum', 'max', 'unique_count', 'latest'] as const;
type Aggregation = (typeof aggregations)[number];

export const decisionLogs = {
  denied: 'Refusals only',
  all: 'Every decision',
  off: 'None',
} as const satisfies Record<Feature['decision_log'], string>;

/** What the feature form holds: text as typed, turned into a request body on submit. */
export interface FeatureDraft {
  key: string;
  type: FeatureType;
  name: string;
  description: string;
  unit: string;
  /** A config feature's allowed values, one a line (JSON when it parses, else text). */
  options: string;
  meterEvent: string;
  meterAggregation: Aggregation;
  meterProperty: string;
  creditPool: string;
  creditPerUnit: string;
  decisionLog: Feature['decision_log'];
}

export const emptyFeature: FeatureDraft = {
  key: '',
  type: 'boolean',
  name: '',
  description: '',
  unit: '',
  options: '',
  meterEvent: '',
  meterAggregation: 'count',
  meterProperty: '',
  creditPool: '',
  creditPerUnit: '',
  decisionLog: 'denied',
};

export function draftOf(feature: Feature): FeatureDraft {
  return {
    key: feature.key,
    type: feature.type,
    name: feature.name,
    description: feature.description ?? '',
    unit: feature.unit ?? '',
    options: (feature.options ?? []).map(looseText).join('\n'),
    meterEvent: feature.meter?.event_type ?? '',
    meterAggregation: feature.meter?.aggregation ?? 'count',
    meterProperty: feature.meter?.property ?? '',
    creditPool: feature.credit_cost?.pool ?? '',
    creditPerUnit: feature.credit_cost ? String(feature.credit_cost.per_unit) : '',
    decisionLog: feature.decision_log,
  };
}

const counted = (type: FeatureType) => type === 'metered' || type === 'gauge';

/** The optional parts of a feature a draft sets, each null when the form leaves it empty. */
function parts(draft: FeatureDraft) {
  const lines = draft.options
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return {
    description: draft.description.trim() || null,
    unit: counted(draft.type) ? draft.unit.trim() || null : null,
    options: draft.type === 'config' && lines.length > 0 ? lines.map(looseJson) : null,
    meter:
      draft.type === 'metered' && draft.meterEvent.trim()
        ? {
            event_type: draft.meterEvent.trim(),
            aggregation: draft.meterAggregation,
            ...(draft.meterAggregation !== 'count' && draft.meterProperty.trim()
              ? { property: draft.meterProperty.trim() }
              : {}),
          }
        : null,
    credit_cost:
      draft.type === 'metered' && draft.creditPool.trim()
        ? { pool: draft.creditPool.trim(), per_unit: Number(draft.creditPerUnit) }
        : null,
  };
}

export function createBody(draft: FeatureDraft): FeatureCreate {
  const body: FeatureCreate = { key: draft.key.trim(), type: draft.type, name: draft.name.trim() };
  for (const [field, value] of Object.entries(parts(draft))) {
    if (value !== null) (body as Record<string, unknown>)[field] = value;
  }
  if (draft.decisionLog !== 'denied') body.decision_log = draft.decisionLog;
  return body;
}

/** A patch of what the form edits (null clears an optional part). */
export function patchBody(draft: FeatureDraft): FeaturePatch {
  return { name: draft.name.trim(), ...parts(draft), decision_log: draft.decisionLog } as FeaturePatch;
}

/** The paths `FeatureFields` shows errors for (the rest go to the form's `FormError`). */
export const featureFieldPaths = [
  '/key',
  '/type',
  '/name',
  '/description',
  '/unit',
  '/options',
  '/meter',
  '/credit_cost',
  '/decision_log',
];

/**
 * The fields of a feature, for the create form (`creating`: key and type too) and the edit form.
 * The type decides which of unit, options, meter and credit cost apply.
 */
export function FeatureFields(props: {
  draft: FeatureDraft;
  onChange: (draft: FeatureDraft) => void;
  error: unknown;
  creating: boolean;
}): ReactElement {
  const { draft, error } = props;
  const set = (change: Partial<FeatureDraft>) => props.onChange({ ...draft, ...change });
  return (
    <>
      {props.creating ? (
        <div className="grid-2">
          <Field
            label="Key"
            error={fieldError(error, '/key')}
            hint="Stable, used by your code: letters, digits, _ . - (e.g. sso, api_calls)."
          >
            {(control) => (
              <input {...control} required value={draft.key} onChange={(e) => set({ key: e.target.value })} />
            )}
          </Field>
          <Field label="Type" error={fieldError(error, '/type')}>
            {(control) => (
              <select {...control} value={draft.type} onChange={(e) => set({ type: e.target.value as FeatureType })}>
                {Object.entries(featureTypes).map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
      ) : null}
      <Field label="Name" error={fieldError(error, '/name')}>
        {(control) => (
          <input {...control} required value={draft.name} onChange={(e) => set({ name: e.target.value })} />
        )}
      </Field>
      <Field label="Description" error={fieldError(error, '/description')}>
        {(control) => (
          <input {...control} value={draft.description} onChange={(e) => set({ description: e.target.value })} />
        )}
      </Field>
      {counted(draft.type) ? (
        <Field label="Unit" error={fieldError(error, '/unit')} hint="What is counted, e.g. calls, seats, GB.">
          {(control) => <input {...control} value={draft.unit} onChange={(e) => set({ unit: e.target.value })} />}
        </Field>
      ) : null}
      {draft.type === 'config' ? (
        <Field
          label="Allowed values"
          error={errorsUnder(error, '/options')}
          hint="One a line; leave empty to allow any value. Numbers, true/false and JSON are read as such."
        >
          {(control) => (
            <textarea {...control} rows={3} value={draft.options} onChange={(e) => set({ options: e.target.value })} />
          )}
        </Field>
      ) : null}
      {draft.type === 'metered' ? (
        <fieldset>
          <legend>Meter (optional: counts usage events)</legend>
          <div className="grid-2">
            <Field label="Event type" error={errorsUnder(error, '/meter/event_type') ?? errorsUnder(error, '/meter')}>
              {(control) => (
                <input {...control} value={draft.meterEvent} onChange={(e) => set({ meterEvent: e.target.value })} />
              )}
            </Field>
            <Field label="Aggregation" error={fieldError(error, '/meter/aggregation')}>
              {(control) => (
                <select
                  {...control}
                  value={draft.meterAggregation}
                  onChange={(e) => set({ meterAggregation: e.target.value as Aggregation })}
                >
                  {aggregations.map((aggregation) => (
                    <option key={aggregation} value={aggregation}>
                      {aggregation.replace('_', ' ')}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          {draft.meterAggregation !== 'count' ? (
            <Field
              label="Property"
              error={fieldError(error, '/meter/property')}
              hint="The event property that is summed, maxed or counted."
            >
              {(control) => (
                <input
                  {...control}
                  value={draft.meterProperty}
                  onChange={(e) => set({ meterProperty: e.target.value })}
                />
              )}
            </Field>
          ) : null}
        </fieldset>
      ) : null}
      {draft.type === 'metered' ? (
        <fieldset>
          <legend>Credit pool (optional: draws from another metered feature)</legend>
          <div className="grid-2">
            <Field label="Pool feature" error={fieldError(error, '/credit_cost/pool')}>
              {(control) => (
                <input {...control} value={draft.creditPool} onChange={(e) => set({ creditPool: e.target.value })} />
              )}
            </Field>
            <Field label="Pool units per unit" error={fieldError(error, '/credit_cost/per_unit')}>
              {(control) => (
                <input
                  {...control}
                  inputMode="decimal"
                  value={draft.creditPerUnit}
                  onChange={(e) => set({ creditPerUnit: e.target.value })}
                />
              )}
            </Field>
          </div>
        </fieldset>
      ) : null}
      <Field
        label="Decision log"
        error={fieldError(error, '/decision_log')}
        hint="Which checks of this feature the decision log keeps."
      >
        {(control) => (
          <select
            {...control}
            value={draft.decisionLog}
            onChange={(e) => set({ decisionLog: e.target.value as Feature['decision_log'] })}
          >
            {Object.entries(decisionLogs).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        )}
      </Field>
    </>
  );
}
