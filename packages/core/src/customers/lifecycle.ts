import { monthlyPrice, type PlanVersion } from '../catalog/plan.js';
import { conflict, ErrorCodes } from '../errors.js';
import {
  addInterval,
  effectiveStatus,
  LiveStatuses,
  periodContaining,
  type Subscription,
  type SubscriptionStatus,
} from './subscription.js';

/**
 * The subscription state machine. Every move a subscription can make is listed here, by what
 * asks for it: a person or a billing system through the API (an action), or time (a step the
 * scheduler takes when an instant stored on the subscription falls due). Anything not listed is
 * refused with a conflict naming the current state.
 */
export const SubscriptionActions = [
  'activate',
  'mark_past_due',
  'pause',
  'resume',
  'cancel',
  'schedule_cancel',
  'undo_cancel',
  'change_plan',
  'update_add_ons',
  'update_terms',
] as const;
export type SubscriptionAction = (typeof SubscriptionActions)[number];

const live = ['trialing', 'active', 'past_due'] as const;

/** For each action, the statuses it may start from and the status it leaves. `same`: unchanged. */
export const actionTransitions: Readonly<
  Record<SubscriptionAction, { from: readonly SubscriptionStatus[]; to: SubscriptionStatus | 'same' }>
> = {
  // Trial converted (paid), or a past-due invoice settled.
  activate: { from: ['trialing', 'past_due'], to: 'active' },
  mark_past_due: { from: ['active'], to: 'past_due' },
  pause: { from: ['active', 'past_due'], to: 'paused' },
  resume: { from: ['paused'], to: 'active' },
  cancel: { from: [...live, 'paused'], to: 'canceled' },
  schedule_cancel: { from: live, to: 'same' },
  undo_cancel: { from: live, to: 'same' },
  change_plan: { from: live, to: 'same' },
  update_add_ons: { from: [...live, 'paused'], to: 'same' },
  // What happens at trial end, the contract end date.
  update_terms: { from: [...live, 'paused'], to: 'same' },
};

/** The status an action leads to from `status`, or null when the machine does not allow it. */
export function actionResult(status: SubscriptionStatus, action: SubscriptionAction): SubscriptionStatus | null {
  const rule = actionTransitions[action];
  if (!rule.from.includes(status)) return null;
  return rule.to === 'same' ? status : rule.to;
}

/**
 * The status an action leads to for this subscription at `now` (its effective status, so an
 * instant already passed counts even before the scheduler ran), or a 409 naming the state.
 */
export function requireAction(subscription: Subscription, action: SubscriptionAction, now: number): SubscriptionStatus {
  const status = effectiveStatus(subscription, now);
  const next = actionResult(status, action);
  if (next === null) {
    const allowed = actionTransitions[action].from.join(', ');
    // An ended subscription keeps its own code: nothing moves it any more.
    const ended = status === 'canceled' || status === 'expired';
    throw conflict(
      ended ? ErrorCodes.subscriptionNotLive : ErrorCodes.invalidTransition,
      `Subscription "${subscription.id}" is ${status}: "${action}" needs it to be ${allowed}.`,
      [{ path: '/status', message: `is ${status}` }],
    );
  }
  return next;
}

/** Domain events a transition emits (delivered later through the outbox). */
export const DomainEventTypes = [
  'subscription.created',
  'subscription.updated',
  'subscription.renewed',
  'subscription.canceled',
  'subscription.expired',
  'trial.ending',
  'trial.ended',
  'entitlements.updated',
] as const;
export type DomainEventType = (typeof DomainEventTypes)[number];

/** What time does to a subscription, in the order the scheduler takes them at one instant. */
export const StepKinds = [
  'trial_notice',
  'trial_end',
  'cancellation',
  'contract_end',
  'grace_end',
  'resume',
  'scheduled_change',
  'renewal',
] as const;
export type StepKind = (typeof StepKinds)[number];

export interface LifecycleSettings {
  /** How long before a trial ends `trial.ending` is emitted. */
  trialNoticeMs: number;
}

export const defaultLifecycleSettings: LifecycleSettings = { trialNoticeMs: 3 * 86_400_000 };

/** One transition time makes: the subscription before and after, and what it emits. */
export interface LifecycleStep {
  kind: StepKind;
  at: number;
  before: Subscription;
  after: Subscription;
  events: DomainEventType[];
}

/** Each step kind's due instant on this subscription, or null when it is not pending. */
function dueAt(s: Subscription, kind: StepKind, settings: LifecycleSettings): number | null {
  const isLive = (LiveStatuses as ReadonlySet<SubscriptionStatus>).has(s.status);
  switch (kind) {
    case 'trial_notice':
      return s.status === 'trialing' && s.trialEnd !== null && !s.trialNoticeSent
        ? s.trialEnd - settings.trialNoticeMs
        : null;
    case 'trial_end':
      return s.status === 'trialing' ? s.trialEnd : null;
    case 'cancellation':
      return isLive ? s.cancelAt : null;
    case 'contract_end':
      return isLive || s.status === 'paused' ? s.endsAt : null;
    case 'grace_end':
      return s.status === 'past_due' ? s.graceEndsAt : null;
    case 'resume':
      return s.status === 'paused' ? s.resumesAt : null;
    case 'scheduled_change':
      return isLive && s.scheduledChange !== null ? s.scheduledChange.at : null;
    case 'renewal':
      return isLive ? s.currentPeriodEnd : null;
  }
}

