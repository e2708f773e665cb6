import { type Feature, isAllowedConfigValue, isQuantityType } from '../catalog/feature.js';
import type { FieldError } from '../errors.js';
import type { JsonValue } from '../json.js';

export const GrantModes = ['override', 'add', 'credit'] as const;
export type GrantMode = (typeof GrantModes)[number];

/**
 * A per-customer exception to the plan. `override` replaces whatever the plan and targeting say
 * for the terms it sets (a term left undefined keeps the layer below); `add` adds `limit` units to
 * the limit the customer otherwise has, in every period while it is active — an extra seat pack,
 * a standing bonus; `credit` gives a one-off balance of `limit` units of a metered feature, used
 * once and kept across period resets until it runs out or expires (see entitlements/README.md).
 */
export interface Grant {
  id: string;
  customerId: string;
  feature: string;
  mode: GrantMode;
  enabled: boolean | undefined;
  limit: number | null | undefined;
  value: JsonValue | undefined;
  startsAt: number | null;
  expiresAt: number | null;
  reason: string;
  createdAt: number;
  revokedAt: number | null;
  /** For `credit` grants: the units not used yet (kept by the store as they are drawn); else null. */
  remaining: number | null;
  /**
   * For `add` grants on metered features: at each renewal, what is left of this grant's units in
   * the period that ended is carried into the next period as one-off credits, at most this many.
   * Null: nothing carries over.
   */
  rolloverCap: number | null;
}

/** Whether a grant applies at `now`: started, not expired, not revoked. */
export function isGrantActive(grant: Grant, now: number): boolean {
  if (grant.revokedAt !== null && grant.revokedAt <= now) return false;
  if (grant.startsAt !== null && now < grant.startsAt) return false;
  if (grant.expiresAt !== null && now >= grant.expiresAt) return false;
  return true;
}

/** The instants after `now` at which a grant starts or stops applying. */
export function grantBoundaries(grant: Grant, now: number): number[] {
  return [grant.startsAt, grant.expiresAt].filter((t): t is number => t !== null && t > now);
}

/** Checks a new grant against its feature; returns every problem at once. */
export function validateGrant(input: {
  grant: Pick<Grant, 'mode' | 'enabled' | 'limit' | 'value' | 'startsAt' | 'expiresAt'> &
    Partial<Pick<Grant, 'rolloverCap'>>;
  feature: Feature;
}): FieldError[] {
  const { grant, feature } = input;
  const errors: FieldError[] = [];
  if (grant.rolloverCap !== undefined && grant.rolloverCap !== null) {
    if (grant.mode !== 'add' || feature.type !== 'metered') {
      errors.push({ path: '/rollover_cap', message: 'only an "add" grant of a metered feature rolls over' });
    } else if (!Number.isInteger(grant.rolloverCap) || grant.rolloverCap < 0) {
      errors.push({ path: '/rollover_cap', message: 'must be a non-negative integer' });
    }
  }
  const quantity = isQuantityType(feature.type);
  if (grant.mode === 'credit') {
    if (feature.type !== 'metered') {
      errors.push({
        path: '/mode',
        message: `"credit" needs a metered feature; "${feature.key}" is ${feature.type}`,
      });
    } else if (feature.creditCost) {
      errors.push({
        path: '/feature',
        message: `"${feature.key}" draws from the pool "${feature.creditCost.pool}": grant credits to the pool`,
      });
    }
    if (typeof grant.limit !== 'number' || grant.limit <= 0) {
      errors.push({ path: '/limit', message: 'a "credit" grant needs a positive number of units' });
    }
    if (grant.enabled === false) errors.push({ path: '/enabled', message: 'a "credit" grant cannot disable' });
  }
  if (grant.mode === 'add') {
    if (!quantity) {
      errors.push({
        path: '/mode',
        message: `"add" needs a metered or gauge feature; "${feature.key}" is ${feature.type}`,
      });
    } else if (typeof grant.limit !== 'number' || grant.limit <= 0) {
      errors.push({ path: '/limit', message: 'an "add" grant needs a positive number of units' });
    }
    if (grant.enabled === false) errors.push({ path: '/enabled', message: 'an "add" grant cannot disable' });
  }
  if (!quantity && grant.limit !== undefined && grant.limit !== null) {
    errors.push({ path: '/limit', message: `a ${feature.type} feature has no limit` });
  }
  if (typeof grant.limit === 'number' && (!Number.isInteger(grant.limit) || grant.limit < 0)) {
    errors.push({ path: '/limit', message: 'must be a non-negative integer, or null for unlimited' });
  }
  if (grant.mode === 'override' && quantity && grant.enabled !== false && grant.limit === undefined) {
    errors.push({ path: '/limit', message: 'is required to grant a metered or gauge feature (null for unlimited)' });
  }
  if (feature.type === 'config') {
    if (grant.enabled !== false && grant.value === undefined) {
      errors.push({ path: '/value', message: 'a config feature grant needs a value' });
    } else if (grant.value !== undefined && !isAllowedConfigValue(feature, grant.value)) {
      errors.push({ path: '/value', message: `must be one of ${JSON.stringify(feature.options)}` });
    }
  } else if (grant.value !== undefined) {
    errors.push({ path: '/value', message: `a ${feature.type} feature has no value` });
  }
  if (grant.startsAt !== null && grant.expiresAt !== null && grant.expiresAt <= grant.startsAt) {
    errors.push({ path: '/expires_at', message: 'must be after starts_at' });
  }
  return errors;
}

/**
 * What rolls over at the end of a period from `add` grants with a rollover cap. Usage draws the
 * plan's own allowance first, then the `add` grants in the order they were given; what is left of
 * a rolling grant carries over, up to its cap. `limit` is the period's whole limit (allowance and
 * every active `add` grant); an unlimited feature has nothing to carry.
 */
export function rolloverCarries(input: {
  limit: number | null;
  usage: number;
  /** The active `add` grants on the feature, any order. */
  addGrants: readonly Grant[];
}): { grant: Grant; carry: number }[] {
  if (input.limit === null) return [];
  const grants = [...input.addGrants].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  const added = grants.reduce((sum, g) => sum + (g.limit ?? 0), 0);
  // Units of usage left to pay for after the plan's own allowance.
  let beyond = Math.max(0, input.usage - Math.max(0, input.limit - added));
  const carries: { grant: Grant; carry: number }[] = [];
  for (const grant of grants) {
    const units = grant.limit ?? 0;
    const used = Math.min(units, beyond);
    beyond -= used;
    if (grant.rolloverCap !== null && grant.rolloverCap > 0) {
      const carry = Math.min(units - used, grant.rolloverCap);
      if (carry > 0) carries.push({ grant, carry });
    }
  }
  return carries;
}
