import type { PortalChangePreview, PortalLink, PortalSession, PortalView, Subscription } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalog, expectStatus, seedCatalog, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { type FakeStripe, sellOnStripe, startFakeStripe } from '../../test-support/stripe.js';

describeEachDialect('customer portal', (dialect) => {
  let server: TestServer;

  const link = async (customer: string, extra: Record<string, unknown> = {}) =>
    expectStatus<PortalLink>(
      await server.request({ method: 'POST', url: '/v1/portal-sessions', body: { customer, ...extra } }),
      201,
    );
  /** A request with a portal credential only (no admin key). */
  const asPortal = (
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    credential: { bearer?: string; cookie?: string; csrf?: string },
    body?: unknown,
  ) =>
    server.request({
      method,
      url,
      ...(body !== undefined ? { body } : {}),
      headers: {
        authorization: credential.bearer ? `Bearer ${credential.bearer}` : undefined,
        cookie: credential.cookie ? `km_portal=${credential.cookie}` : undefined,
        'x-csrf-token': credential.csrf,
      },
    });
  /** Opens a portal session as a browser does: the link's token for the cookie and CSRF token. */
  const open = async (customer: string) => {
    const { token } = await link(customer);
    const response = await server.request({
      method: 'POST',
      url: '/v1/portal/session',
      body: { token },
      headers: { authorization: undefined },
    });
    const session = expectStatus<PortalSession>(response, 201);
    return { cookie: token, csrf: session.csrf_token, setCookie: String(response.headers['set-cookie']) };
  };

  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_PUBLIC_URL: 'https://keymaster.example.com' } });
    await seedCatalog(server);
  });
  afterAll(() => server.close());

  describe('POST /v1/portal-sessions', () => {
    it('makes a one-hour link on the public URL for an existing customer', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const made = await link(id, { return_url: 'https://app.example.com/settings' });
      expect(made.url).toBe(`https://keymaster.example.com/portal#${made.token}`);
      expect(Date.parse(made.expires_at)).toBe(Math.floor(server.clock.now() / 1000) * 1000 + 3_600_000);
      const view = expectStatus<PortalView>(await asPortal('GET', '/v1/portal', { bearer: made.token }), 200);
      expect(view.return_url).toBe('https://app.example.com/settings');
    });

    it('refuses an unknown customer, a bad return URL and a caller without a key', async () => {
      expectProblem(
        await server.request({ method: 'POST', url: '/v1/portal-sessions', body: { customer: 'nobody-here' } }),
        { status: 404, code: 'customer_not_found' },
      );
      const { id } = await seedCustomer(server);
      expectProblem(
        await server.request({
          method: 'POST',
          url: '/v1/portal-sessions',
          body: { customer: id, return_url: 'javascript:alert(1)' },
        }),
        { status: 400, code: 'validation_failed', path: '/return_url' },
      );
      expectProblem(
        await server.request({
          method: 'POST',
          url: '/v1/portal-sessions',
          body: { customer: id },
          headers: { authorization: undefined },
        }),
        { status: 401, code: 'unauthenticated' },
      );
    });
  });

  describe('a portal session', () => {
    it('is an HttpOnly, Secure, SameSite=Lax cookie, and shows the customer their plan, plans on sale and usage', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      const session = await open(id);
      expect(session.setCookie).toMatch(/^km_portal=eyJ[^;]+; Path=\/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax$/);
      const view = expectStatus<PortalView>(await asPortal('GET', '/v1/portal', session), 200);
      expect(view.customer.id).toBe(id);
      expect(view.subscription?.plan).toBe('pro');
      // A tab with the cookie but not the CSRF token (opened anew) asks for it.
      expect(
        expectStatus<PortalSession>(await asPortal('GET', '/v1/portal/session', { cookie: session.cookie }), 200),
      ).toMatchObject({ customer: id, csrf_token: session.csrf });
      expect(view.plans.map((p) => [p.key, p.relation])).toEqual([
        ['free', 'downgrade'],
        ['pro', 'current'],
        ['enterprise', 'upgrade'],
      ]);
      expect(view.plans[1]!.features.find((f) => f.feature === 'api_calls')).toMatchObject({
        name: 'API calls',
        limit: catalog.limits.pro.apiCalls,
        reset: 'month',
      });
      expect(view.add_ons).toMatchObject([{ key: 'extra_seats', quantity: 0 }]);
      expect(view.entitlements.find((e) => e.feature === 'api_calls')).toMatchObject({ usage: 0, limit: 100_000 });
    });

    it('needs the CSRF token for changes made with the cookie, not with the bearer token', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const session = await open(id);
      expectProblem(await asPortal('POST', '/v1/portal/cancel', { cookie: session.cookie }, {}), {
        status: 403,
        code: 'csrf_token_invalid',
      });
      expectProblem(await asPortal('POST', '/v1/portal/cancel', { cookie: session.cookie, csrf: 'wrong' }, {}), {
        status: 403,
        code: 'csrf_token_invalid',
      });
      const canceled = expectStatus<Subscription>(await asPortal('POST', '/v1/portal/cancel', session, {}), 200);
      expect(canceled.cancel_at).toBe(canceled.current_period_end);
      const undone = expectStatus<Subscription>(
        await asPortal('POST', '/v1/portal/undo-cancel', { bearer: session.cookie }, {}),
        200,
      );
      expect(undone.cancel_at).toBeNull();
    });

    it('previews and makes an upgrade now and a downgrade at period end, recorded as the customer', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      const session = await open(id);
      const up = expectStatus<PortalChangePreview>(
        await asPortal('POST', '/v1/portal/preview', session, { plan: 'enterprise' }),
        200,
      );
      expect(up).toMatchObject({ relation: 'upgrade', when: 'now', gains: [], losses: [] });
      expect(up.changes.map((c) => [c.feature, c.from.limit, c.to.limit])).toEqual([
        ['api_calls', 100_000, null],
        ['seats', 10, null],
        // The support tier's value changes (priority to dedicated); it has no limit.
        ['support_tier', null, null],
      ]);
      const down = expectStatus<PortalChangePreview>(
        await asPortal('POST', '/v1/portal/preview', session, { plan: 'free' }),
        200,
      );
      expect(down).toMatchObject({ relation: 'downgrade', when: 'period_end', losses: ['sso'] });
      // The preview changed nothing.
      expect(expectStatus<PortalView>(await asPortal('GET', '/v1/portal', session), 200).subscription?.plan).toBe(
        'pro',
      );

      const upgraded = expectStatus<Subscription>(
        await asPortal('POST', '/v1/portal/change', session, { plan: 'enterprise' }),
        200,
      );
      expect(upgraded.plan).toBe('enterprise');
      const downgraded = expectStatus<Subscription>(
        await asPortal('POST', '/v1/portal/change', session, { plan: 'free' }),
        200,
      );
      expect(downgraded.plan).toBe('enterprise');
      expect(downgraded.scheduled_change).toMatchObject({ plan: 'free', at: downgraded.current_period_end });

      const history = expectStatus<{ data: { actor: string }[] }>(
        await server.request({ method: 'GET', url: `/v1/subscriptions/${upgraded.id}/history` }),
        200,
      );
      expect(history.data[0]!.actor).toBe(`portal:${id}`);
      const audit = expectStatus<{ data: { actor: { type: string; id: string } }[] }>(
        await server.request({ method: 'GET', url: `/v1/audit-events?customer=${id}&limit=1` }),
        200,
      );
      expect(audit.data[0]!.actor).toMatchObject({ type: 'customer', id });
    });

    it('subscribes a customer without a subscription, and sets add-on quantities', async () => {
      const { id } = await seedCustomer(server);
      const session = await open(id);
      expectProblem(await asPortal('POST', '/v1/portal/add-ons', session, { plan: 'extra_seats', quantity: 1 }), {
        status: 404,
        code: 'subscription_not_found',
      });
      const subscribed = expectStatus<Subscription>(
        await asPortal('POST', '/v1/portal/change', session, { plan: 'pro' }),
        200,
      );
      expect(subscribed).toMatchObject({ customer: id, plan: 'pro' });
      const seats = expectStatus<Subscription & { add_ons: { plan: string; quantity: number }[] }>(
        await asPortal('POST', '/v1/portal/add-ons', session, { plan: 'extra_seats', quantity: 2 }),
        200,
      );
      expect(seats.add_ons).toMatchObject([{ plan: 'extra_seats', quantity: 2 }]);
      const view = expectStatus<PortalView>(await asPortal('GET', '/v1/portal', session), 200);
      expect(view.add_ons[0]!.quantity).toBe(2);
      expect(view.entitlements.find((e) => e.feature === 'seats')?.limit).toBe(catalog.limits.pro.seats + 10);
    });

    it('names the field of a plan that is not on sale or of the wrong kind', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const session = await open(id);
      expectProblem(await asPortal('POST', '/v1/portal/change', session, { plan: 'no_such_plan' }), {
        status: 404,
        code: 'plan_not_found',
        path: '/plan',
      });
      expectProblem(await asPortal('POST', '/v1/portal/change', session, { plan: 'extra_seats' }), {
        status: 400,
        code: 'validation_failed',
        path: '/plan',
      });
      expectProblem(await asPortal('POST', '/v1/portal/add-ons', session, { plan: 'pro', quantity: 1 }), {
        status: 400,
        code: 'validation_failed',
        path: '/plan',
      });
      expectProblem(await asPortal('POST', '/v1/portal/add-ons', session, { plan: 'extra_seats', quantity: -1 }), {
        status: 400,
        code: 'validation_failed',
        path: '/quantity',
      });
    });
  });

  describe('what a portal credential cannot do', () => {
    it('opens no other route, and no route takes another customer', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      const other = (await seedCustomer(server, { plan: 'free' })).id;
      const session = await open(id);
      for (const credential of [{ bearer: session.cookie }, { cookie: session.cookie, csrf: session.csrf }]) {
        for (const url of [
          `/v1/customers/${other}/entitlements`,
          `/v1/customers/${id}/entitlements`,
          '/v1/customers',
        ]) {
          expectProblem(await asPortal('GET', url, credential), { status: 401, code: 'unauthenticated' });
        }
        expectProblem(await asPortal('POST', '/v1/check', credential, { customer: other, feature: 'sso' }), {
          status: 401,
          code: 'unauthenticated',
        });
        // A customer named anywhere in the request is not a field of the portal's routes.
        expectProblem(await asPortal('POST', '/v1/portal/change', credential, { plan: 'free', customer: other }), {
          status: 400,
          code: 'validation_failed',
          path: '/customer',
        });
        const view = expectStatus<PortalView>(await asPortal('GET', `/v1/portal?customer=${other}`, credential), 200);
        expect(view.customer.id).toBe(id);
      }
      // And an admin key is not a portal credential: the portal's routes know only their customer's session.
      expectProblem(await server.request({ method: 'GET', url: '/v1/portal' }), {
        status: 401,
        code: 'unauthenticated',
      });
    });

    it('ends when its hour is over, or when its customer is erased', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      const session = await open(id);
      const erased = await seedCustomer(server, { plan: 'pro' });
      const erasedSession = await open(erased.id);
      expect((await server.request({ method: 'DELETE', url: `/v1/customers/${erased.id}` })).statusCode).toBe(204);
      expectProblem(await asPortal('GET', '/v1/portal', erasedSession), { status: 401, code: 'token_revoked' });
      expectStatus(await asPortal('GET', '/v1/portal', session), 200);
      server.clock.advance(3_600_000);
      expectProblem(await asPortal('GET', '/v1/portal', session), { status: 401, code: 'token_expired' });
      expectProblem(
        await server.request({
          method: 'POST',
          url: '/v1/portal/session',
          body: { token: session.cookie },
          headers: { authorization: undefined },
        }),
        { status: 401, code: 'token_expired' },
      );
    });

    it('is not a customer token, and a customer token is not a portal credential', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      const { token } = expectStatus<{ token: string }>(
        await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer: id } }),
        201,
      );
      expectProblem(await asPortal('GET', '/v1/portal', { bearer: token }), { status: 401, code: 'unauthenticated' });
      const portal = await link(id);
      expectProblem(await asPortal('GET', `/v1/customers/${id}/entitlements`, { bearer: portal.token }), {
        status: 401,
        code: 'unauthenticated',
      });
    });
  });
});