/** The earliest instant at which time changes this subscription, or null if it never will. */
export function nextDueAt(subscription: Subscription, settings: LifecycleSettings = defaultLifecycleSettings) {
  let earliest: number | null = null;
  for (const kind of StepKinds) {
    const at = dueAt(subscription, kind, settings);
    if (at !== null && (earliest === null || at < earliest)) earliest = at;
  }
  return earliest;
}

/**
 * The first step due at or before `now`, or null when the subscription is up to date. Steps due
 * at the same instant run in `StepKinds` order: a trial ends before the period renews, a
 * cancellation at period end wins over the renewal, and a downgrade scheduled for the period end
 * applies before the renewal so the new period starts on the new plan. Apply it and ask again
 * until null: a scheduler that missed a year catches up one period at a time, and every step is
 * recorded with the instant it belonged to.
 */
export function dueStep(
  subscription: Subscription,
  now: number,
  settings: LifecycleSettings = defaultLifecycleSettings,
): LifecycleStep | null {
  let kind: StepKind | null = null;
  let at = Number.POSITIVE_INFINITY;
  for (const candidate of StepKinds) {
    const due = dueAt(subscription, candidate, settings);
    if (due !== null && due <= now && due < at) {
      kind = candidate;
      at = due;
    }
  }
  if (kind === null) return null;
  return applyStep(subscription, kind, at);
}

function applyStep(before: Subscription, kind: StepKind, at: number): LifecycleStep {
  const step = (after: Subscription, events: DomainEventType[]): LifecycleStep => ({ kind, at, before, after, events });
  switch (kind) {
    case 'trial_notice':
      return step({ ...before, trialNoticeSent: true }, ['trial.ending']);
    case 'trial_end':
      return before.onTrialEnd === 'activate'
        ? step({ ...before, status: 'active' }, ['trial.ended', 'subscription.updated'])
        : step({ ...before, status: 'expired' }, ['trial.ended', 'subscription.expired', 'entitlements.updated']);
    case 'cancellation':
      return step({ ...before, status: 'canceled', canceledAt: at, scheduledChange: null }, [
        'subscription.canceled',
        'entitlements.updated',
      ]);
    case 'contract_end':
      return step({ ...before, status: 'expired', scheduledChange: null }, [
        'subscription.expired',
        'entitlements.updated',
      ]);
    case 'grace_end':
      // Suspended: paused until paid (`resume` or `activate`), keeping the subscription.
      return step({ ...before, status: 'paused', graceEndsAt: null, resumesAt: null }, [
        'subscription.updated',
        'entitlements.updated',
      ]);
    case 'resume':
      return step(resumed(before, at), ['subscription.updated', 'entitlements.updated']);
    case 'scheduled_change': {
      const change = before.scheduledChange!;
      return step(
        {
          ...before,
          planKey: change.planKey,
          planVersion: change.planVersion,
          interval: change.interval,
          scheduledChange: null,
        },
        ['subscription.updated', 'entitlements.updated'],
      );
    }
    case 'renewal':
      return step(renewed(before), ['subscription.renewed']);
  }
}

/** The subscription rolled into its next period, counted from its anchor (Jan 31 → Feb 28 → Mar 31). */
export function renewed(subscription: Subscription): Subscription {
  const next = periodContaining({
    anchor: subscription.billingAnchor,
    interval: subscription.interval,
    now: subscription.currentPeriodEnd,
  });
  return { ...subscription, currentPeriodStart: next.start, currentPeriodEnd: next.end };
}

/**
 * Back to active after a pause: a new billing period starts at the resume instant (the paused
 * time is not billed), and the anchor moves with it.
 */
export function resumed(subscription: Subscription, at: number): Subscription {
  return {
    ...subscription,
    status: 'active',
    resumesAt: null,
    graceEndsAt: null,
    billingAnchor: at,
    currentPeriodStart: at,
    currentPeriodEnd: addInterval({ anchor: at, interval: subscription.interval, count: 1 }),
  };
}

/**
 * When a plan change applies unless the caller says: an upgrade (a monthly-equivalent price at
 * least the current one's; a plan without a price ranks highest, as in upgrade suggestions) at
 * once, a downgrade at the end of the period already paid for.
 */
export function defaultChangeTiming(input: { current: PlanVersion | undefined; target: PlanVersion }) {
  if (!input.current) return 'now' as const;
  return monthlyPrice(input.target.price) >= monthlyPrice(input.current.price)
    ? ('now' as const)
    : ('period_end' as const);
}
