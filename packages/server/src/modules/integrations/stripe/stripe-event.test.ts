import { describe, expect, it } from 'vitest';
import { stripeEvent, stripeFixture } from '../../../test-support/stripe.js';
import { eventSubject, readEnvelope, type StripeEventEnvelope } from './stripe-event.js';

function envelope(type: string, object: unknown): StripeEventEnvelope {
  const read = readEnvelope(stripeEvent({ id: 'evt_1', type, created: '2026-01-10T00:00:00Z', object }));
  if ('reason' in read) throw new Error(read.reason);
  return read;
}

describe('what a Stripe event is about', () => {
  it("reads Stripe's fixture envelope, created in epoch ms", () => {
    expect(readEnvelope(stripeFixture('event'))).toMatchObject({
      id: 'evt_1Pgc76B7WZ01zgkWwyRHS12y',
      type: 'plan.created',
      created: 1234567890 * 1000,
    });
  });

  it.each([
    ['not an object', []],
    ['no id', { type: 'invoice.paid', created: 1 }],
    ['no type', { id: 'evt_1', created: 1 }],
    ['no created time', { id: 'evt_1', type: 'invoice.paid', created: 'yesterday' }],
  ])('refuses an envelope with %s', (_name, event) => {
    expect(readEnvelope(event)).toEqual({ reason: expect.any(String) });
  });

  it('takes the subscription from subscription events, with the object', () => {
    const subscription = stripeFixture('subscription');
    expect(eventSubject(envelope('customer.subscription.paused', subscription))).toEqual({
      subscription: subscription.id,
      object: subscription,
    });
  });

  it('takes the subscription id from an invoice, where new and old API versions put it', () => {
    const invoice = stripeFixture('invoice');
    const newer = { ...invoice, parent: { subscription_details: { subscription: 'sub_new' } } };
    expect(eventSubject(envelope('invoice.paid', newer))).toEqual({ subscription: 'sub_new', object: undefined });
    const older = { ...invoice, parent: null, subscription: 'sub_old' };
    expect(eventSubject(envelope('invoice.payment_failed', older))).toEqual({
      subscription: 'sub_old',
      object: undefined,
    });
    expect(eventSubject(envelope('invoice.paid', { ...invoice, parent: null }))).toEqual({
      ignored: 'the invoice is not for a subscription',
    });
  });

  it('takes the subscription of a checkout session in subscription mode only, expanded or not', () => {
    const session = stripeFixture('checkout.session');
    expect(eventSubject(envelope('checkout.session.completed', session))).toEqual({
      ignored: 'a checkout session in payment mode',
    });
    const expanded = { id: 'sub_x', object: 'subscription' };
    expect(
      eventSubject(
        envelope('checkout.session.completed', { ...session, mode: 'subscription', subscription: expanded }),
      ),
    ).toEqual({ subscription: 'sub_x', object: expanded });
  });

  it('ignores every other type, saying so', () => {
    expect(eventSubject(envelope('charge.refunded', stripeFixture('charge')))).toEqual({
      ignored: 'charge.refunded events do not change subscriptions',
    });
  });
});
