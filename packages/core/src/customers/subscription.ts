import type { PriceInterval } from '../catalog/plan.js';

export const SubscriptionStatuses = ['trialing', 'active', 'past_due', 'paused', 'canceled', 'expired'] as const;
export type SubscriptionStatus = (typeof SubscriptionStatuses)[number];

/** Statuses in which a subscription's plan grants access. */
export const LiveStatuses: ReadonlySet<SubscriptionStatus> = new Set(['trialing', 'active', 'past_due']);

export const TrialEndActions = ['activate', 'cancel'] as const;
export type TrialEndAction = (typeof TrialEndActions)[number];

/** What happens at a contract's `endsAt`: it expires, or renews for another term of the same length. */
export const ContractEndActions = ['expire', 'renew'] as const;
export type ContractEndAction = (typeof ContractEndActions)[number];

export interface AddOn {
  planKey: string;
  planVersion: number;
  quantity: number;
}

/**
 * A pending plan change, applied at `at` (a downgrade at period end). The version is fixed when
 * the change is scheduled: what the customer agreed to is what they get.
 */
export interface ScheduledChange {
  planKey: string;
  planVersion: number;
  interval: PriceInterval;
  at: number;
}

/** Times are epoch milliseconds. */
export interface Subscription {
  id: string;
  customerId: string;
  planKey: string;
  planVersion: number;
  status: SubscriptionStatus;
  currentPeriodStart: number;
  currentPeriodEnd: number;
  /** How often the subscription renews (the base plan's price interval; monthly without a price). */
  interval: PriceInterval;
  /**
   * The instant periods are counted from: period n runs from anchor + n intervals, so a Jan 31
   * start renews on Feb 28 and then Mar 31 (never drifting to the 28th).
   */
  billingAnchor: number;
  trialEnd: number | null;
  /** Whether `trial.ending` has been emitted for this trial. */
  trialNoticeSent: boolean;
  onTrialEnd: TrialEndAction;
  cancelAt: number | null;
  canceledAt: number | null;
  endsAt: number | null;
  /** At `endsAt`: expire, or renew for another `contractMonths`. */
  onEndsAt: ContractEndAction;
  /** The contract's term in whole months (from its start to `endsAt`), for renewals. */
  contractMonths: number | null;
  /** While past_due: when access is suspended unless paid first. */
  graceEndsAt: number | null;
  /** While paused: when it resumes by itself (null: only on request). */
  resumesAt: number | null;
  scheduledChange: ScheduledChange | null;
  addOns: AddOn[];
  /** Who provisioned it: `api`, `stripe`, `crm`, ... */
  source: string;
  createdAt: number;
}

/**
 * The status a subscription has at `now`, taking into account the instants already stored on it
 * (cancel_at, ends_at, trial end). Access is decided from this, never from the stored status
 * alone, so a cancellation at period end takes effect at that instant even before any job runs.
 */
export function effectiveStatus(subscription: Subscription, now: number): SubscriptionStatus {
  const { status } = subscription;
  if (status === 'paused' && subscription.resumesAt !== null && now >= subscription.resumesAt) {
    if (contractEnded(subscription, now)) return 'expired';
    // Resumed, and live again: a cancellation at period end taken before the pause has come too.
    if (subscription.cancelAt !== null && now >= subscription.cancelAt) return 'canceled';
    return 'active';
  }
  if (!LiveStatuses.has(status)) return status;
  if (subscription.cancelAt !== null && now >= subscription.cancelAt) return 'canceled';
  if (contractEnded(subscription, now)) return 'expired';
  if (status === 'trialing' && subscription.trialEnd !== null && now >= subscription.trialEnd) {
    return subscription.onTrialEnd === 'activate' ? 'active' : 'expired';
  }
  // Past due beyond its grace period: suspended (paused) until paid.
  if (status === 'past_due' && subscription.graceEndsAt !== null && now >= subscription.graceEndsAt) return 'paused';
  return status;
}

/** Whether a contract that expires at its end has reached it (one that renews never ends by itself). */
function contractEnded(subscription: Subscription, now: number): boolean {
  return subscription.endsAt !== null && now >= subscription.endsAt && subscription.onEndsAt === 'expire';
}

/** Whole months from `start` to `end` (at least 1): a contract's term, renewed as such. */
export function contractMonthsBetween(start: number, end: number): number {
  let months = 1;
  while (addInterval({ anchor: start, interval: 'month', count: months + 1 }) <= end) months++;
  return months;
}

export function isLive(subscription: Subscription, now: number): boolean {
  return LiveStatuses.has(effectiveStatus(subscription, now));
}

/** The instants after `now` at which `effectiveStatus` may change its answer. */
export function statusBoundaries(subscription: Subscription, now: number): number[] {
  const instants = [subscription.cancelAt, subscription.endsAt, subscription.scheduledChange?.at ?? null];
  if (subscription.status === 'trialing') instants.push(subscription.trialEnd);
  if (subscription.status === 'past_due') instants.push(subscription.graceEndsAt);
  if (subscription.status === 'paused') instants.push(subscription.resumesAt);
  return instants.filter((t): t is number => t !== null && t > now);
}

const dayMs = 86_400_000;

/**
 * Adds `count` months or years to `anchor` the way billing systems do: the day of month is kept
 * and clamped to the month's last day (Jan 31 + 1 month = Feb 28/29, + 2 months = Mar 31).
 */
export function addInterval(input: { anchor: number; interval: PriceInterval; count: number }): number {
  const { anchor, interval, count } = input;
  const start = new Date(anchor);
  const months = interval === 'year' ? 12 * count : count;
  const year = start.getUTCFullYear();
  const month = start.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(start.getUTCDate(), lastDay);
  return Date.UTC(
    year,
    month,
    day,
    start.getUTCHours(),
    start.getUTCMinutes(),
    start.getUTCSeconds(),
    start.getUTCMilliseconds(),
  );
}

/** The billing period (anchored at `anchor`, every `interval`) that contains `now`. */
export function periodContaining(input: { anchor: number; interval: PriceInterval; now: number }): {
  start: number;
  end: number;
} {
  const { anchor, interval, now } = input;
  if (now < anchor) {
    // Periods run backwards from the anchor too: a late event dated before the subscription
    // started belongs to the period before its first one, not to the first.
    let count = -1;
    while (addInterval({ anchor, interval, count }) > now) count--;
    return {
      start: addInterval({ anchor, interval, count }),
      end: addInterval({ anchor, interval, count: count + 1 }),
    };
  }
  // Estimate the number of whole periods, then correct: months differ in length.
  const approx = interval === 'year' ? 365.2425 * dayMs : 30.436875 * dayMs;
  let count = Math.max(0, Math.floor((now - anchor) / approx) - 1);
  while (addInterval({ anchor, interval, count: count + 1 }) <= now) count++;
  return {
    start: addInterval({ anchor, interval, count }),
    end: addInterval({ anchor, interval, count: count + 1 }),
  };
}

/** Trial days to `now + days` in milliseconds. */
export function trialEndFrom(input: { start: number; days: number }): number {
  return input.start + input.days * dayMs;
}
