import type { FieldError } from '../errors.js';
import type { JsonValue } from '../json.js';
import { type Feature, isAllowedConfigValue, isQuantityType, validateKey } from './feature.js';

export const PlanStatuses = ['draft', 'published', 'archived'] as const;
export type PlanStatus = (typeof PlanStatuses)[number];

export const PlanKinds = ['base', 'addon'] as const;
export type PlanKind = (typeof PlanKinds)[number];

export const PriceIntervals = ['month', 'year'] as const;
export type PriceInterval = (typeof PriceIntervals)[number];

export const Resets = ['day', 'week', 'month', 'year', 'billing_period', 'never'] as const;
export type Reset = (typeof Resets)[number];

export const Overages = ['block', 'allow'] as const;
export type Overage = (typeof Overages)[number];

/** Money in minor units (cents), as on the wire. */
export interface Price {
  amount: number;
  currency: string;
  interval: PriceInterval;
}

/**
 * What a plan gives for one feature. `limit: null` means unlimited; `limit` only applies to
 * metered and gauge features, `value` only to config features.
 */
export interface PlanEntitlement {
  feature: string;
  enabled: boolean;
  limit: number | null;
  reset: Reset | null;
  /** A rolling window (e.g. "5h") instead of a calendar reset. */
  window: string | null;
  overage: Overage;
  value: JsonValue | null;
}

/** A plan entitlement as written by a user: `limit` may be left out, which is only valid where it means nothing. */
export type PlanEntitlementInput = Omit<PlanEntitlement, 'limit'> & { limit?: number | null };

/**
 * One version of a plan. A published version is immutable: subscribers stay on the version they
 * bought until migrated, so editing a published plan opens the next version as a draft.
 */
export interface PlanVersion {
  key: string;
  version: number;
  name: string;
  description: string | null;
  status: PlanStatus;
  kind: PlanKind;
  price: Price | null;
  trialDays: number | null;
  entitlements: PlanEntitlement[];
}

const windowPattern = /^([1-9][0-9]*)(m|h|d|w)$/;
const windowUnitMs = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** Parses a rolling window such as `30m`, `5h`, `7d` or `2w` into milliseconds; null if malformed. */
export function parseWindow(window: string): number | null {
  const match = windowPattern.exec(window);
  if (!match) return null;
  return Number(match[1]) * windowUnitMs[match[2] as keyof typeof windowUnitMs];
}

/** The monthly-equivalent price used to rank plans; plans without a price rank last. */
export function monthlyPrice(price: Price | null): number {
  if (!price) return Number.POSITIVE_INFINITY;
  return price.interval === 'year' ? price.amount / 12 : price.amount;
}

/**
 * Checks a plan version against the feature catalog: every entitlement names a known feature
 * once, and its terms fit that feature's type. Returns every problem at once.
 */
export function validatePlan(input: {
  plan: Omit<PlanVersion, 'status' | 'version' | 'entitlements'> & { entitlements: PlanEntitlementInput[] };
  features: ReadonlyMap<string, Feature>;
}): FieldError[] {
  const { plan, features } = input;
  const errors = validateKey(plan.key, '/key');
  if (plan.price && plan.price.amount < 0) {
    errors.push({ path: '/price/amount', message: 'must not be negative' });
  }
  const seen = new Set<string>();
  plan.entitlements.forEach((entitlement, index) => {
    const at = (field: string) => `/entitlements/${index}/${field}`;
    const feature = features.get(entitlement.feature);
    if (!feature) {
      errors.push({ path: at('feature'), message: `unknown feature "${entitlement.feature}"` });
      return;
    }
    if (seen.has(entitlement.feature)) {
      errors.push({ path: at('feature'), message: `feature "${entitlement.feature}" is listed twice` });
    }
    seen.add(entitlement.feature);
    errors.push(...validateTerms({ feature, terms: entitlement, at }));
  });
  return errors;
}

function validateTerms(input: {
  feature: Feature;
  terms: PlanEntitlementInput;
  at: (field: string) => string;
}): FieldError[] {
  const { feature, terms, at } = input;
  const errors: FieldError[] = [];
  const quantity = isQuantityType(feature.type);
  if (quantity && terms.enabled && terms.limit === undefined) {
    errors.push({ path: at('limit'), message: 'is required for a metered or gauge feature (null for unlimited)' });
  }
  if (!quantity && terms.limit !== undefined && terms.limit !== null) {
    errors.push({ path: at('limit'), message: `a ${feature.type} feature has no limit` });
  }
  if (typeof terms.limit === 'number' && (!Number.isInteger(terms.limit) || terms.limit < 0)) {
    errors.push({ path: at('limit'), message: 'must be a non-negative integer, or null for unlimited' });
  }
  if (feature.type !== 'metered' && (terms.reset !== null || terms.window !== null)) {
    errors.push({
      path: at(terms.reset !== null ? 'reset' : 'window'),
      message: `only metered features reset; "${feature.key}" is ${feature.type}`,
    });
  }
  if (terms.reset !== null && terms.window !== null) {
    errors.push({ path: at('window'), message: 'use either reset or window, not both' });
  }
  if (terms.window !== null && parseWindow(terms.window) === null) {
    errors.push({ path: at('window'), message: 'must be a duration such as "30m", "5h", "7d" or "2w"' });
  }
  if (feature.type === 'config') {
    if (terms.enabled && terms.value === null) {
      errors.push({ path: at('value'), message: 'a config feature needs a value' });
    } else if (terms.value !== null && !isAllowedConfigValue(feature, terms.value)) {
      errors.push({ path: at('value'), message: `must be one of ${JSON.stringify(feature.options)}` });
    }
  } else if (terms.value !== null) {
    errors.push({ path: at('value'), message: `a ${feature.type} feature has no value` });
  }
  return errors;
}
