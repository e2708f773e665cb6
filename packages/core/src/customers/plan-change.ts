import type { Catalog } from '../catalog/catalog.js';
import { monthlyPrice, type PlanVersion } from '../catalog/plan.js';
import { type EntitlementChanges, entitlementChanges } from '../entitlements/changes.js';
import { type CustomerState, resolve } from '../entitlements/resolve.js';
import { defaultChangeTiming } from './lifecycle.js';
import { addInterval, effectiveStatus, type Subscription } from './subscription.js';

/** How a plan stands against the customer's: theirs, or a move up or down by monthly-equivalent price. */
export type PlanRelation = 'current' | 'upgrade' | 'downgrade';

export function planRelation(input: { current: PlanVersion | undefined; plan: PlanVersion }): PlanRelation {
  if (input.current?.key === input.plan.key) return 'current';
  if (!input.current) return 'upgrade';
  return monthlyPrice(input.plan.price) >= monthlyPrice(input.current.price) ? 'upgrade' : 'downgrade';
}

/** The customer's subscription if it still stands (not canceled or expired at `now`), else null. */
export function standingSubscription(subscription: Subscription | null, now: number): Subscription | null {
  if (!subscription) return null;
  const status = effectiveStatus(subscription, now);
  return status === 'canceled' || status === 'expired' ? null : subscription;
}

export interface PlanChangePreview {
  relation: 'upgrade' | 'downgrade';
  when: 'now' | 'period_end';
  /** When the change takes effect. */
  at: number;
  current: PlanVersion | undefined;
  target: PlanVersion;
  changes: EntitlementChanges;
}

/**
 * What moving a customer to `target` (a published base plan's latest version) would do, as the
 * portal's Confirm step shows it: whether it is an upgrade or a downgrade, when it takes effect
 * (an upgrade now and a downgrade at period end unless `when` says), and what the customer gains,
 * loses and sees change, with their grants, add-ons and targeting in both resolutions. A customer
 * with no standing subscription is previewed as subscribing now.
 */
export function previewPlanChange(input: {
  catalog: Catalog;
  state: CustomerState;
  target: PlanVersion;
  when?: 'now' | 'period_end' | undefined;
  now: number;
}): PlanChangePreview {
  const { catalog, state, target, now } = input;
  const standing = standingSubscription(state.subscription, now);
  const current = standing ? catalog.planVersion(standing.planKey, standing.planVersion) : undefined;
  const when = standing ? (input.when ?? defaultChangeTiming({ current, target })) : 'now';
  const moved: Subscription = standing
    ? { ...standing, planKey: target.key, planVersion: target.version, scheduledChange: null }
    : prospective({ customerId: state.customer.id, target, now });
  const before = resolve({ catalog, state: { ...state, subscription: standing }, now });
  const after = resolve({ catalog, state: { ...state, subscription: moved }, now });
  const relation = planRelation({ current, plan: target });
  return {
    relation: relation === 'downgrade' ? 'downgrade' : 'upgrade',
    when,
    at: when === 'now' || !standing ? now : standing.currentPeriodEnd,
    current,
    target,
    changes: entitlementChanges({ before, after }),
  };
}

/** A subscription as subscribing to `target` now would start it (for resolving what it grants). */
function prospective(input: { customerId: string; target: PlanVersion; now: number }): Subscription {
  const { target, now } = input;
  const interval = target.price?.interval ?? 'month';
  return {
    id: 'prospective',
    customerId: input.customerId,
    planKey: target.key,
    planVersion: target.version,
    status: 'active',
    currentPeriodStart: now,
    currentPeriodEnd: addInterval({ anchor: now, interval, count: 1 }),
    interval,
    billingAnchor: now,
    trialEnd: null,
    trialNoticeSent: false,
    onTrialEnd: 'cancel',
    cancelAt: null,
    canceledAt: null,
    endsAt: null,
    onEndsAt: 'expire',
    contractMonths: null,
    graceEndsAt: null,
    resumesAt: null,
    scheduledChange: null,
    addOns: [],
    source: 'api',
    createdAt: now,
  };
}
