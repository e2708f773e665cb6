import type { Price } from '../catalog/plan.js';
import { type Grant, isGrantActive } from '../customers/grant.js';
import {
  effectiveStatus,
  periodContaining,
  type Subscription,
  type SubscriptionStatus,
  statusBoundaries,
} from '../customers/subscription.js';

/**
 * The usage-vs-revenue audit: for one customer over a range of time, what their subscription
 * earned and how much of what they pay for they use. Pure arithmetic over facts the server reads
 * (the subscription's history as spans of constant state, usage, grants); every figure keeps the
 * ids it was computed from, so finance can check it by hand.
 */

/** An instant range [from, to), in epoch milliseconds. */
export interface TimeRange {
  from: number;
  to: number;
}

/**
 * One stretch of a subscription during which nothing about it changed: its status, what it was
 * billed (the base plan's and each add-on's price times quantity) and the billing period that
 * stretch lies in. A period cut by a change (an upgrade mid-period) is two spans of one period.
 */
export interface SubscriptionSpan {
  subscriptionId: string;
  from: number;
  to: number;
  status: SubscriptionStatus;
  /** The billing period this span lies in: revenue is the period's price prorated by the span's share of it. */
  period: TimeRange;
  plan: string;
  /** Each priced item: the base plan and its add-ons (quantity already applied to `amount`). */
  items: readonly { plan: string; price: Price; quantity: number }[];
}

/** The priced items of a subscription as it stood: its base plan's and add-ons' prices (unpriced ones left out). */
export type PricedItems = (subscription: Subscription) => SubscriptionSpan['items'];

/**
 * A subscription's history as spans of constant state, up to `until`: between two recorded
 * states the later-recorded one holds, cut again wherever time alone changes it (a trial ending,
 * a scheduled cancellation, a grace period running out: see `effectiveStatus`) and at every
 * billing period boundary. The stored current period is used while it lasts (a billing system's
 * own periods), and periods counted from the anchor after it.
 */
export function subscriptionSpans(input: {
  /** One subscription's recorded states, oldest first, each from the instant it was recorded. */
  states: readonly { at: number; subscription: Subscription }[];
  until: number;
  items: PricedItems;
}): SubscriptionSpan[] {
  const spans: SubscriptionSpan[] = [];
  input.states.forEach(({ at, subscription }, i) => {
    const end = Math.min(input.states[i + 1]?.at ?? input.until, input.until);
    const items = input.items(subscription);
    for (let t = at; t < end; ) {
      const period =
        t >= subscription.currentPeriodStart && t < subscription.currentPeriodEnd
          ? { from: subscription.currentPeriodStart, to: subscription.currentPeriodEnd }
          : (({ start, end: to }) => ({ from: start, to }))(
              periodContaining({ anchor: subscription.billingAnchor, interval: subscription.interval, now: t }),
            );
      const next = Math.min(end, period.to, ...statusBoundaries(subscription, t));
      spans.push({
        subscriptionId: subscription.id,
        from: t,
        to: next,
        status: effectiveStatus(subscription, t),
        period,
        plan: subscription.planKey,
        items,
      });
      t = next;
    }
  });
  return spans;
}

/** Money in minor units, per currency (a customer billed in two currencies keeps both). */
export type Amounts = Record<string, number>;

/** What one span earned inside the range, and why: the evidence row behind a revenue figure. */
export interface RevenueLine {
  subscriptionId: string;
  plan: string;
  /** The part of the span inside the range. */
  from: number;
  to: number;
  period: TimeRange;
  status: SubscriptionStatus;
  /** The fraction of the period's price this part earns: its share of the period; 0 when the status earns nothing. */
  share: number;
  amounts: Amounts;
}

/** Only paid, running time earns: a trial, a pause, a cancellation, an expiry and past-due time earn 0. */
export const earningStatuses: ReadonlySet<SubscriptionStatus> = new Set(['active']);

/** Statuses that give access: the time they earn nothing is unpaid access. */
const accessStatuses: ReadonlySet<SubscriptionStatus> = new Set(['trialing', 'active', 'past_due']);

/**
 * The revenue of a customer's spans over `range`: each span's part inside the range earns its
 * period's price times the share of the period it covers, when its status earns. Amounts are
 * rounded to whole minor units per line, so the lines add up to the total exactly.
 */
