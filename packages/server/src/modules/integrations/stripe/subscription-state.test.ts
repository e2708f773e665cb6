import { describe, expect, it } from 'vitest';
import { stripeFixture, stripeItem, stripeSubscription, stripeTime } from '../../../test-support/stripe.js';
import { readSubscription, type StripeSubscription, stripeStatuses, subscriptionState } from './subscription-state.js';

const products = new Map([
  ['prod_pro', { plan: 'pro', kind: 'base' as const }],
  ['prod_enterprise', { plan: 'enterprise', kind: 'base' as const }],
  ['prod_seats', { plan: 'extra_seats', kind: 'addon' as const }],
]);

const period = { start: '2026-02-01T00:00:00Z', end: '2026-03-01T00:00:00Z' };
const ms = (iso: string) => Date.parse(iso);

function read(object: unknown): StripeSubscription {
  const subscription = readSubscription(object);
  if ('reason' in subscription) throw new Error(subscription.reason);
  return subscription;
}

const subscription = (overrides: Partial<Parameters<typeof stripeSubscription>[0]> = {}) =>
  stripeSubscription({
    id: 'sub_1',
    customer: 'cus_1',
    status: 'active',
    items: [stripeItem({ id: 'si_pro', product: 'prod_pro', period })],
    ...overrides,
  });

const stateOf = (object: unknown, matchedCustomer?: string) =>
  subscriptionState({ subscription: read(object), products, matchedCustomer });

