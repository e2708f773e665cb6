import type { AuditEvent, Customer, StripeEvent, StripeWebhookResult, Subscription } from '@keymaster/contract';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, expectStatus, seedCatalog } from '../../../test-support/builders.js';
import { describeEachDialect } from '../../../test-support/databases.js';
import { expectProblem } from '../../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../../test-support/server.js';
import {
  sellOnStripe,
  signedDelivery,
  stripeEvent,
  stripeFixture,
  stripeItem,
  stripeSubscription,
} from '../../../test-support/stripe.js';

const secret = 'whsec_test_0123456789abcdef';
const period = { start: '2026-01-01T00:00:00Z', end: '2026-02-01T00:00:00Z' };

/**
 * The life of one Stripe subscription as Stripe announces it: created (awaiting its first
 * payment) → trial → active → past due → active → upgraded with an add-on → set to cancel at
 * the period end → deleted. Ids carry `run` so that each replay is a subscription of its own.
 */
function recordedSequence(run: string) {
  const subscription = `sub_${run}`;
  const customer = `cus_${run}`;
  const state = (input: { status: string; plan?: string; seats?: number; trialEnd?: string; cancel?: boolean }) =>
    stripeSubscription({
      id: subscription,
      customer,
      status: input.status,
      items: [
        stripeItem({ id: `si_${run}_base`, product: input.plan ?? 'prod_pro', period }),
        ...(input.seats
          ? [stripeItem({ id: `si_${run}_seats`, product: 'prod_seats', quantity: input.seats, period })]
          : []),
      ],
      trialEnd: input.trialEnd ?? null,
      cancelAtPeriodEnd: input.cancel ?? false,
      startDate: period.start,
    });
  const steps = [
    ['customer.subscription.created', state({ status: 'incomplete' })],
    ['customer.subscription.updated', state({ status: 'trialing', trialEnd: '2026-01-08T00:00:00Z' })],
    ['customer.subscription.updated', state({ status: 'active' })],
    ['customer.subscription.updated', state({ status: 'past_due' })],
    ['customer.subscription.updated', state({ status: 'active' })],
    ['customer.subscription.updated', state({ status: 'active', plan: 'prod_enterprise', seats: 2 })],
    ['customer.subscription.updated', state({ status: 'active', plan: 'prod_enterprise', seats: 2, cancel: true })],
    ['customer.subscription.deleted', state({ status: 'canceled', plan: 'prod_enterprise', seats: 2, cancel: true })],
  ] as const;
  return {
    customer,
    events: steps.map(([type, object], i) =>
      stripeEvent({ id: `evt_${run}_${i}`, type, created: `2026-01-0${i + 1}T12:00:00Z`, object }),
    ),
  };
}

