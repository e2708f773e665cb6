import type { CustomerEntitlements, Decision, Grant, Subscription } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, grantBody, monthly, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Credit pools and one-off credits across the subscription lifecycle: a renewal resets the
 * pool's billing-period allowance (and starts its history afresh) while one-off credits carry
 * over; the entitlements at a past instant answer a drawing feature in the pool's figures.
 */
describeEachDialect('credit pools through renewals', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      start: '2026-03-10T09:00:00.000Z',
      env: { KEYMASTER_TEST_CLOCK: 'true' },
    });
    const features = [
      { key: 'credits', name: 'AI credits', type: 'metered', unit: 'credits' },
      { key: 'gpt4', name: 'GPT-4', type: 'metered', credit_cost: { pool: 'credits', per_unit: 5 } },
    ];
    for (const body of features) expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    const plan = {
      key: 'pro',
      name: 'Pro',
      price: monthly(2000),
      entitlements: [
        { feature: 'credits', limit: 100, reset: 'billing_period' },
        { feature: 'gpt4', limit: null },
      ],
    };
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: plan }), 201);
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans/pro/publish' }), 200);
  });
  afterAll(() => server.close());

  const post = (url: string, body: unknown = {}) => server.request({ method: 'POST', url, body });
  const check = async (customer: string, feature: string, quantity = 1) =>
    expectStatus<Decision>(await post('/v1/check', { customer, feature, quantity }), 200);
  const consume = async (customer: string, feature: string, quantity: number) =>
    expectStatus<Decision>(await post('/v1/consume', { customer, feature, quantity }), 200);
  const get = async (url: string) => server.request({ method: 'GET', url });

  it('resets the pool allowance on renewal, keeps the one-off credits, and answers the past in pool figures', async () => {
    const { id, subscription } = await seedCustomer(server, { plan: 'pro' });
    const sub = subscription!;
    const credit = expectStatus<Grant>(
      await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'credits', mode: 'credit', limit: 30 })),
      201,
    );
    // 22 calls at 5: the 100 of the allowance, then 10 of the one-off credits.
    expect(await consume(id, 'gpt4', 22)).toMatchObject({ allowed: true, usage: 110, balance: 20 });
    const before = server.clock.now();

    expectStatus(await post('/v1/test-clock/advance', { to: iso(Date.parse(sub.current_period_end) + 1000) }), 200);
    const renewed = expectStatus<Subscription>(await get(`/v1/subscriptions/${sub.id}`), 200);
    expect(renewed.current_period_start).toBe(sub.current_period_end);
    // A new period: the allowance is whole again, the credits left carry over.
    expect(await check(id, 'credits', 0)).toMatchObject({ usage: 0, limit: 100, balance: 120 });
    expect(await consume(id, 'gpt4', 2)).toMatchObject({ allowed: true, usage: 10, balance: 110 });
    const grants = expectStatus<{ data: Grant[] }>(await get(`/v1/customers/${id}/grants`), 200);
    expect(grants.data.find((g) => g.id === credit.id)).toMatchObject({ remaining: 20 });

    // The pool's history this period holds only this period's usage, as check does.
    const history = expectStatus<{ total: number; current_period: boolean; from: string }>(
      await get(`/v1/customers/${id}/usage?feature=credits&granularity=hour`),
      200,
    );
    expect(history).toMatchObject({ total: 10, current_period: true, from: renewed.current_period_start });

    // Before the renewal: the drawing feature in the pool's figures of that period (the credits
    // as they stand now).
    const past = expectStatus<CustomerEntitlements>(
      await get(`/v1/customers/${id}/entitlements?at=${encodeURIComponent(iso(before))}`),
      200,
    );
    const byFeature = Object.fromEntries(past.entitlements.map((e) => [e.feature, e]));
    expect(byFeature.gpt4).toMatchObject({
      usage: 110,
      limit: 100,
      balance: 20,
      credit_cost: { pool: 'credits', per_unit: 5 },
    });
    expect(byFeature.credits).toMatchObject({ usage: 110, credit_cost: null });
  });
});
