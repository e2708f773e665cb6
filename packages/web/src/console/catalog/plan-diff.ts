import type { Plan } from '@keymaster/contract';
import { formatCount, formatMoney } from '../../ui/format';

/** One entitlement of a plan version, as the API answers it. */
export type PlanTerm = Plan['entitlements'][number];

/** The terms of an entitlement that a version can change. */
export const termFields = ['enabled', 'limit', 'reset', 'window', 'overage', 'value'] as const;
export type TermField = (typeof termFields)[number];

export interface EntitlementChange {
  feature: string;
  kind: 'added' | 'removed' | 'changed';
  from: PlanTerm | null;
  to: PlanTerm | null;
  /** The terms that differ (all of them for an added or removed feature). */
  fields: TermField[];
}

/** Key-order-independent JSON, so `{a, b}` and `{b, a}` config values compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * What changes for a feature between two versions of a plan, by feature key: features only the
 * newer one has are added, features only the older one has are removed, and features both have
 * with different terms are changed. Unchanged features are left out.
 *
 * @example
 * diffEntitlements(v1.entitlements, v2.entitlements)
 * // [{ feature: 'api_calls', kind: 'changed', fields: ['limit'], from: {..., limit: 1000}, to: {..., limit: 5000} }]
 */
export function diffEntitlements(from: readonly PlanTerm[], to: readonly PlanTerm[]): EntitlementChange[] {
  const before = new Map(from.map((term) => [term.feature, term]));
  const after = new Map(to.map((term) => [term.feature, term]));
  const features = [...new Set([...before.keys(), ...after.keys()])].sort();
  const changes: EntitlementChange[] = [];
  for (const feature of features) {
    const a = before.get(feature) ?? null;
    const b = after.get(feature) ?? null;
    if (a === null && b !== null) changes.push({ feature, kind: 'added', from: null, to: b, fields: [...termFields] });
    else if (a !== null && b === null)
      changes.push({ feature, kind: 'removed', from: a, to: null, fields: [...termFields] });
    else if (a !== null && b !== null) {
      const fields = termFields.filter((field) => canonical(a[field]) !== canonical(b[field]));
      if (fields.length > 0) changes.push({ feature, kind: 'changed', from: a, to: b, fields });
    }
  }
  return changes;
}

/** The plan-wide fields a version can change, with how to say them. */
const planFields: readonly { field: keyof Plan; label: string; say: (plan: Plan) => string }[] = [
  { field: 'name', label: 'Name', say: (plan) => plan.name },
  { field: 'description', label: 'Description', say: (plan) => plan.description ?? '—' },
  { field: 'price', label: 'Price', say: (plan) => describePrice(plan.price) },
  { field: 'trial_days', label: 'Trial', say: (plan) => (plan.trial_days ? `${plan.trial_days} days` : 'none') },
  { field: 'stripe_product', label: 'Stripe product', say: (plan) => plan.stripe_product ?? '—' },
];

/** The plan-wide fields (name, price, trial...) that differ between two versions, said as text. */
export function diffPlanFields(from: Plan, to: Plan): { label: string; from: string; to: string }[] {
  return planFields
    .filter(({ field }) => canonical(from[field]) !== canonical(to[field]))
    .map(({ label, say }) => ({ label, from: say(from), to: say(to) }));
}

export function describePrice(price: Plan['price']): string {
  return price ? `${formatMoney(price.amount, price.currency)} / ${price.interval}` : 'free';
}

const resetLabels: Record<NonNullable<PlanTerm['reset']>, string> = {
  day: 'resets daily',
  week: 'resets weekly',
  month: 'resets monthly',
  year: 'resets yearly',
  billing_period: 'resets each billing period',
  never: 'never resets',
};

/** One term of an entitlement, for a person: `limit 1,000`, `resets every month`. */
export function describeTerm(term: PlanTerm, field: TermField): string {
  switch (field) {
    case 'enabled':
      return term.enabled ? 'on' : 'off';
    case 'limit':
      return term.limit === null ? 'unlimited' : `limit ${formatCount(term.limit)}`;
    case 'reset':
      return term.reset === null ? 'no reset' : resetLabels[term.reset];
    case 'window':
      return term.window === null ? 'no window' : `per rolling ${term.window}`;
    case 'overage':
      return term.overage === 'allow' ? 'overage allowed' : 'blocks at the limit';
    case 'value':
      return term.value === null || term.value === undefined ? 'no value' : `value ${JSON.stringify(term.value)}`;
  }
}

/**
 * An entitlement's terms in a few words (`on, limit 1,000, resets every month`): only the terms
 * that say something for it, since every feature type leaves some of them null.
 */
export function describeTerms(term: PlanTerm): string {
  if (!term.enabled) return 'off';
  const parts = ['on'];
  if (term.limit !== null || term.reset !== null || term.window !== null) parts.push(describeTerm(term, 'limit'));
  if (term.reset !== null) parts.push(describeTerm(term, 'reset'));
  if (term.window !== null) parts.push(describeTerm(term, 'window'));
  if (term.overage === 'allow') parts.push(describeTerm(term, 'overage'));
  if (term.value !== null && term.value !== undefined) parts.push(describeTerm(term, 'value'));
  return parts.join(', ');
}