export function revenueOver(
  spans: readonly SubscriptionSpan[],
  range: TimeRange,
): { lines: RevenueLine[]; total: Amounts } {
  const lines: RevenueLine[] = [];
  const total: Amounts = {};
  for (const span of spans) {
    const from = Math.max(span.from, range.from, span.period.from);
    const to = Math.min(span.to, range.to, span.period.to);
    if (to <= from) continue;
    const periodLength = span.period.to - span.period.from;
    const share = earningStatuses.has(span.status) && periodLength > 0 ? (to - from) / periodLength : 0;
    const amounts: Amounts = {};
    for (const item of span.items) {
      const amount = Math.round(item.price.amount * item.quantity * share);
      amounts[item.price.currency] = (amounts[item.price.currency] ?? 0) + amount;
    }
    for (const [currency, amount] of Object.entries(amounts)) total[currency] = (total[currency] ?? 0) + amount;
    lines.push({
      subscriptionId: span.subscriptionId,
      plan: span.plan,
      from,
      to,
      period: span.period,
      status: span.status,
      share,
      amounts,
    });
  }
  return { lines, total };
}

/** Time in the range during which a span gave access and earned nothing (a trial, past-due time). */
export function unpaidAccessMs(spans: readonly SubscriptionSpan[], range: TimeRange): number {
  let unpaid = 0;
  for (const span of spans) {
    if (!accessStatuses.has(span.status) || earningStatuses.has(span.status)) continue;
    const from = Math.max(span.from, range.from);
    const to = Math.min(span.to, range.to);
    if (to > from) unpaid += to - from;
  }
  return unpaid;
}

/** One limited feature's use over the range. */
export interface FeatureUse {
  feature: string;
  /** The limit of the feature's usage period at the end of the range; null: unlimited. */
  limit: number | null;
  /** The usage of the feature's usage period at the end of the range, which `limit` applies to. */
  usage: number;
  /** Everything used over the whole range, every period together. */
  usedInRange: number;
  /** Whether the customer pays for it: it comes from their plan or an add-on, not only from grants. */
  paid: boolean;
}

export const UsageRevenueFlags = ['upsell', 'unused', 'over_limit', 'unpaid_access'] as const;
export type UsageRevenueFlag = (typeof UsageRevenueFlags)[number];

/** A feature at or past this share of its limit is an upsell. */
export const upsellUtilization = 0.8;

/** usage ÷ limit, or null for an unlimited feature. */
export function utilization(use: FeatureUse): number | null {
  if (use.limit === null) return null;
  if (use.limit === 0) return use.usage > 0 ? Number.POSITIVE_INFINITY : 0;
  return use.usage / use.limit;
}

/**
 * The flags of one customer's row: `upsell` (a limited feature at 80 % of its limit or more),
 * `unused` (a limited feature they pay for and did not use), `over_limit` (usage past the limit),
 * `unpaid_access` (access that earns nothing: a grant of a feature they do not pay for, past-due
 * time, a trial).
 */
export function flagsOf(input: {
  features: readonly FeatureUse[];
  unpaidAccessMs: number;
  /** Features the customer has only through grants. */
  grantedOnly: readonly string[];
}): UsageRevenueFlag[] {
  const flags = new Set<UsageRevenueFlag>();
  for (const use of input.features) {
    const ratio = utilization(use);
    if (ratio === null) continue;
    if (ratio >= upsellUtilization) flags.add('upsell');
    if (use.limit !== null && use.usage > use.limit) flags.add('over_limit');
    if (use.paid && use.usedInRange === 0) flags.add('unused');
  }
  if (input.unpaidAccessMs > 0 || input.grantedOnly.length > 0) flags.add('unpaid_access');
  return UsageRevenueFlags.filter((flag) => flags.has(flag));
}

/**
 * The grants behind a feature's entitlement at `at`: the customer's grants of that feature that
 * apply then (started, not expired, not revoked), by id — a comped limit, added units, credits.
 */
export function grantsBehind(grants: readonly Grant[], feature: string, at: number): string[] {
  return grants.filter((grant) => grant.feature === feature && isGrantActive(grant, at)).map((grant) => grant.id);
}
