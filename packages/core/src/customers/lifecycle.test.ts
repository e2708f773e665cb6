import { describe, expect, it } from 'vitest';
import { DomainError } from '../errors.js';
import { buildSubscription, utc } from '../test-builders.js';
import {
  actionResult,
  dueStep,
  type LifecycleStep,
  nextDueAt,
  requireAction,
  type SubscriptionAction,
  SubscriptionActions,
} from './lifecycle.js';
import { effectiveStatus, type Subscription, type SubscriptionStatus, SubscriptionStatuses } from './subscription.js';

const day = 86_400_000;

describe('the state machine: every (status, action) pair', () => {
  // Rows: the status a subscription is in. Columns: the action. A cell is where it leads, or
  // null when it is refused. Written out in full so a change to the machine is a change here.
  const table: Record<SubscriptionStatus, Record<SubscriptionAction, SubscriptionStatus | null>> = {
    trialing: {
      activate: 'active',
      mark_past_due: null,
      pause: null,
      resume: null,
      cancel: 'canceled',
      schedule_cancel: 'trialing',
      undo_cancel: 'trialing',
      change_plan: 'trialing',
      update_add_ons: 'trialing',
      update_terms: 'trialing',
    },
    active: {
      activate: null,
      mark_past_due: 'past_due',
      pause: 'paused',
      resume: null,
      cancel: 'canceled',
      schedule_cancel: 'active',
      undo_cancel: 'active',
      change_plan: 'active',
      update_add_ons: 'active',
      update_terms: 'active',
    },
    past_due: {
      activate: 'active',
      mark_past_due: null,
      pause: 'paused',
      resume: null,
      cancel: 'canceled',
      schedule_cancel: 'past_due',
      undo_cancel: 'past_due',
      change_plan: 'past_due',
      update_add_ons: 'past_due',
      update_terms: 'past_due',
    },
    paused: {
      activate: null,
      mark_past_due: null,
      pause: null,
      resume: 'active',
      cancel: 'canceled',
      schedule_cancel: null,
      undo_cancel: null,
      change_plan: null,
      update_add_ons: 'paused',
      update_terms: 'paused',
    },
    canceled: {
      activate: null,
      mark_past_due: null,
      pause: null,
      resume: null,
      cancel: null,
      schedule_cancel: null,
      undo_cancel: null,
      change_plan: null,
      update_add_ons: null,
      update_terms: null,
    },
    expired: {
      activate: null,
      mark_past_due: null,
      pause: null,
      resume: null,
      cancel: null,
      schedule_cancel: null,
      undo_cancel: null,
      change_plan: null,
      update_add_ons: null,
      update_terms: null,
    },
  };
  const cells = SubscriptionStatuses.flatMap((status) =>
    SubscriptionActions.map((action) => [status, action, table[status][action]] as const),
  );

  it.each(cells)('%s + %s → %s', (status, action, expected) => {
    expect(actionResult(status, action)).toBe(expected);
  });

  it('refuses a move the machine does not allow with a conflict naming the current state', () => {
    const subscription = buildSubscription({ status: 'canceled' });
    const attempt = () => requireAction(subscription, 'resume', utc('2026-06-15T00:00:00Z'));
    expect(attempt).toThrow(DomainError);
    expect(attempt).toThrow(/is canceled: "resume" needs it to be paused/);
    try {
      attempt();
    } catch (error) {
      expect(error).toMatchObject({ kind: 'conflict', code: 'subscription_not_live' });
    }
    try {
      requireAction(buildSubscription({ status: 'active' }), 'resume', utc('2026-06-15T00:00:00Z'));
    } catch (error) {
      expect(error).toMatchObject({
        kind: 'conflict',
        code: 'invalid_transition',
        message: expect.stringMatching(/is active/),
      });
    }
  });

  it('judges by the effective status: a cancellation already due cannot be undone', () => {
    const subscription = buildSubscription({ status: 'active', cancelAt: utc('2026-06-10T00:00:00Z') });
    expect(() => requireAction(subscription, 'undo_cancel', utc('2026-06-15T00:00:00Z'))).toThrow(/is canceled/);
    expect(requireAction(subscription, 'undo_cancel', utc('2026-06-09T00:00:00Z'))).toBe('active');
  });
});

/** Applies every step due by `until`, as the scheduler does. */
function playUntil(subscription: Subscription, until: number): { subscription: Subscription; steps: LifecycleStep[] } {
  const steps: LifecycleStep[] = [];
  let current = subscription;
  for (let step = dueStep(current, until); step; step = dueStep(current, until)) {
    steps.push(step);
    current = step.after;
  }
  return { subscription: current, steps };
}

const iso = (t: number) => new Date(t).toISOString();

