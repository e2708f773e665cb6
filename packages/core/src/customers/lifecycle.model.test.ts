import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildSubscription, utc } from '../test-builders.js';
import { dueStep, nextDueAt } from './lifecycle.js';
import { effectiveStatus, LiveStatuses, type Subscription, SubscriptionStatuses } from './subscription.js';

const day = 86_400_000;
const t0 = utc('2026-06-01T00:00:00Z');

/** An instant around t0: from ten days before to sixty after, or none. */
const instant = fc.option(
  fc.integer({ min: -10 * day, max: 60 * day }).map((offset) => t0 + offset),
  { nil: null },
);

/** Any subscription the API could leave behind, with the instants time acts on set or not. */
const subscriptions: fc.Arbitrary<Subscription> = fc
  .record({
    status: fc.constantFrom(...SubscriptionStatuses),
    periodDays: fc.integer({ min: 1, max: 40 }),
    trialEnd: instant,
    onTrialEnd: fc.constantFrom('activate' as const, 'cancel' as const),
    cancelAt: instant,
    endsAt: instant,
    onEndsAt: fc.constantFrom('expire' as const, 'renew' as const),
    graceEndsAt: instant,
    resumesAt: instant,
  })
  .map(({ periodDays, ...fields }) =>
    buildSubscription({
      ...fields,
      currentPeriodStart: t0,
      currentPeriodEnd: t0 + periodDays * day,
      billingAnchor: t0,
      contractMonths: fields.endsAt === null ? null : 12,
    }),
  );

/** What the scheduler leaves at `now`: every due step applied, in order, until none is due. */
function caughtUp(subscription: Subscription, now: number): { after: Subscription; steps: number } {
  let after = subscription;
  let steps = 0;
  for (let step = dueStep(after, now); step !== null; step = dueStep(after, now)) {
    after = step.after;
    steps += 1;
    if (steps > 1000) throw new Error(`no end to the steps due by ${new Date(now).toISOString()}`);
  }
  return { after, steps };
}

describe('the lifecycle, time against effective status', () => {
  it('gives at any instant the access the scheduler will leave once it has caught up', () => {
    // Access is decided from `effectiveStatus` before any job runs; the scheduler's steps must
    // land on a status with the same access, or a customer's access would change again when they
    // run. (Which ended status is named may differ: `effectiveStatus` puts cancel_at before
    // ends_at whatever their order, where the steps take instants in time order.)
    fc.assert(
      fc.property(subscriptions, fc.integer({ min: 0, max: 90 * day }), (subscription, offset) => {
        const now = t0 + offset;
        const effective = effectiveStatus(subscription, now);
        const after = caughtUp(subscription, now).after.status;
        expect({ after, live: LiveStatuses.has(after) }).toEqual({ after, live: LiveStatuses.has(effective) });
        // A live answer names the very status the steps reach.
        if (LiveStatuses.has(effective)) expect(after).toBe(effective);
      }),
      { numRuns: 2000 },
    );
  });

  it('stops: once caught up nothing is due, and an ended subscription never moves', () => {
    fc.assert(
      fc.property(subscriptions, fc.integer({ min: 0, max: 400 * day }), (subscription, offset) => {
        const now = t0 + offset;
        const { after, steps } = caughtUp(subscription, now);
        expect(dueStep(after, now)).toBeNull();
        const next = nextDueAt(after);
        if (next !== null) expect(next).toBeGreaterThan(now);
        if (subscription.status === 'canceled' || subscription.status === 'expired') {
          expect(steps).toBe(0);
          expect(after).toBe(subscription);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