describe('a Stripe subscription as a Keymaster subscription', () => {
  it("reads Stripe's own fixture", () => {
    const fixture = stripeFixture('subscription');
    expect(read(fixture)).toMatchObject({
      id: fixture.id,
      customer: fixture.customer,
      status: 'active',
      items: [{ id: 'si_QXhVnC2h0Jczwc', product: 'prod_QXg1hqf4jFNsqG', quantity: 1 }],
    });
  });

  it.each([
    ['trialing', 'trialing'],
    ['active', 'active'],
    ['past_due', 'past_due'],
    ['incomplete', 'paused'],
    ['incomplete_expired', 'expired'],
    ['unpaid', 'paused'],
    ['paused', 'paused'],
    ['canceled', 'canceled'],
  ])('maps status %s to %s', (stripe, keymaster) => {
    expect(stateOf(subscription({ status: stripe }))).toMatchObject({ desired: { status: keymaster } });
  });

  it('maps every status Stripe has, and only the first three keep access', () => {
    expect(Object.keys(stripeStatuses).sort()).toEqual(
      ['active', 'canceled', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid'].sort(),
    );
    const live = Object.entries(stripeStatuses).filter(([, status]) =>
      ['trialing', 'active', 'past_due'].includes(status),
    );
    expect(live.map(([stripe]) => stripe).sort()).toEqual(['active', 'past_due', 'trialing']);
  });

  it('takes the plan from the base item, add-ons with their quantity, and the period from the item', () => {
    const state = stateOf(
      subscription({
        items: [
          stripeItem({ id: 'si_seats', product: 'prod_seats', quantity: 3, period }),
          stripeItem({ id: 'si_pro', product: 'prod_pro', period }),
        ],
      }),
    );
    expect(state).toEqual({
      desired: {
        customer: 'cus_1',
        customerIfMissing: { name: 'cus_1' },
        stripeCustomer: 'cus_1',
        plan: 'pro',
        addOns: [{ plan: 'extra_seats', quantity: 3 }],
        status: 'active',
        period: { start: ms(period.start), end: ms(period.end) },
        startsAt: ms('2026-01-01T00:00:00Z'),
        trialEnd: null,
        cancelAt: null,
        endsAt: null,
        onEndsAt: 'renew',
      },
      reported: [],
    });
  });

  it('reads the period from the subscription where older API versions put it', () => {
    const older = subscription({ items: [stripeItem({ id: 'si_pro', product: 'prod_pro' })], period });
    expect(stateOf(older)).toMatchObject({ desired: { period: { start: ms(period.start), end: ms(period.end) } } });
    const none = subscription({ items: [stripeItem({ id: 'si_pro', product: 'prod_pro' })] });
    expect(stateOf(none)).toMatchObject({ desired: { period: undefined } });
  });

  it('ignores and reports items of products no plan is sold as', () => {
    const state = stateOf(
      subscription({
        items: [
          stripeItem({ id: 'si_pro', product: 'prod_pro', period }),
          stripeItem({ id: 'si_mystery', product: 'prod_mystery', period }),
        ],
      }),
    );
    expect(state).toMatchObject({ desired: { plan: 'pro', addOns: [] } });
    expect(state.reported).toEqual(["item si_mystery: product prod_mystery is no plan's stripe_product: ignored"]);
  });

  it('has no state without an item of a base plan, and says so', () => {
    const state = stateOf(subscription({ items: [stripeItem({ id: 'si_x', product: 'prod_mystery', period })] }));
    expect(state).toMatchObject({ reason: expect.stringContaining('no item whose product is a base plan') });
    expect(state.reported).toHaveLength(1);
  });

  it('schedules the cancellation at the period end, or at cancel_at', () => {
    expect(stateOf(subscription({ cancelAtPeriodEnd: true }))).toMatchObject({ desired: { cancelAt: ms(period.end) } });
    expect(stateOf(subscription({ cancelAt: '2026-02-15T00:00:00Z' }))).toMatchObject({
      desired: { cancelAt: ms('2026-02-15T00:00:00Z') },
    });
    expect(stateOf(subscription())).toMatchObject({ desired: { cancelAt: null } });
  });

  it('carries the trial end', () => {
    expect(stateOf(subscription({ status: 'trialing', trialEnd: '2026-01-15T00:00:00Z' }))).toMatchObject({
      desired: { status: 'trialing', trialEnd: ms('2026-01-15T00:00:00Z') },
    });
  });

  it('finds the customer by metadata, then by stripe_customer, then names a new one by the Stripe id', () => {
    expect(stateOf(subscription({ metadata: { keymaster_customer: 'acme' } }), 'other')).toMatchObject({
      desired: { customer: 'acme', stripeCustomer: 'cus_1' },
    });
    const matched = stateOf(subscription(), 'acme');
    expect(matched).toMatchObject({ desired: { customer: 'acme' } });
    expect('desired' in matched && matched.desired.customerIfMissing).toBeUndefined();
    expect('desired' in matched && matched.desired.stripeCustomer).toBeUndefined();
    expect(stateOf(subscription())).toMatchObject({
      desired: { customer: 'cus_1', customerIfMissing: { name: 'cus_1' }, stripeCustomer: 'cus_1' },
    });
  });

  it('refuses a customer id Keymaster cannot hold, naming it', () => {
    expect(stateOf(subscription({ metadata: { keymaster_customer: 'has space' } }))).toMatchObject({
      reason: expect.stringContaining('"has space" is not a valid Keymaster customer id'),
    });
  });

  it.each([
    ['not an object', 'sub_1'],
    ['another object', { object: 'invoice', id: 'in_1' }],
    ['no id', { ...subscription(), id: 42 }],
    ['no customer', { ...subscription(), customer: null }],
    ['an unknown status', { ...subscription(), status: 'frozen' }],
    ['no items', { ...subscription(), items: null }],
    ['an item that is not an object', { ...subscription(), items: { data: [7] } }],
    [
      'a negative quantity',
      subscription({ items: [{ ...stripeItem({ id: 'si', product: 'prod_pro' }), quantity: -1 }] }),
    ],
  ])('says what is wrong with %s', (_name, object) => {
    expect(readSubscription(object)).toEqual({ reason: expect.any(String) });
  });

  it('reads an expanded customer and price product', () => {
    const item = stripeItem({ id: 'si_pro', product: 'prod_pro', period });
    (item.price as Record<string, unknown>).product = { id: 'prod_pro', object: 'product' };
    const object = { ...subscription({ items: [item] }), customer: { id: 'cus_1', name: 'Acme Inc.' } };
    expect(stateOf(object)).toMatchObject({
      desired: { plan: 'pro', customer: 'cus_1', customerIfMissing: { name: 'Acme Inc.' } },
    });
  });

  it('times are Stripe seconds turned into epoch ms', () => {
    expect(stripeTime('2026-01-01T00:00:01Z') * 1000).toBe(ms('2026-01-01T00:00:01Z'));
  });
});
