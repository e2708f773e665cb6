import type { StripeEvent, StripeWebhookResult, Subscription } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCatalog } from '../../../test-support/builders.js';
import { describeEachDialect } from '../../../test-support/databases.js';
import { expectProblem } from '../../../test-support/expect-problem.js';
import { dispatch, startTestServer, type TestServer } from '../../../test-support/server.js';
import {
  type FakeStripe,
  sellOnStripe,
  signedDelivery,
  startFakeStripe,
  stripeEvent,
  stripeFixture,
  stripeItem,
  stripeSubscription,
} from '../../../test-support/stripe.js';

const secret = 'whsec_api_test_secret';
const period = { start: '2026-01-01T00:00:00Z', end: '2026-02-01T00:00:00Z' };

/** With KEYMASTER_STRIPE_API_KEY, against a local fake of Stripe's API. */
describeEachDialect('Stripe in, with the API key', (dialect) => {
  let server: TestServer;
  let stripe: FakeStripe;
  beforeAll(async () => {
    stripe = await startFakeStripe();
    server = await startTestServer({
      dialect,
      env: {
        KEYMASTER_STRIPE_WEBHOOK_SECRET: secret,
        KEYMASTER_STRIPE_API_KEY: 'sk_test_fake',
        KEYMASTER_STRIPE_API_BASE: stripe.base,
      },
    });
    await seedCatalog(server);
    await sellOnStripe(server);
  });
  afterAll(async () => {
    await server.close();
    await stripe.close();
  });

  const subscription = (id: string, input: { status: string; product?: string; customer?: string }) =>
    stripeSubscription({
      id,
      customer: input.customer ?? `cus_${id}`,
      status: input.status,
      items: [stripeItem({ id: `si_${id}`, product: input.product ?? 'prod_pro', period })],
      startDate: period.start,
    });
  /** Delivers through the request listener, 5xx included (the test server's helper throws on those). */
  const deliver = (event: unknown) => {
    const { body, headers } = signedDelivery({ event, secret, at: server.clock.now() });
    return dispatch(server.keymaster.app, {
      method: 'POST',
      url: '/v1/integrations/stripe/webhook',
      payload: body,
      headers,
    });
  };
  const subscriptionsOf = async (customer: string) =>
    expectStatus<{ data: Subscription[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/subscriptions` }),
      200,
    ).data;
  const stored = async (id: string) =>
    expectStatus<{ data: StripeEvent[] }>(
      await server.request({ method: 'GET', url: '/v1/integrations/stripe/events?limit=100' }),
      200,
    ).data.find((e) => e.id === id);

  it('applies an invoice event with the subscription Stripe has now', async () => {
    stripe.subscriptions.set('sub_inv', subscription('sub_inv', { status: 'active', product: 'prod_enterprise' }));
    const invoice = {
      ...stripeFixture('invoice'),
      parent: { type: 'subscription_details', subscription_details: { subscription: 'sub_inv' } },
    };
    const event = stripeEvent({
      id: 'evt_inv',
      type: 'invoice.paid',
      created: '2026-01-10T00:00:00Z',
      object: invoice,
    });
    expect(expectStatus<StripeWebhookResult>(await deliver(event), 200).outcome).toBe('applied');
    expect(stripe.requests).toContain('/v1/subscriptions/sub_inv');
    expect((await subscriptionsOf('cus_sub_inv'))[0]).toMatchObject({ plan: 'enterprise', status: 'active' });
  });

  it('lets the fetched state win over the one in the event', async () => {
    stripe.subscriptions.set('sub_fresh', subscription('sub_fresh', { status: 'active', product: 'prod_enterprise' }));
    const outdated = subscription('sub_fresh', { status: 'past_due', product: 'prod_pro' });
    const event = stripeEvent({
      id: 'evt_fresh',
      type: 'customer.subscription.updated',
      created: '2026-01-10T00:00:00Z',
      object: outdated,
    });
    expect(expectStatus<StripeWebhookResult>(await deliver(event), 200).outcome).toBe('applied');
    expect((await subscriptionsOf('cus_sub_fresh'))[0]).toMatchObject({ plan: 'enterprise', status: 'active' });
  });

  it('applies a completed checkout session of a subscription', async () => {
    stripe.subscriptions.set('sub_checkout', subscription('sub_checkout', { status: 'trialing' }));
    const session = { ...stripeFixture('checkout.session'), mode: 'subscription', subscription: 'sub_checkout' };
    const event = stripeEvent({
      id: 'evt_checkout',
      type: 'checkout.session.completed',
      created: '2026-01-10T00:00:00Z',
      object: session,
    });
    expect(expectStatus<StripeWebhookResult>(await deliver(event), 200).outcome).toBe('applied');
    expect((await subscriptionsOf('cus_sub_checkout'))[0]).toMatchObject({ plan: 'pro' });
  });

  it('tells the customer of each failed payment once, also when the subscription had moved on', async () => {
    stripe.subscriptions.set('sub_due', subscription('sub_due', { status: 'past_due' }));
    const failed = (id: string, created: string, attempt: number) =>
      stripeEvent({
        id,
        type: 'invoice.payment_failed',
        created,
        object: {
          ...stripeFixture('invoice'),
          customer: 'cus_sub_due',
          amount_due: 2500,
          currency: 'usd',
          attempt_count: attempt,
          next_payment_attempt: Date.parse('2026-01-13T00:00:00Z') / 1000,
          hosted_invoice_url: 'https://invoice.stripe.com/i/acct_1/test_1',
          parent: { type: 'subscription_details', subscription_details: { subscription: 'sub_due' } },
        },
      });
    const first = failed('evt_due_1', '2026-01-10T00:00:00Z', 1);
    expect(expectStatus<StripeWebhookResult>(await deliver(first), 200).outcome).toBe('applied');
    expect(expectStatus<StripeWebhookResult>(await deliver(first), 200).outcome).toBe('duplicate');
    // An attempt Stripe reports late, after a newer change: stale for the subscription, news for the customer.
    const late = failed('evt_due_0', '2026-01-09T00:00:00Z', 2);
    expect(expectStatus<StripeWebhookResult>(await deliver(late), 200).outcome).toBe('stale');
    await server.keymaster.notifications.runDue();
    const notices = expectStatus<{
      data: { type: string; title: string; body: string; data: Record<string, unknown> }[];
    }>(await server.request({ method: 'GET', url: '/v1/customers/cus_sub_due/notifications' }), 200).data;
    expect(notices.map((n) => [n.type, n.title])).toEqual([
      ['payment.failed', 'Your payment failed'],
      ['payment.failed', 'Your payment failed'],
    ]);
    expect(notices.map((n) => n.data.stripe_event).sort()).toEqual(['evt_due_0', 'evt_due_1']);
    expect(notices[0]!.body).toBe(
      'We could not collect your payment of $25.00 for Pro. We will try again on 2026-01-13. Update your payment method to keep your access.',
    );
    expect(notices[0]!.data).toMatchObject({
      customer: 'cus_sub_due',
      subscription: { plan: 'pro', status: 'past_due' },
      amount_due: 2500,
      currency: 'usd',
      hosted_invoice_url: 'https://invoice.stripe.com/i/acct_1/test_1',
    });
  });

  it('records a subscription Stripe does not know as ignored', async () => {
    const invoice = { ...stripeFixture('invoice'), subscription: 'sub_gone', parent: null };
    const event = stripeEvent({
      id: 'evt_gone',
      type: 'invoice.payment_failed',
      created: '2026-01-10T00:00:00Z',
      object: invoice,
    });
    expect(expectStatus<StripeWebhookResult>(await deliver(event), 200)).toMatchObject({
      outcome: 'ignored',
      detail: 'Stripe does not know subscription sub_gone',
    });
  });

  it('answers 503 and records the failure when Stripe cannot be asked; a replay applies it later', async () => {
    stripe.subscriptions.set('sub_later', subscription('sub_later', { status: 'active' }));
    const event = stripeEvent({
      id: 'evt_later',
      type: 'customer.subscription.updated',
      created: '2026-01-10T00:00:00Z',
      object: subscription('sub_later', { status: 'active' }),
    });
    const base = stripe.base;
    await stripe.close();
    try {
      const response = await deliver(event);
      expectProblem(response, { status: 503, code: 'stripe_event_failed' });
      expect(await stored('evt_later')).toMatchObject({ outcome: 'failed', detail: expect.any(String) });
    } finally {
      stripe = await startFakeStripe({ base });
      stripe.subscriptions.set('sub_later', subscription('sub_later', { status: 'active' }));
    }
    expect(await server.keymaster.services.stripe.replay('evt_later')).toMatchObject({ outcome: 'applied' });
    expect(await stored('evt_later')).toMatchObject({ outcome: 'applied', customer: 'cus_sub_later' });
    expect((await subscriptionsOf('cus_sub_later'))[0]).toMatchObject({ plan: 'pro', status: 'active' });
  });

  it('syncs every Stripe subscription, printing first what it would do on a dry run', async () => {
    stripe.subscriptions.set('sub_sync', subscription('sub_sync', { status: 'active', product: 'prod_enterprise' }));
    const collect = async (dryRun: boolean) => {
      const results = [];
      for await (const result of server.keymaster.services.stripe.sync({ dryRun })) results.push(result);
      return results;
    };
    const dry = await collect(true);
    expect(dry.find((r) => r.subscription === 'sub_sync')).toMatchObject({
      outcome: 'applied',
      customer: 'cus_sub_sync',
    });
    expectProblem(await server.request({ method: 'GET', url: '/v1/customers/cus_sub_sync' }), {
      status: 404,
      code: 'customer_not_found',
    });
    const applied = await collect(false);
    expect(applied.map((r) => r.subscription).sort()).toEqual([...stripe.subscriptions.keys()].sort());
    expect((await subscriptionsOf('cus_sub_sync'))[0]).toMatchObject({ plan: 'enterprise', status: 'active' });
  });
});
