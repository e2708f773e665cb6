import type { Feature, PlanCreate } from '@keymaster/contract';
import { useQueries, useQuery } from '@tanstack/react-query';
import { type ReactElement, useId } from 'react';
import { type Page, segment } from '../../api/client';
import { Field, fieldError } from '../../ui/forms';
import { useApi } from '../session';
import { featureKey } from './feature-api';
import { errorsUnder, looseJson, looseText } from './field-errors';
import type { PlanTerm } from './plan-diff';

type EntitlementInput = PlanCreate['entitlements'][number];
type Reset = NonNullable<PlanTerm['reset']>;

const resets: Record<Reset, string> = {
  billing_period: 'Each billing period',
  day: 'Daily',
  week: 'Weekly',
  month: 'Monthly',
  year: 'Yearly',
  never: 'Never',
};

/** One entitlement row as typed. `limit` empty means unlimited; `value` is read as JSON when it parses. */
export interface TermDraft {
  id: number;
  feature: string;
  enabled: boolean;
  limit: string;
  reset: Reset | '';
  window: string;
  overage: PlanTerm['overage'];
  value: string;
}

/** The terms a row has a field for; errors elsewhere in the row are shown under it. */
const termFieldNames = ['feature', 'enabled', 'limit', 'reset', 'window', 'overage', 'value'];

let ids = 0;
export const newTerm = (): TermDraft => {
  ids += 1;
  return { id: ids, feature: '', enabled: true, limit: '', reset: '', window: '', overage: 'block', value: '' };
};

export function termDraftsOf(terms: readonly PlanTerm[]): TermDraft[] {
  return terms.map((term) => ({
    ...newTerm(),
    feature: term.feature,
    enabled: term.enabled,
    limit: term.limit === null ? '' : String(term.limit),
    reset: term.window === null ? (term.reset ?? '') : '',
    window: term.window ?? '',
    overage: term.overage,
    value: term.value === null || term.value === undefined ? '' : looseText(term.value),
  }));
}

/**
 * The request body's entitlements. Which terms a row sends follows its feature's type (a gauge
 * has no reset, a boolean no limit); for a key the catalog does not know, whatever was typed is
 * sent and the API says what is wrong.
 */
export function termsBody(
  drafts: readonly TermDraft[],
  types: ReadonlyMap<string, Feature['type']>,
): EntitlementInput[] {
  return drafts.map((draft) => {
    const type = types.get(draft.feature.trim());
    const body: EntitlementInput = { feature: draft.feature.trim(), enabled: draft.enabled };
    const counted = type === 'metered' || type === 'gauge';
    if (counted || (type === undefined && draft.limit.trim()))
      body.limit = draft.limit.trim() === '' ? null : Number(draft.limit);
    if (type === 'metered' || (type === undefined && (draft.window.trim() || draft.reset))) {
      if (draft.window.trim()) body.window = draft.window.trim();
      else if (draft.reset) body.reset = draft.reset;
    }
    if (counted && draft.overage !== 'block') body.overage = draft.overage;
    if ((type === 'config' || type === undefined) && draft.value.trim()) body.value = looseJson(draft.value.trim());
    return body;
  });
}

/** The first page of the catalog: suggestions for the feature field and most rows' types. */
function useFeatureSuggestions() {
  const api = useApi();
  return useQuery({
    queryKey: ['features', 'suggestions'],
    queryFn: () => api.get<Page<Feature>>('/v1/features', { limit: 100 }),
    staleTime: 30_000,
  });
}

/**
 * The feature type of each row's key: from the first page of the catalog, else read one by one
 * (in the same cache as the feature page), a key the catalog lacks having none.
 */
export function useFeatureTypes(drafts: readonly TermDraft[]): Map<string, Feature['type']> {
  const api = useApi();
  const suggestions = useFeatureSuggestions();
  const types = new Map((suggestions.data?.data ?? []).map((feature) => [feature.key, feature.type] as const));
  const others = suggestions.isSuccess
    ? [...new Set(drafts.map((draft) => draft.feature.trim()).filter((key) => key && !types.has(key)))]
    : [];
  const found = useQueries({
    queries: others.map((key) => ({
      queryKey: featureKey(key),
      queryFn: () => api.get<Feature>(`/v1/features/${segment(key)}`),
      retry: false,
      staleTime: 30_000,
    })),
  });
  for (const result of found) if (result.data) types.set(result.data.key, result.data.type);
  return types;
}

/**
 * A plan's entitlements, one row a feature: whether it is on, and the terms its type has —
 * a limit and how it resets for a metered feature, a cap for a gauge, a value for a config.
 */
