import type { Subscription as ApiSubscription, HistoryEntry } from '@keymaster/contract';
import {
  type AddOn,
  effectiveStatus,
  isLive,
  nextDueAt,
  type PriceInterval,
  periodContaining,
  type ScheduledChange,
  type Subscription,
} from '@keymaster/core';
import type { Selectable } from 'kysely';
import type { SubscriptionHistoryTable, SubscriptionTable } from '../../db/schema.js';
import { fromJsonColumn, toIso, toJsonColumn } from '../../json-column.js';

export type SubscriptionRecord = Subscription & { updatedAt: number };

type AddOnJson = { plan: string; plan_version: number; quantity: number };
type ScheduledChangeJson = { plan: string; plan_version: number; interval: PriceInterval; at: number };

export function fromDbSubscription(row: Selectable<SubscriptionTable>): SubscriptionRecord {
  const change = fromJsonColumn<ScheduledChangeJson>(row.scheduled_change);
  return {
    id: row.id,
    customerId: row.customer_id,
    planKey: row.plan_key,
    planVersion: row.plan_version,
    status: row.status as Subscription['status'],
    currentPeriodStart: row.current_period_start,
    currentPeriodEnd: row.current_period_end,
    trialEnd: row.trial_end,
    onTrialEnd: row.on_trial_end as Subscription['onTrialEnd'],
    cancelAt: row.cancel_at,
    canceledAt: row.canceled_at,
    endsAt: row.ends_at,
    interval: row.billing_interval as PriceInterval,
    billingAnchor: row.billing_anchor,
    trialNoticeSent: row.trial_notice_sent !== 0,
    onEndsAt: row.on_ends_at as Subscription['onEndsAt'],
    contractMonths: row.contract_months,
    graceEndsAt: row.grace_ends_at,
    resumesAt: row.resumes_at,
    scheduledChange:
      change &&
      ({
        planKey: change.plan,
        planVersion: change.plan_version,
        interval: change.interval,
        at: change.at,
      } satisfies ScheduledChange),
    addOns: (JSON.parse(row.add_ons) as AddOnJson[]).map(
      (a): AddOn => ({ planKey: a.plan, planVersion: a.plan_version, quantity: a.quantity }),
    ),
    source: row.source,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toDbSubscription(subscription: SubscriptionRecord): SubscriptionTable {
  return {
    id: subscription.id,
    customer_id: subscription.customerId,
    plan_key: subscription.planKey,
    plan_version: subscription.planVersion,
    status: subscription.status,
    current_period_start: subscription.currentPeriodStart,
    current_period_end: subscription.currentPeriodEnd,
    billing_interval: subscription.interval,
    billing_anchor: subscription.billingAnchor,
    trial_end: subscription.trialEnd,
    trial_notice_sent: subscription.trialNoticeSent ? 1 : 0,
    on_ends_at: subscription.onEndsAt,
    contract_months: subscription.contractMonths,
    grace_ends_at: subscription.graceEndsAt,
    resumes_at: subscription.resumesAt,
    next_due_at: nextDueAt(subscription),
    on_trial_end: subscription.onTrialEnd,
    cancel_at: subscription.cancelAt,
    canceled_at: subscription.canceledAt,
    ends_at: subscription.endsAt,
    scheduled_change: toJsonColumn(
      subscription.scheduledChange &&
        ({
          plan: subscription.scheduledChange.planKey,
          plan_version: subscription.scheduledChange.planVersion,
          interval: subscription.scheduledChange.interval,
          at: subscription.scheduledChange.at,
        } satisfies ScheduledChangeJson),
    ),
    add_ons: JSON.stringify(
      subscription.addOns.map(
        (a): AddOnJson => ({ plan: a.planKey, plan_version: a.planVersion, quantity: a.quantity }),
      ),
    ),
    source: subscription.source,
    created_at: subscription.createdAt,
    updated_at: subscription.updatedAt,
  };
}

/** The billing period containing `now` for a live subscription: periods follow the anchor. */
export function currentPeriod(subscription: SubscriptionRecord, now: number): { start: number; end: number } {
  if (!isLive(subscription, now) || now < subscription.currentPeriodEnd) {
    return { start: subscription.currentPeriodStart, end: subscription.currentPeriodEnd };
  }
  return periodContaining({ anchor: subscription.billingAnchor, interval: subscription.interval, now });
}

export function toApiSubscription(subscription: SubscriptionRecord, now: number): ApiSubscription {
  const period = currentPeriod(subscription, now);
  return {
    id: subscription.id,
    customer: subscription.customerId,
    plan: subscription.planKey,
    plan_version: subscription.planVersion,
    status: effectiveStatus(subscription, now),
    current_period_start: toIso(period.start),
    current_period_end: toIso(period.end),
    trial_end: toIso(subscription.trialEnd),
    on_trial_end: subscription.onTrialEnd,
    cancel_at: toIso(subscription.cancelAt),
    canceled_at: toIso(subscription.canceledAt),
    ends_at: toIso(subscription.endsAt),
    on_ends_at: subscription.onEndsAt,
    grace_ends_at: toIso(subscription.graceEndsAt),
    resumes_at: toIso(subscription.resumesAt),
    scheduled_change: subscription.scheduledChange && {
      plan: subscription.scheduledChange.planKey,
      plan_version: subscription.scheduledChange.planVersion,
      at: toIso(subscription.scheduledChange.at),
    },
    add_ons: subscription.addOns.map((a) => ({ plan: a.planKey, plan_version: a.planVersion, quantity: a.quantity })),
    source: subscription.source,
    created_at: toIso(subscription.createdAt),
    updated_at: toIso(subscription.updatedAt),
  };
}

/** One change of a subscription's history, each side as the subscription read at the change's time. */
export function toApiHistoryEntry(row: Selectable<SubscriptionHistoryTable>): HistoryEntry {
  return {
    at: toIso(row.at),
    action: row.action,
    actor: row.actor,
    reason: row.reason,
    before: row.before === null ? null : toApiSubscription(fromDbSubscription(JSON.parse(row.before)), row.at),
    after: toApiSubscription(fromDbSubscription(JSON.parse(row.after)), row.at),
  };
}
