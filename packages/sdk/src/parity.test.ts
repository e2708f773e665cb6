import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, grantBody, planBody, seedCustomer } from '../../server/src/test-support/builders.js';
import { describeEachDialect } from '../../server/src/test-support/databases.js';
import { createKeymaster, type Keymaster } from './index.js';
import { startLiveServer, testAdminKey } from './test-support/live-server.js';

type Live = Awaited<ReturnType<typeof startLiveServer>>;

/** Every field `POST /v1/check` answers except `upgrade`, which a local check leaves null. */
const compared = [
  'customer',
  'feature',
  'allowed',
  'reason',
  'type',
  'limit',
  'usage',
  'balance',
  'unlimited',
  'overage',
  'value',
  'resets_at',
] as const;
const pick = (d: Record<string, unknown>) => Object.fromEntries(compared.map((k) => [k, d[k]]));

describeEachDialect('local check parity with the server', (dialect) => {
  let live: Live;
  let km: Keymaster;
  const customers: string[] = [];

  beforeAll(async () => {
    live = await startLiveServer({ dialect });
    const { server } = live;
    const post = async (url: string, body: unknown, status = 201) =>
      expectStatus(await server.request({ method: 'POST', url, body }), status);
    // A killed feature, and a plan that lets api_calls run over its limit.
    await post('/v1/features', { key: 'beta', name: 'Beta', type: 'boolean' });
    await post('/v1/features', { key: 'tokens', name: 'Tokens', type: 'metered' });
    await post(
      '/v1/plans',
      planBody({
        key: 'payg',
        entitlements: [
          { feature: 'beta' },
          { feature: 'tokens', limit: 10, overage: 'allow' },
          { feature: 'api_calls', limit: 5, reset: 'week' },
        ],
      }),
    );
    await post('/v1/plans/payg/publish', undefined, 200);
    expectStatus(
      await server.request({ method: 'PATCH', url: '/v1/features/beta', body: { status: 'disabled' } }),
      200,
    );

    const free = await seedCustomer(server, { plan: 'free' });
    const pro = await seedCustomer(server, {
      plan: 'pro',
      subscription: { add_ons: [{ plan: 'extra_seats', quantity: 2 }] },
    });
    const enterprise = await seedCustomer(server, { plan: 'enterprise' });
    const payg = await seedCustomer(server, { plan: 'payg' });
    const none = await seedCustomer(server, {});
    const canceled = await seedCustomer(server, { plan: 'pro' });
    await post(`/v1/subscriptions/${canceled.subscription!.id}/cancel`, { when: 'now' }, 200);
    const granted = await seedCustomer(server, { plan: 'free' });
    await post(`/v1/customers/${granted.id}/grants`, grantBody({ feature: 'api_calls', mode: 'add', limit: 500 }));
    await post(`/v1/customers/${granted.id}/grants`, grantBody({ feature: 'sso', enabled: true }));
    // Usage: some, exactly at the limit, over it (overage allowed), and gauge levels.
    for (const [customer, feature, quantity] of [
      [free.id, 'api_calls', 990],
      [payg.id, 'api_calls', 5],
      [payg.id, 'tokens', 25],
      [pro.id, 'api_calls', 12_345],
    ] as const) {
      expectStatus(
        await server.request({ method: 'POST', url: '/v1/consume', body: { customer, feature, quantity } }),
        200,
      );
    }
    expectStatus(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${free.id}/usage`,
        body: { feature: 'seats', set: 3 },
      }),
      200,
    );
    expectStatus(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${pro.id}/usage`,
        body: { feature: 'seats', set: 4 },
      }),
      200,
    );
    customers.push(free.id, pro.id, enterprise.id, payg.id, none.id, canceled.id, granted.id, 'nobody_at_all');

    km = createKeymaster({ baseUrl: live.url, apiKey: testAdminKey, clock: server.clock, stream: false });
    await Promise.all(customers.map((c) => km.load(c)));
  });

  afterAll(async () => {
    await km?.close();
    await live?.close();
  });

  it('gives the same decision as POST /v1/check for every reason and quantity around each limit', async () => {
    const features = ['sso', 'api_calls', 'seats', 'support_tier', 'beta', 'tokens', 'no_such_feature'];
    const reasons = new Set<string>();
    let compared = 0;
    for (const customer of customers) {
      for (const feature of features) {
        const base = km.check(customer, feature, 0);
        const room = base.limit !== null && base.usage !== null ? base.limit - base.usage : 3;
        const quantities = [...new Set([0, 1, 2, room - 1, room, room + 1, 1_000_000].filter((q) => q >= 0))];
        for (const quantity of quantities) {
          const local = km.check(customer, feature, quantity);
          expect(local.source).toBe('cache');
          expect(local.stale).toBe(false);
          const remote = expectStatus(
            await live.server.request({ method: 'POST', url: '/v1/check', body: { customer, feature, quantity } }),
            200,
          );
          expect(pick(local as unknown as Record<string, unknown>), `${customer} ${feature} ×${quantity}`).toEqual(
            pick(remote),
          );
          reasons.add(local.reason);
          compared++;
        }
      }
    }
    expect([...reasons].sort()).toEqual([
      'entitled',
      'feature_disabled',
      'limit_reached',
      'no_entitlement',
      'subscription_inactive',
      'unknown_customer',
      'unknown_feature',
    ]);
    expect(compared).toBeGreaterThan(200);
  });

  it('defaults the quantity to 1, as the server does', async () => {
    const customer = customers[0]!;
    const remote = expectStatus(
      await live.server.request({ method: 'POST', url: '/v1/check', body: { customer, feature: 'api_calls' } }),
      200,
    );
    expect(pick(km.check(customer, 'api_calls') as unknown as Record<string, unknown>)).toEqual(pick(remote));
  });

  it('answers a cached customer without allocating a new decision', () => {
    const a = km.check(customers[1]!, 'api_calls', 5);
    const b = km.check(customers[1]!, 'api_calls', 7);
    expect(a).toBe(b);
    expect(Object.isFrozen(a)).toBe(true);
  });
});
