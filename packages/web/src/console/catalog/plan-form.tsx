import type { Feature, Plan, PlanCreate, PlanPatch } from '@keymaster/contract';
import type { ReactElement } from 'react';
import { Field, fieldError } from '../../ui/forms';
import { EntitlementsEditor, type TermDraft, termDraftsOf, termsBody } from './EntitlementsEditor';
import { errorsUnder } from './field-errors';

export const planKinds = { base: 'Base plan', addon: 'Add-on' } as const satisfies Record<Plan['kind'], string>;

/** What the plan form holds, as typed. The price is in major units (`49.00`); empty means free. */
export interface PlanDraft {
  key: string;
  name: string;
  description: string;
  kind: Plan['kind'];
  price: string;
  currency: string;
  interval: 'month' | 'year';
  trialDays: string;
  stripeProduct: string;
  entitlements: TermDraft[];
}

export const emptyPlan: PlanDraft = {
  key: '',
  name: '',
  description: '',
  kind: 'base',
  price: '',
  currency: 'usd',
  interval: 'month',
  trialDays: '',
  stripeProduct: '',
  entitlements: [],
};

/** How many minor units a major one has in `currency` (2 for usd, 0 for jpy). */
function minorDigits(currency: string): number {
  try {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() });
    return format.resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

export function planDraftOf(plan: Plan): PlanDraft {
  return {
    key: plan.key,
    name: plan.name,
    description: plan.description ?? '',
    kind: plan.kind,
    price: plan.price ? (plan.price.amount / 10 ** minorDigits(plan.price.currency)).toString() : '',
    currency: plan.price?.currency ?? 'usd',
    interval: plan.price?.interval ?? 'month',
    trialDays: plan.trial_days === null ? '' : String(plan.trial_days),
    stripeProduct: plan.stripe_product ?? '',
    entitlements: termDraftsOf(plan.entitlements),
  };
}

/** The fields a draft sets, each null when the form leaves it empty. */
function fields(draft: PlanDraft, types: ReadonlyMap<string, Feature['type']>) {
  const currency = draft.currency.trim().toLowerCase();
  return {
    name: draft.name.trim(),
    description: draft.description.trim() || null,
    price:
      draft.price.trim() === ''
        ? null
        : {
            amount: Math.round(Number(draft.price) * 10 ** minorDigits(currency)),
            currency,
            interval: draft.interval,
          },
    trial_days: draft.trialDays.trim() === '' ? null : Number(draft.trialDays),
    stripe_product: draft.stripeProduct.trim() || null,
    entitlements: termsBody(draft.entitlements, types),
  };
}

export function planCreateBody(draft: PlanDraft, types: ReadonlyMap<string, Feature['type']>): PlanCreate {
  const body: Record<string, unknown> = { key: draft.key.trim(), kind: draft.kind };
  for (const [field, value] of Object.entries(fields(draft, types))) if (value !== null) body[field] = value;
  return body as PlanCreate;
}

/** A patch of everything the form edits (null clears): it edits the draft or opens the next version. */
export function planPatchBody(draft: PlanDraft, types: ReadonlyMap<string, Feature['type']>): PlanPatch {
  return fields(draft, types) as PlanPatch;
}

export const planFieldPaths = [
  '/key',
  '/kind',
  '/name',
  '/description',
  '/price',
  '/trial_days',
  '/stripe_product',
  '/entitlements',
];

/** A plan's fields and entitlements, for the create form (`creating`: key and kind too) and the draft editor. */
export function PlanFields(props: {
  draft: PlanDraft;
  onChange: (draft: PlanDraft) => void;
  types: ReadonlyMap<string, Feature['type']>;
  error: unknown;
  creating: boolean;
}): ReactElement {
  const { draft, error } = props;
  const set = (change: Partial<PlanDraft>) => props.onChange({ ...draft, ...change });
  return (
    <>
      {props.creating ? (
        <div className="grid-2">
          <Field label="Key" error={fieldError(error, '/key')} hint="Stable slug: lower-case letters, digits, _ . -">
            {(control) => (
              <input {...control} required value={draft.key} onChange={(e) => set({ key: e.target.value })} />
            )}
          </Field>
          <Field label="Kind" error={fieldError(error, '/kind')}>
            {(control) => (
              <select {...control} value={draft.kind} onChange={(e) => set({ kind: e.target.value as Plan['kind'] })}>
                {Object.entries(planKinds).map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
      ) : null}
      <div className="grid-2">
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
      </div>
      <div className="row">
        <Field label="Price" error={errorsUnder(error, '/price/amount')} hint="Empty: free.">
          {(control) => (
            <input
              {...control}
              inputMode="decimal"
              placeholder="49.00"
              value={draft.price}
              onChange={(e) => set({ price: e.target.value })}
            />
          )}
        </Field>
        <Field label="Currency" error={errorsUnder(error, '/price/currency') ?? fieldError(error, '/price')}>
          {(control) => (
            <input {...control} size={4} value={draft.currency} onChange={(e) => set({ currency: e.target.value })} />
          )}
        </Field>
        <Field label="Billed" error={fieldError(error, '/price/interval')}>
          {(control) => (
            <select
              {...control}
              value={draft.interval}
              onChange={(e) => set({ interval: e.target.value as PlanDraft['interval'] })}
            >
              <option value="month">Monthly</option>
              <option value="year">Yearly</option>
            </select>
          )}
        </Field>
        <Field label="Trial days" error={fieldError(error, '/trial_days')}>
          {(control) => (
            <input
              {...control}
              type="number"
              min={0}
              value={draft.trialDays}
              onChange={(e) => set({ trialDays: e.target.value })}
            />
          )}
        </Field>
        <Field label="Stripe product" error={fieldError(error, '/stripe_product')}>
          {(control) => (
            <input
              {...control}
              placeholder="prod_…"
              value={draft.stripeProduct}
              onChange={(e) => set({ stripeProduct: e.target.value })}
            />
          )}
        </Field>
      </div>
      <EntitlementsEditor
        drafts={draft.entitlements}
        onChange={(entitlements) => set({ entitlements })}
        types={props.types}
        error={error}
      />
      {fieldError(error, '/entitlements') ? (
        <p className="form-error" role="alert">
          {fieldError(error, '/entitlements')}
        </p>
      ) : null}
    </>
  );
}