describe('what time does: dueStep', () => {
  it('does nothing before anything is due', () => {
    const subscription = buildSubscription();
    expect(dueStep(subscription, subscription.currentPeriodEnd - 1)).toBeNull();
    expect(nextDueAt(subscription)).toBe(subscription.currentPeriodEnd);
  });

  it('renews from the anchor, so a month-end start stays at month end', () => {
    const anchor = utc('2026-01-31T10:00:00Z');
    const subscription = buildSubscription({
      billingAnchor: anchor,
      currentPeriodStart: anchor,
      currentPeriodEnd: utc('2026-02-28T10:00:00Z'),
    });
    const { subscription: after, steps } = playUntil(subscription, utc('2026-05-01T00:00:00Z'));
    expect(steps.map((s) => [s.kind, iso(s.at)])).toEqual([
      ['renewal', '2026-02-28T10:00:00.000Z'],
      ['renewal', '2026-03-31T10:00:00.000Z'],
      ['renewal', '2026-04-30T10:00:00.000Z'],
    ]);
    expect(steps.every((s) => s.events.join() === 'subscription.renewed')).toBe(true);
    expect([iso(after.currentPeriodStart), iso(after.currentPeriodEnd)]).toEqual([
      '2026-04-30T10:00:00.000Z',
      '2026-05-31T10:00:00.000Z',
    ]);
  });

  it('catches up a missed year one period at a time, each at its own instant', () => {
    const subscription = buildSubscription();
    const { steps } = playUntil(subscription, utc('2027-06-01T00:00:00Z'));
    expect(steps).toHaveLength(12);
    expect(iso(steps.at(-1)!.at)).toBe('2027-06-01T00:00:00.000Z');
  });

  it('warns before a trial ends, then converts a paid trial to active', () => {
    const trialEnd = utc('2026-06-15T00:00:00Z');
    const subscription = buildSubscription({ status: 'trialing', trialEnd, onTrialEnd: 'activate' });
    const { subscription: after, steps } = playUntil(subscription, trialEnd);
    expect(steps.map((s) => [s.kind, iso(s.at), s.events])).toEqual([
      ['trial_notice', '2026-06-12T00:00:00.000Z', ['trial.ending']],
      ['trial_end', '2026-06-15T00:00:00.000Z', ['trial.ended', 'subscription.updated']],
    ]);
    expect(after.status).toBe('active');
  });

  it('ends an unpaid trial: expired, access gone', () => {
    const trialEnd = utc('2026-06-15T00:00:00Z');
    const subscription = buildSubscription({ status: 'trialing', trialEnd, trialNoticeSent: true });
    const { subscription: after, steps } = playUntil(subscription, trialEnd + day);
    expect(steps.map((s) => s.kind)).toEqual(['trial_end']);
    expect(steps[0]!.events).toEqual(['trial.ended', 'subscription.expired', 'entitlements.updated']);
    expect(after.status).toBe('expired');
    expect(dueStep(after, utc('2030-01-01T00:00:00Z'))).toBeNull(); // nothing renews an ended subscription
  });

  it('cancels at period end instead of renewing', () => {
    const subscription = buildSubscription({ cancelAt: utc('2026-07-01T00:00:00Z') });
    const { subscription: after, steps } = playUntil(subscription, utc('2026-09-01T00:00:00Z'));
    expect(steps.map((s) => s.kind)).toEqual(['cancellation']);
    expect(after).toMatchObject({ status: 'canceled', canceledAt: utc('2026-07-01T00:00:00Z') });
  });

  it('applies a downgrade scheduled for period end before the renewal', () => {
    const at = utc('2026-07-01T00:00:00Z');
    const subscription = buildSubscription({
      planKey: 'business',
      scheduledChange: { planKey: 'pro', planVersion: 3, interval: 'month', at },
    });
    const { subscription: after, steps } = playUntil(subscription, at);
    expect(steps.map((s) => s.kind)).toEqual(['scheduled_change', 'renewal']);
    expect(steps[0]!.events).toContain('entitlements.updated');
    expect(after).toMatchObject({ planKey: 'pro', planVersion: 3, scheduledChange: null });
    expect(iso(after.currentPeriodStart)).toBe('2026-07-01T00:00:00.000Z');
  });

  it('suspends a past-due subscription when its grace period runs out, and keeps renewing meanwhile', () => {
    const subscription = buildSubscription({ status: 'past_due', graceEndsAt: utc('2026-07-05T00:00:00Z') });
    expect(effectiveStatus(subscription, utc('2026-07-04T00:00:00Z'))).toBe('past_due');
    expect(effectiveStatus(subscription, utc('2026-07-05T00:00:00Z'))).toBe('paused');
    const { subscription: after, steps } = playUntil(subscription, utc('2026-08-15T00:00:00Z'));
    expect(steps.map((s) => s.kind)).toEqual(['renewal', 'grace_end']);
    expect(after).toMatchObject({ status: 'paused', graceEndsAt: null });
  });

  it('resumes a pause with an end by itself, starting a new period then', () => {
    const resumesAt = utc('2026-08-10T00:00:00Z');
    const subscription = buildSubscription({ status: 'paused', resumesAt });
    expect(effectiveStatus(subscription, resumesAt - 1)).toBe('paused');
    expect(effectiveStatus(subscription, resumesAt)).toBe('active');
    const { subscription: after, steps } = playUntil(subscription, resumesAt);
    expect(steps.map((s) => s.kind)).toEqual(['resume']);
    expect(after).toMatchObject({ status: 'active', billingAnchor: resumesAt, currentPeriodStart: resumesAt });
    expect(iso(after.currentPeriodEnd)).toBe('2026-09-10T00:00:00.000Z');
  });

  it('expires at the contract end', () => {
    const subscription = buildSubscription({ endsAt: utc('2026-06-20T00:00:00Z') });
    const { subscription: after, steps } = playUntil(subscription, utc('2026-12-01T00:00:00Z'));
    expect(steps.map((s) => s.kind)).toEqual(['contract_end']);
    expect(after.status).toBe('expired');
  });
});