describeEachDialect('Stripe in', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_STRIPE_WEBHOOK_SECRET: secret } });
    await seedCatalog(server);
    await sellOnStripe(server);
  });
  afterAll(() => server.close());

  /** Delivers an event as Stripe does: signed now, no API key. */
  const deliver = (event: unknown, input: { secret?: string; at?: number; headers?: Record<string, string> } = {}) => {
    const { body, headers } = signedDelivery({
      event,
      secret: input.secret ?? secret,
      at: input.at ?? server.clock.now(),
    });
    return server.request({
      method: 'POST',
      url: '/v1/integrations/stripe/webhook',
      body,
      headers: { authorization: undefined, ...headers, ...input.headers },
    });
  };
  const received = async () =>
    expectStatus<{ data: StripeEvent[] }>(
      await server.request({ method: 'GET', url: '/v1/integrations/stripe/events?limit=100' }),
      200,
    ).data;
  const subscriptionsOf = async (customer: string) =>
    expectStatus<{ data: Subscription[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/subscriptions` }),
      200,
    ).data;
  /** What a customer's subscriptions come to, without the ids and times each run makes anew. */
  const finalState = async (customer: string) =>
    (await subscriptionsOf(customer)).map((s) => ({
      plan: s.plan,
      status: s.status,
      add_ons: s.add_ons.map((a) => ({ plan: a.plan, quantity: a.quantity })),
      current_period_start: s.current_period_start,
      current_period_end: s.current_period_end,
      trial_end: s.trial_end,
      cancel_at: s.cancel_at,
      source: s.source,
    }));

  describe('signatures', () => {
    it('refuses a missing, forged, foreign or stale signature with 400 signature_invalid, storing nothing', async () => {
      const before = await received();
      const event = recordedSequence('sig').events[0]!;
      const { body } = signedDelivery({ event, secret });
      const attempts = [
        server.request({
          method: 'POST',
          url: '/v1/integrations/stripe/webhook',
          body,
          headers: { authorization: undefined, 'content-type': 'application/json' },
        }),
        deliver(event, { headers: { 'stripe-signature': 't=1,v1=deadbeef' } }),
        deliver(event, { secret: 'whsec_someone_else' }),
        // Signed six minutes ago by the server's clock: past the 300 s tolerance.
        deliver(event, { at: server.clock.now() - 360_000 }),
      ];
      for (const response of await Promise.all(attempts)) {
        expectProblem(response, { status: 400, code: 'signature_invalid' });
      }
      expect(await received()).toEqual(before);
      const customer = await server.request({ method: 'GET', url: '/v1/customers/cus_sig' });
      expectProblem(customer, { status: 404, code: 'customer_not_found' });
    });

    it('needs no API key: the signature is the credential', async () => {
      const event = stripeEvent({
        id: 'evt_nokey',
        type: 'charge.succeeded',
        created: '2026-01-10T00:00:00Z',
        object: stripeFixture('charge'),
      });
      expect(expectStatus<StripeWebhookResult>(await deliver(event), 200)).toMatchObject({ outcome: 'ignored' });
    });
  });

  describe('applying', () => {
    it('applies the recorded sequence in order, as the integration, and lists every event', async () => {
      const { customer, events } = recordedSequence('inorder');
      for (const event of events) {
        expect(expectStatus<StripeWebhookResult>(await deliver(event), 200).outcome).toBe('applied');
      }
      const [subscription] = await subscriptionsOf(customer);
      expect(subscription).toMatchObject({ plan: 'enterprise', status: 'canceled', source: 'stripe' });
      expect(subscription!.add_ons).toMatchObject([{ plan: 'extra_seats', quantity: 2 }]);
      const history = expectStatus<{ data: { actor: string }[] }>(
        await server.request({ method: 'GET', url: `/v1/subscriptions/${subscription!.id}/history` }),
        200,
      ).data;
      expect(history.length).toBeGreaterThan(0);
      // Stripe's changes are the integration's; transitions falling due between them (a trial's end) the scheduler's.
      expect(history.map((h) => h.actor)).toContain('integration:stripe');
      expect(history.every((h) => h.actor === 'integration:stripe' || h.actor === 'scheduler')).toBe(true);
      const listed = (await received()).filter((e) => e.id.startsWith('evt_inorder_'));
      // Newest first.
      expect(listed.map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
      expect(
        listed.every((e) => e.outcome === 'applied' && e.subscription === 'sub_inorder' && e.customer === customer),
      ).toBe(true);
    });

    it('grants what the status says while it lasts: past due keeps access, incomplete does not', async () => {
      const { customer, events } = recordedSequence('access');
      const sso = async () => (await check(server, { customer, feature: 'sso' })).allowed;
      expectStatus(await deliver(events[0]), 200);
      expect(await sso()).toBe(false);
      expectStatus(await deliver(events[3]), 200);
      expect(await sso()).toBe(true);
    });

    it('comes to the same state in order, reversed, shuffled and with every event doubled', async () => {
      const reference = recordedSequence('reference');
      for (const event of reference.events) await deliver(event);
      const expected = await finalState(reference.customer);
      expect(expected).toHaveLength(1);

      const replay = async (run: string, order: (events: unknown[]) => unknown[]) => {
        const { customer, events } = recordedSequence(run);
        for (const event of order(events)) {
          const outcome = expectStatus<StripeWebhookResult>(await deliver(event), 200).outcome;
          expect(['applied', 'stale', 'duplicate']).toContain(outcome);
        }
        return finalState(customer);
      };
      expect(await replay('reversed', (events) => [...events].reverse())).toEqual(expected);
      expect(await replay('doubled', (events) => events.flatMap((e) => [e, e]))).toEqual(expected);
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6, 7], { minLength: 8, maxLength: 8 }),
          fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
          async (order, doubled) => {
            run += 1;
            const state = await replay(`shuffled${run}`, (events) =>
              order.flatMap((i, position) => (doubled[position] ? [events[i], events[i]] : [events[i]])),
            );
            expect(state).toEqual(expected);
          },
        ),
        { numRuns: 12 },
      );
    });

    it('applies concurrent deliveries of one event once', async () => {
      const { customer, events } = recordedSequence('concurrent');
      const answers = await Promise.all(Array.from({ length: 6 }, () => deliver(events[0])));
      const outcomes = answers.map((a) => expectStatus<StripeWebhookResult>(a, 200).outcome).sort();
      expect(outcomes.filter((o) => o === 'applied')).toHaveLength(1);
      expect(outcomes.filter((o) => o !== 'applied').every((o) => o === 'duplicate')).toBe(true);
      const [subscription] = await subscriptionsOf(customer);
      const history = expectStatus<{ data: unknown[] }>(
        await server.request({ method: 'GET', url: `/v1/subscriptions/${subscription!.id}/history` }),
        200,
      ).data;
      expect(history).toHaveLength(1);
      expect((await received()).filter((e) => e.id === events[0]!.id)).toHaveLength(1);
    });
  });

  describe('customers', () => {
    const created = (input: { id: string; customer: string; metadata?: Record<string, string> }) =>
      stripeEvent({
        id: `evt_${input.id}`,
        type: 'customer.subscription.created',
        created: '2026-01-10T00:00:00Z',
        object: stripeSubscription({
          id: `sub_${input.id}`,
          customer: input.customer,
          status: 'active',
          items: [stripeItem({ id: `si_${input.id}`, product: 'prod_pro', period })],
          ...(input.metadata ? { metadata: input.metadata } : {}),
        }),
      });
    const auditOf = async (query: string) =>
      expectStatus<{ data: AuditEvent[] }>(
        await server.request({ method: 'GET', url: `/v1/audit-events?${query}` }),
        200,
      ).data;

    it('links a customer named by metadata to the Stripe customer, as the integration, in the audit trail', async () => {
      expectStatus(
        await server.request({ method: 'PUT', url: '/v1/customers/meta-acme', body: { name: 'Acme' } }),
        201,
      );
      const delivered = await deliver(
        created({ id: 'meta', customer: 'cus_meta', metadata: { keymaster_customer: 'meta-acme' } }),
      );
      expect(expectStatus<StripeWebhookResult>(delivered, 200).outcome).toBe('applied');
      const customer = expectStatus<Customer>(
        await server.request({ method: 'GET', url: '/v1/customers/meta-acme' }),
        200,
      );
      expect(customer).toMatchObject({ name: 'Acme', stripe_customer: 'cus_meta' });
      const [linked] = await auditOf('target_id=meta-acme&action=customer.updated');
      expect(linked).toMatchObject({
        actor: { type: 'integration', id: 'stripe', request_id: delivered.headers['x-request-id'] },
        data: { before: { stripe_customer: null }, after: { stripe_customer: 'cus_meta' } },
      });
      // Its next subscription is found by the link, without metadata.
      expectStatus(await deliver(created({ id: 'meta2', customer: 'cus_meta' })), 200);
      expect((await received()).find((e) => e.id === 'evt_meta2')).toMatchObject({ customer: 'meta-acme' });
    });

    it('never replaces the Stripe customer a customer already pays as', async () => {
      const body = { name: 'Two', stripe_customer: 'cus_first' };
      expectStatus(await server.request({ method: 'PUT', url: '/v1/customers/two-accounts', body }), 201);
      const event = created({ id: 'second', customer: 'cus_second', metadata: { keymaster_customer: 'two-accounts' } });
      expect(expectStatus<StripeWebhookResult>(await deliver(event), 200).outcome).toBe('applied');
      const customer = await server.request({ method: 'GET', url: '/v1/customers/two-accounts' });
      expect(expectStatus<Customer>(customer, 200).stripe_customer).toBe('cus_first');
    });

    it('records the customer it creates in the audit trail, as the integration', async () => {
      const delivered = await deliver(created({ id: 'fresh', customer: 'cus_fresh' }));
      expectStatus(delivered, 200);
      const [row] = await auditOf('target_id=cus_fresh&action=customer.created');
      expect(row).toMatchObject({
        actor: { type: 'integration', id: 'stripe', request_id: delivered.headers['x-request-id'] },
        data: { after: { name: 'cus_fresh', stripe_customer: 'cus_fresh' } },
      });
      const [subscription] = await auditOf('customer=cus_fresh&action=subscription.sync');
      expect(subscription?.actor.request_id).toBe(delivered.headers['x-request-id']);
    });

    it('erases the events about a customer with them, also those that named only their Stripe id', async () => {
      // Recorded as ignored before anyone linked cus_gone to a Keymaster customer.
      const invoice = { ...stripeFixture('invoice'), customer: 'cus_gone', customer_email: 'gone@example.com' };
      const event = stripeEvent({
        id: 'evt_gone',
        type: 'invoice.paid',
        created: '2026-01-10T00:00:00Z',
        object: invoice,
      });
      expect(expectStatus<StripeWebhookResult>(await deliver(event), 200).outcome).toBe('ignored');
      expect((await received()).find((e) => e.id === 'evt_gone')).toMatchObject({ customer: null });
      const body = { name: 'Gone', stripe_customer: 'cus_gone' };
      expectStatus(await server.request({ method: 'PUT', url: '/v1/customers/gone', body }), 201);
      expect((await server.request({ method: 'DELETE', url: '/v1/customers/gone' })).statusCode).toBe(204);
      expect((await received()).find((e) => e.id === 'evt_gone')).toBeUndefined();
    });
  });

  describe('what it does not apply', () => {
    it('ignores a subscription to a plan not on sale, naming it and how to replay, so Stripe does not retry for days', async () => {
      const plan = { key: 'unreleased', name: 'Unreleased', entitlements: [], stripe_product: 'prod_unreleased' };
      expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: plan }), 201);
      const event = stripeEvent({
        id: 'evt_unreleased',
        type: 'customer.subscription.created',
        created: '2026-01-10T00:00:00Z',
        object: stripeSubscription({
          id: 'sub_unreleased',
          customer: 'cus_unreleased',
          status: 'active',
          items: [stripeItem({ id: 'si_unreleased', product: 'prod_unreleased', period })],
        }),
      });
      const result = expectStatus<StripeWebhookResult>(await deliver(event), 200);
      expect(result.outcome).toBe('ignored');
      expect(result.detail).toContain('unreleased');
      expect(result.detail).toContain('keymaster stripe replay evt_unreleased');
      expect((await received()).find((e) => e.id === 'evt_unreleased')).toMatchObject({
        outcome: 'ignored',
        subscription: 'sub_unreleased',
      });
      // Nothing half-applied: not even the customer.
      const customer = await server.request({ method: 'GET', url: '/v1/customers/cus_unreleased' });
      expectProblem(customer, { status: 404, code: 'customer_not_found' });
    });

    it('records other event types as ignored, with the reason', async () => {
      const event = stripeEvent({
        id: 'evt_price',
        type: 'price.created',
        created: '2026-01-10T00:00:00Z',
        object: stripeFixture('price'),
      });
      expect(expectStatus<StripeWebhookResult>(await deliver(event), 200)).toEqual({
        event: 'evt_price',
        outcome: 'ignored',
        detail: 'price.created events do not change subscriptions',
      });
      expect((await received()).find((e) => e.id === 'evt_price')).toMatchObject({
        outcome: 'ignored',
        type: 'price.created',
      });
    });

    it('reports items of products no plan is sold as, and applies the rest', async () => {
      const object = stripeSubscription({
        id: 'sub_mixed',
        customer: 'cus_mixed',
        status: 'active',
        items: [
          stripeItem({ id: 'si_pro', product: 'prod_pro', period }),
          stripeItem({ id: 'si_odd', product: 'prod_unknown', period }),
        ],
      });
      const event = stripeEvent({
        id: 'evt_mixed',
        type: 'customer.subscription.created',
        created: '2026-01-10T00:00:00Z',
        object,
      });
      const result = expectStatus<StripeWebhookResult>(await deliver(event), 200);
      expect(result).toMatchObject({ outcome: 'applied', detail: expect.stringContaining('prod_unknown') });
      expect((await received()).find((e) => e.id === 'evt_mixed')?.detail).toContain('prod_unknown');
      expect((await subscriptionsOf('cus_mixed'))[0]).toMatchObject({ plan: 'pro', add_ons: [] });
    });

    it('ignores a subscription of no known product, naming the reason', async () => {
      const object = stripeSubscription({
        id: 'sub_unknown',
        customer: 'cus_unknown',
        status: 'active',
        items: [stripeItem({ id: 'si_odd', product: 'prod_unknown', period })],
      });
      const event = stripeEvent({
        id: 'evt_unknown',
        type: 'customer.subscription.updated',
        created: '2026-01-10T00:00:00Z',
        object,
      });
      expect(expectStatus<StripeWebhookResult>(await deliver(event), 200)).toMatchObject({
        outcome: 'ignored',
        detail: expect.stringContaining('no item whose product is a base plan'),
      });
      const customer = await server.request({ method: 'GET', url: '/v1/customers/cus_unknown' });
      expectProblem(customer, { status: 404, code: 'customer_not_found' });
    });

    it('ignores an invoice event without the API key to fetch its subscription', async () => {
      const invoice = {
        ...stripeFixture('invoice'),
        parent: { type: 'subscription_details', subscription_details: { subscription: 'sub_inv' } },
      };
      const event = stripeEvent({
        id: 'evt_invoice',
        type: 'invoice.paid',
        created: '2026-01-10T00:00:00Z',
        object: invoice,
      });
      expect(expectStatus<StripeWebhookResult>(await deliver(event), 200)).toMatchObject({
        outcome: 'ignored',
        detail: expect.stringContaining('KEYMASTER_STRIPE_API_KEY'),
      });
    });

    it.each([
      [
        'an object of the wrong shape',
        {
          ...stripeFixture('event'),
          id: 'evt_bad1',
          type: 'customer.subscription.updated',
          data: { object: { object: 'subscription', id: 'sub_x', items: 'many' } },
        },
      ],
      [
        'no object at all',
        { ...stripeFixture('event'), id: 'evt_bad2', type: 'customer.subscription.updated', data: null },
      ],
      [
        'a customer id Keymaster cannot hold',
        stripeEvent({
          id: 'evt_bad3',
          type: 'customer.subscription.created',
          created: '2026-01-10T00:00:00Z',
          object: stripeSubscription({
            id: 'sub_bad3',
            customer: 'cus bad',
            status: 'active',
            items: [stripeItem({ id: 'si', product: 'prod_pro', period })],
          }),
        }),
      ],
    ])('answers %s with an ignored record, never a 500', async (_name, event) => {
      expect(expectStatus<StripeWebhookResult>(await deliver(event), 200).outcome).toBe('ignored');
    });

    it.each([
      ['a body that is not JSON', 'not json'],
      ['an event without an id', { type: 'customer.subscription.updated', created: 1 }],
      ['a JSON array', [1, 2]],
    ])('refuses %s with a 400', async (_name, event) => {
      const response = await deliver(event);
      expect(response.statusCode).toBe(400);
    });
  });

  it('pages the received events, newest first', async () => {
    const all = await received();
    const first = expectStatus<{ data: StripeEvent[]; next_cursor: string }>(
      await server.request({ method: 'GET', url: '/v1/integrations/stripe/events?limit=2' }),
      200,
    );
    expect(first.data.map((e) => e.id)).toEqual(all.slice(0, 2).map((e) => e.id));
    const second = expectStatus<{ data: StripeEvent[] }>(
      await server.request({
        method: 'GET',
        url: `/v1/integrations/stripe/events?limit=2&cursor=${first.next_cursor}`,
      }),
      200,
    );
    expect(second.data.map((e) => e.id)).toEqual(all.slice(2, 4).map((e) => e.id));
  });
});