describeEachDialect('customer portal with Stripe', (dialect) => {
  let server: TestServer;
  let stripe: FakeStripe;

  const open = async (customer: string) => {
    const { token } = expectStatus<PortalLink>(
      await server.request({ method: 'POST', url: '/v1/portal-sessions', body: { customer } }),
      201,
    );
    return { authorization: `Bearer ${token}` };
  };
  const asPortal = (method: 'GET' | 'POST', url: string, headers: Record<string, string>, body?: unknown) =>
    server.request({ method, url, headers, ...(body !== undefined ? { body } : {}) });

  beforeAll(async () => {
    stripe = await startFakeStripe();
    stripe.products.set('prod_pro', { id: 'prod_pro', default_price: 'price_pro_monthly' });
    stripe.products.set('prod_enterprise', { id: 'prod_enterprise', default_price: null });
    server = await startTestServer({
      dialect,
      env: {
        KEYMASTER_PUBLIC_URL: 'https://keymaster.example.com',
        KEYMASTER_STRIPE_API_KEY: 'sk_test_portal',
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

  it('sends a customer without a subscription to Stripe Checkout for a plan sold there', async () => {
    const { id } = await seedCustomer(server);
    const portal = await open(id);
    expect(expectStatus<PortalView>(await asPortal('GET', '/v1/portal', portal), 200).billing).toBe('stripe');
    expectProblem(await asPortal('POST', '/v1/portal/change', portal, { plan: 'pro' }), {
      status: 409,
      code: 'subscription_source_mismatch',
    });
    const checkout = expectStatus<{ url: string }>(
      await asPortal('POST', '/v1/portal/checkout', portal, { plan: 'pro' }),
      200,
    );
    const session = stripe.sessions.at(-1)!;
    expect(checkout.url).toBe(session.url);
    expect(session.kind).toBe('checkout');
    expect(Object.fromEntries(session.form)).toMatchObject({
      mode: 'subscription',
      'line_items[0][price]': 'price_pro_monthly',
      'line_items[0][quantity]': '1',
      client_reference_id: id,
      'metadata[keymaster_customer]': id,
      'subscription_data[metadata][keymaster_customer]': id,
      success_url: 'https://keymaster.example.com/portal',
    });
    // A plan not sold on Stripe, or without a price there, says which.
    expectProblem(await asPortal('POST', '/v1/portal/checkout', portal, { plan: 'free' }), {
      status: 409,
      code: 'conflict',
      path: '/plan',
    });
    expectProblem(await asPortal('POST', '/v1/portal/checkout', portal, { plan: 'enterprise' }), {
      status: 409,
      code: 'conflict',
      path: '/plan',
    });
  });

  it("sends a customer Stripe bills to Stripe's billing portal, and makes no change of its own", async () => {
    const id = uniqueKey('cus');
    expectStatus(
      await server.request({
        method: 'PUT',
        url: `/v1/customers/${id}`,
        body: { stripe_customer: `cus_stripe_${id}` },
      }),
      201,
    );
    expectStatus(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${id}/subscriptions`,
        body: { plan: 'pro', source: 'stripe' },
      }),
      201,
    );
    const portal = await open(id);
    expect(expectStatus<PortalView>(await asPortal('GET', '/v1/portal', portal), 200).billing).toBe('stripe');
    for (const [url, body] of [
      ['/v1/portal/change', { plan: 'enterprise' }],
      ['/v1/portal/add-ons', { plan: 'extra_seats', quantity: 1 }],
      ['/v1/portal/cancel', {}],
    ] as const) {
      expectProblem(await asPortal('POST', url, portal, body), { status: 409, code: 'subscription_source_mismatch' });
    }
    const billing = expectStatus<{ url: string }>(await asPortal('POST', '/v1/portal/billing-portal', portal, {}), 200);
    expect(stripe.sessions.at(-1)).toMatchObject({ kind: 'billing_portal', url: billing.url });
    expect(Object.fromEntries(stripe.sessions.at(-1)!.form)).toEqual({
      customer: `cus_stripe_${id}`,
      return_url: 'https://keymaster.example.com/portal',
    });
  });
});