export function EntitlementsEditor(props: {
  drafts: TermDraft[];
  onChange: (drafts: TermDraft[]) => void;
  types: ReadonlyMap<string, Feature['type']>;
  error: unknown;
}): ReactElement {
  const listId = useId();
  // Any key can be typed; the first page of the catalog is offered.
  const suggestions = useFeatureSuggestions();
  const { drafts, error } = props;
  const set = (id: number, change: Partial<TermDraft>) =>
    props.onChange(drafts.map((draft) => (draft.id === id ? { ...draft, ...change } : draft)));
  return (
    <fieldset>
      <legend>Entitlements</legend>
      <datalist id={listId}>
        {(suggestions.data?.data ?? []).map((feature) => (
          <option key={feature.key} value={feature.key}>
            {feature.name} ({feature.type})
          </option>
        ))}
      </datalist>
      {drafts.length === 0 ? <p className="muted">No features yet: add what this plan gives.</p> : null}
      {drafts.map((draft, index) => {
        const at = `/entitlements/${index}`;
        const type = props.types.get(draft.feature.trim());
        const counted = type === 'metered' || type === 'gauge' || type === undefined;
        const rowError = errorsUnder(
          error,
          at,
          termFieldNames.map((name) => `${at}/${name}`),
        );
        return (
          <fieldset key={draft.id} className="panel">
            <legend>
              Entitlement {index + 1}
              {type ? <span className="muted small"> · {type}</span> : null}
            </legend>
            <div className="row">
              <Field label="Feature" error={fieldError(error, `${at}/feature`)}>
                {(control) => (
                  <input
                    {...control}
                    list={listId}
                    required
                    value={draft.feature}
                    onChange={(e) => set(draft.id, { feature: e.target.value })}
                  />
                )}
              </Field>
              <Field label="Enabled" error={fieldError(error, `${at}/enabled`)}>
                {(control) => (
                  <input
                    {...control}
                    type="checkbox"
                    checked={draft.enabled}
                    onChange={(e) => set(draft.id, { enabled: e.target.checked })}
                  />
                )}
              </Field>
              {counted ? (
                <Field label="Limit" error={fieldError(error, `${at}/limit`)} hint="Empty: unlimited.">
                  {(control) => (
                    <input
                      {...control}
                      type="number"
                      min={0}
                      step={1}
                      value={draft.limit}
                      onChange={(e) => set(draft.id, { limit: e.target.value })}
                    />
                  )}
                </Field>
              ) : null}
              {type === 'metered' || type === undefined ? (
                <>
                  <Field label="Resets" error={fieldError(error, `${at}/reset`)}>
                    {(control) => (
                      <select
                        {...control}
                        value={draft.reset}
                        disabled={draft.window.trim() !== ''}
                        onChange={(e) => set(draft.id, { reset: e.target.value as Reset | '' })}
                      >
                        <option value="">Default (billing period)</option>
                        {Object.entries(resets).map(([value, label]) => (
                          <option key={value} value={value}>
                            {label}
                          </option>
                        ))}
                      </select>
                    )}
                  </Field>
                  <Field
                    label="Rolling window"
                    error={fieldError(error, `${at}/window`)}
                    hint="Instead of a reset, e.g. 5h or 7d."
                  >
                    {(control) => (
                      <input
                        {...control}
                        value={draft.window}
                        onChange={(e) => set(draft.id, { window: e.target.value })}
                      />
                    )}
                  </Field>
                </>
              ) : null}
              {counted ? (
                <Field label="At the limit" error={fieldError(error, `${at}/overage`)}>
                  {(control) => (
                    <select
                      {...control}
                      value={draft.overage}
                      onChange={(e) => set(draft.id, { overage: e.target.value as PlanTerm['overage'] })}
                    >
                      <option value="block">Block</option>
                      <option value="allow">Allow overage</option>
                    </select>
                  )}
                </Field>
              ) : null}
              {type === 'config' || type === undefined ? (
                <Field label="Value" error={fieldError(error, `${at}/value`)}>
                  {(control) => (
                    <input
                      {...control}
                      value={draft.value}
                      onChange={(e) => set(draft.id, { value: e.target.value })}
                    />
                  )}
                </Field>
              ) : null}
            </div>
            {rowError ? (
              <p className="form-error" role="alert">
                {rowError}
              </p>
            ) : null}
            <button type="button" onClick={() => props.onChange(drafts.filter((d) => d.id !== draft.id))}>
              Remove entitlement {index + 1}
            </button>
          </fieldset>
        );
      })}
      <button type="button" onClick={() => props.onChange([...drafts, newTerm()])}>
        Add entitlement
      </button>
    </fieldset>
  );
}
