import type { JsonValue } from '../json.js';
import type { CustomerEntitlements, Entitlement } from './entitlement.js';

/** The terms of one entitlement that a plan change can move. */
export interface Terms {
  enabled: boolean;
  limit: number | null;
  value: JsonValue | null;
}

/** What a customer would gain, lose and see changed if their entitlements went from `before` to `after`. */
export interface EntitlementChanges {
  /** Features they would get that they do not have. */
  gained: string[];
  /** Features they have that they would no longer get. */
  lost: string[];
  /** Features they keep, with another limit or value. */
  changed: { feature: string; before: Terms; after: Terms }[];
}

const termsOf = (e: Entitlement): Terms => ({ enabled: e.enabled, limit: e.limit, value: e.value });

/** Each feature's terms, by key in key order: a resolution as a change's event shows it. */
export function entitlementTerms(resolved: CustomerEntitlements): Record<string, Terms> {
  const terms: Record<string, Terms> = {};
  for (const feature of [...resolved.entitlements.keys()].sort())
    terms[feature] = termsOf(resolved.entitlements.get(feature)!);
  return terms;
}

/**
 * Compares two resolutions of one customer (today's, and under a plan they may move to), feature
 * by feature: grants, add-ons and targeting are in both, so what differs is what the move does
 * to this customer, not merely what differs between the two plans. A limit going to unlimited
 * (null) is a change like any other.
 */
export function entitlementChanges(input: { before: CustomerEntitlements; after: CustomerEntitlements }) {
  const changes: EntitlementChanges = { gained: [], lost: [], changed: [] };
  const features = new Set([...input.before.entitlements.keys(), ...input.after.entitlements.keys()]);
  for (const feature of [...features].sort()) {
    const before = input.before.entitlements.get(feature);
    const after = input.after.entitlements.get(feature);
    const was = before?.enabled ?? false;
    const will = after?.enabled ?? false;
    if (!was && will) changes.gained.push(feature);
    else if (was && !will) changes.lost.push(feature);
    else if (was && will && before && after) {
      const limitMoved = before.limit !== after.limit || before.unlimited !== after.unlimited;
      const valueMoved = JSON.stringify(before.value) !== JSON.stringify(after.value);
      if (limitMoved || valueMoved) changes.changed.push({ feature, before: termsOf(before), after: termsOf(after) });
    }
  }
  return changes;
}
