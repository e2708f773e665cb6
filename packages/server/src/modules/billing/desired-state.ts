import {
  type AddOn,
  addInterval,
  contractMonthsBetween,
  type DomainEventType,
  invalid,
  LiveStatuses,
  periodContaining,
  type SubscriptionStatus,
} from '@keymaster/core';
import type { Db } from '../../db/database.js';
import type { SubscriptionRecord } from '../subscriptions/convert.js';
import { toDbSubscription } from '../subscriptions/convert.js';
import { planOnSale } from '../subscriptions/service.js';
import type { DesiredSubscription } from './billing-source.js';

/** Statuses the one-live-subscription rule counts (the `subscriptions_one_live` index). */
export const holdsCustomer: ReadonlySet<SubscriptionStatus> = new Set([...LiveStatuses, 'paused']);

/**
 * The subscription as the billing system wants it, from what it is now (null: it is created).
 * Plans and add-ons already on the subscription keep their version (a sync is not a migration);
 * a new plan or add-on gets its latest published version, and one that is not on sale is an
 * error naming the field. The billing system owns payment, so Keymaster's own means of ending
 * access for non-payment stay off: a trial ends into `active` (the billing system says when it
 * was not paid) and past due has no grace deadline of Keymaster's. A start in the future waits
 * paused until then, when the scheduler resumes it and its first period begins.
 */
export async function desiredState(
  tx: Db,
  input: {
    current: SubscriptionRecord | null;
    desired: DesiredSubscription;
    id: string;
    source: string;
    now: number;
  },
): Promise<SubscriptionRecord> {
  const { current, desired, now } = input;
  const samePlan = current !== null && current.planKey === desired.plan;
  const plan = samePlan ? null : await planOnSale({ db: tx, key: desired.plan, kind: 'base', path: '/plan' });
  const addOns: AddOn[] = [];
  for (const [index, wanted] of desired.addOns.entries()) {
    const path = `/add_ons/${index}/plan`;
    if (addOns.some((a) => a.planKey === wanted.plan)) {
      throw invalid([{ path, message: `"${wanted.plan}" is listed twice` }]);
    }
    const attached = current?.addOns.find((a) => a.planKey === wanted.plan);
    const version =
      attached?.planVersion ?? (await planOnSale({ db: tx, key: wanted.plan, kind: 'addon', path })).version;
    addOns.push({ planKey: wanted.plan, planVersion: version, quantity: wanted.quantity });
  }
  const interval = plan ? (plan.price?.interval ?? 'month') : current!.interval;
  const startsLater = desired.startsAt !== undefined && desired.startsAt > now && LiveStatuses.has(desired.status);

  let cycle: Pick<SubscriptionRecord, 'billingAnchor' | 'currentPeriodStart' | 'currentPeriodEnd'>;
  if (desired.period) {
    cycle = {
      billingAnchor: desired.period.start,
      currentPeriodStart: desired.period.start,
      currentPeriodEnd: desired.period.end,
    };
  } else if (current && interval === current.interval && !startsLater) {
    cycle = {
      billingAnchor: current.billingAnchor,
      currentPeriodStart: current.currentPeriodStart,
      currentPeriodEnd: current.currentPeriodEnd,
    };
  } else {
    // Created, moved to another interval, or starting later: periods count from the start (a
    // backdated contract is in the period that contains now), or from now on a change.
    const anchor = current && !startsLater ? now : (desired.startsAt ?? now);
    const period =
      anchor > now
        ? { start: anchor, end: addInterval({ anchor, interval, count: 1 }) }
        : periodContaining({ anchor, interval, now });
    cycle = { billingAnchor: anchor, currentPeriodStart: period.start, currentPeriodEnd: period.end };
  }

  const status: SubscriptionStatus = startsLater ? 'paused' : desired.status;
  const termStart = desired.startsAt ?? current?.createdAt ?? now;
  return {
    id: input.id,
    customerId: desired.customer,
    planKey: plan?.key ?? current!.planKey,
    planVersion: plan?.version ?? current!.planVersion,
    status,
    ...cycle,
    interval,
    trialEnd: desired.trialEnd,
    trialNoticeSent: current?.trialNoticeSent === true && current.trialEnd === desired.trialEnd,
    onTrialEnd: 'activate',
    cancelAt: desired.cancelAt,
    canceledAt: status === 'canceled' ? (current?.status === 'canceled' ? current.canceledAt : now) : null,
    endsAt: desired.endsAt,
    onEndsAt: desired.onEndsAt,
    contractMonths:
      desired.endsAt === null ? null : contractMonthsBetween(termStart, Math.max(desired.endsAt, termStart)),
    graceEndsAt: null,
    resumesAt: startsLater ? desired.startsAt! : null,
    scheduledChange: null,
    addOns,
    source: current?.source ?? input.source,
    createdAt: current?.createdAt ?? now,
    updatedAt: now,
  };
}

/** The domain events a sync from `before` to `after` emits, so caches drop and webhooks fire. */
export function syncEvents(before: SubscriptionRecord | null, after: SubscriptionRecord): DomainEventType[] {
  if (before === null) return ['subscription.created', 'entitlements.updated'];
  const events: DomainEventType[] = [];
  if (before.status === 'trialing' && after.status !== 'trialing') events.push('trial.ended');
  if (after.status === 'canceled' && before.status !== 'canceled') events.push('subscription.canceled');
  else if (after.status === 'expired' && before.status !== 'expired') events.push('subscription.expired');
  else if (!sameState(before, after)) events.push('subscription.updated');
  const access = (s: SubscriptionRecord) =>
    JSON.stringify([s.planKey, s.planVersion, s.addOns, s.status, s.cancelAt, s.endsAt, s.onEndsAt, s.trialEnd]);
  if (access(before) !== access(after)) events.push('entitlements.updated');
  return events;
}

function sameState(a: SubscriptionRecord, b: SubscriptionRecord): boolean {
  const { updated_at: _a, ...left } = toDbSubscription(a);
  const { updated_at: _b, ...right } = toDbSubscription(b);
  return JSON.stringify(left) === JSON.stringify(right);
}
