import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, grantBody, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

interface Report {
  data: {
    customer: string;
    plan: string;
    revenue: { amount: number; currency: string };
    features: {
      feature: string;
      limit: number | null;
      usage: number;
      used_in_range: number;
      utilization: number | null;
      source: string | null;
      subscription: string | null;
      grants: string[];
    }[];
    flags: string[];
    evidence: {
      subscriptions: string[];
      revenue: {
        subscription: string;
        from: string;
        to: string;
        period: { start: string; end: string };
        share: number;
        status: string;
      }[];
      granted_only: string[];
      grants: { grant: string; feature: string }[];
      unpaid_access_seconds: number;
    };
  }[];
  plans: Record<string, { customers: number; revenue: Record<string, number>; utilization: Record<string, number> }>;
  totals: { customers: number; revenue: Record<string, number>; flags: Record<string, number> };
}

/**
 * March 2026 (31 days) computed by hand: pro is 49.00 a month with 100,000 API calls and 10
 * seats; free is 0 with 1,000 calls and 3 seats.
 */
describeEachDialect('GET /v1/reports/usage-revenue', (dialect) => {
  let server: TestServer;
  let comp: string;
  let extraCalls: string;
  const subscriptions: Record<string, string> = {};
  const range = 'from=2026-03-01T00:00:00.000Z&to=2026-04-01T00:00:00.000Z';
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      start: '2026-03-01T00:00:00.000Z',
      env: { KEYMASTER_TEST_CLOCK: 'true' },
    });
    await seedCatalog(server);
    // paying: pro all month, 85,000 calls (85 % of the limit), 4 seats in use.
    await seedCustomer(server, { id: 'paying', plan: 'pro' });
    // trial: pro with a 14-day trial that activates: March 15 to April 1 earns 17/31 of 49.00.
    await seedCustomer(server, {
      id: 'trial',
      plan: 'pro',
      subscription: { trial_days: 14, on_trial_end: 'activate' },
    });
    // comped: free, with sso granted (a feature they do not pay for).
    await seedCustomer(server, { id: 'comped', plan: 'free' });
    comp = expectStatus<{ id: string }>(
      await server.request({
        method: 'POST',
        url: '/v1/customers/comped/grants',
        body: grantBody({ feature: 'sso', enabled: true }),
      }),
      201,
    ).id;
    // The comped customer's API calls: 500 more than free's 1,000, through a grant.
    extraCalls = expectStatus<{ id: string }>(
      await server.request({
        method: 'POST',
        url: '/v1/customers/comped/grants',
        body: grantBody({ feature: 'api_calls', mode: 'add', limit: 500 }),
      }),
      201,
    ).id;
    for (const customer of ['paying', 'trial', 'comped']) {
      const { data } = expectStatus<{ data: { id: string }[] }>(
        await server.request({ method: 'GET', url: `/v1/customers/${customer}/subscriptions` }),
        200,
      );
      subscriptions[customer] = data[0]?.id ?? '';
    }
    for (const [customer, seats] of [
      ['paying', 4],
      ['trial', 1],
      ['comped', 1],
    ] as const) {
      expectStatus(
        await server.request({
          method: 'POST',
          url: `/v1/customers/${customer}/usage`,
          body: { feature: 'seats', set: seats },
        }),
        200,
      );
    }
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/consume',
        body: { customer: 'paying', feature: 'api_calls', quantity: 85_000 },
      }),
      200,
    );
    expectStatus(
      await server.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to: '2026-04-01T00:00:00.000Z' } }),
      200,
    );
  });
  afterAll(() => server.close());

  const report = async (query = range) =>
    expectStatus<Report>(await server.request({ method: 'GET', url: `/v1/reports/usage-revenue?${query}` }), 200);

  it('earns each plan’s price prorated over the paid part of each period', async () => {
    const { data, totals } = await report();
    const by = Object.fromEntries(data.map((row) => [row.customer, row]));
    expect(by.paying?.revenue).toEqual({ amount: 4900, currency: 'usd', by_currency: { usd: 4900 } });
    expect(by.trial?.revenue.amount).toBe(Math.round((4900 * 17) / 31));
    expect(by.comped?.revenue.amount).toBe(0);
    expect(totals.revenue).toEqual({ usd: 4900 + Math.round((4900 * 17) / 31) });
    expect(totals.customers).toBe(3);
    // The trial's evidence: its 14 unpaid days (cut where the trial notice was recorded, on March
    // 12), then the paid rest of the period.
    expect(by.trial?.evidence.revenue.map((l) => [l.status, l.from, l.share])).toEqual([
      ['trialing', '2026-03-01T00:00:00.000Z', 0],
      ['trialing', '2026-03-12T00:00:00.000Z', 0],
      ['active', '2026-03-15T00:00:00.000Z', 17 / 31],
    ]);
    expect(by.trial?.evidence.unpaid_access_seconds).toBe(14 * 86_400);
  });

  it('reports each limited feature’s use, and flags upsell, unused and unpaid access', async () => {
    const { data } = await report();
    const by = Object.fromEntries(data.map((row) => [row.customer, row]));
    expect(by.paying?.features.find((f) => f.feature === 'api_calls')).toMatchObject({
      limit: 100_000,
      used_in_range: 85_000,
      utilization: 0.85,
    });
    expect(by.paying?.flags).toEqual(['upsell']);
    expect(by.trial?.flags).toEqual(['unused', 'unpaid_access']);
    expect(by.comped?.flags).toEqual(['unused', 'unpaid_access']);
    expect((await report(`${range}&flag=upsell`)).data.map((row) => row.customer)).toEqual(['paying']);
    expect((await report(`${range}&plan=free`)).data.map((row) => row.customer)).toEqual(['comped']);
  });

  it('links each figure to the subscriptions, periods and grants it was computed from', async () => {
    const { data } = await report();
    const by = Object.fromEntries(data.map((row) => [row.customer, row]));
    const march = { start: '2026-03-01T00:00:00.000Z', end: '2026-04-01T00:00:00.000Z' };
    expect(by.paying?.evidence.subscriptions).toEqual([subscriptions.paying]);
    expect(by.paying?.evidence.revenue).toEqual([
      expect.objectContaining({ subscription: subscriptions.paying, period: march, share: 1 }),
    ]);
    expect(by.paying?.features.find((f) => f.feature === 'api_calls')).toMatchObject({
      source: 'plan',
      subscription: subscriptions.paying,
      grants: [],
    });
    // The comped customer's limit of 1,500 calls: the free plan's 1,000 and the grant's 500.
    expect(by.comped?.evidence.subscriptions).toEqual([subscriptions.comped]);
    expect(by.comped?.features.find((f) => f.feature === 'api_calls')).toMatchObject({
      limit: 1_500,
      subscription: subscriptions.comped,
      grants: [extraCalls],
    });
    // sso, which free does not include, held through the comped grant.
    expect(by.comped?.evidence.granted_only).toEqual(['sso']);
    expect(by.comped?.evidence.grants).toEqual(
      [
        { grant: comp, feature: 'sso' },
        { grant: extraCalls, feature: 'api_calls' },
      ].sort((a, b) => (a.grant < b.grant ? -1 : 1)),
    );
    expect(by.paying?.evidence.grants).toEqual([]);
  });

  it('refuses a range that ends before it starts, is longer than 400 days, or names an unknown plan', async () => {
    expectProblem(
      await server.request({
        method: 'GET',
        url: '/v1/reports/usage-revenue?from=2026-03-01T00:00:00.000Z&to=2026-02-01T00:00:00.000Z',
      }),
      { status: 400, code: 'validation_failed', path: '/querystring/to' },
    );
    expectProblem(
      await server.request({
        method: 'GET',
        url: '/v1/reports/usage-revenue?from=2025-01-01T00:00:00.000Z&to=2026-03-01T00:00:00.000Z',
      }),
      { status: 400, code: 'validation_failed', path: '/querystring/to' },
    );
    expectProblem(await server.request({ method: 'GET', url: `/v1/reports/usage-revenue?${range}&plan=nope` }), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/plan',
    });
    expectProblem(await server.request({ method: 'GET', url: `/v1/reports/usage-revenue?${range}&flag=nope` }), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/flag',
    });
    expectProblem(
      await server.request({ method: 'GET', url: '/v1/reports/usage-revenue?from=2026-03-01T00:00:00.000Z&to=soon' }),
      { status: 400, code: 'validation_failed', path: '/querystring/to' },
    );
    expectProblem(
      await server.request({ method: 'GET', url: '/v1/reports/usage-revenue?to=2026-03-01T00:00:00.000Z' }),
      {
        status: 400,
        code: 'validation_failed',
        path: '/querystring/from',
      },
    );
  });
});
