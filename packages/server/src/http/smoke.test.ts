import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestServer } from '../test-support/server.js';

describeEachDialect('smoke', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
  });
  afterAll(() => server.close());

  it('answers a check for a plan feature', async () => {
    const r1 = await server.request({
      method: 'POST',
      url: '/v1/features',
      body: { key: 'api_calls', name: 'API calls', type: 'metered' },
    });
    expect(r1.statusCode, r1.body).toBe(201);
    const r2 = await server.request({
      method: 'POST',
      url: '/v1/plans',
      body: {
        key: 'pro',
        name: 'Pro',
        price: { amount: 4900, currency: 'usd', interval: 'month' },
        entitlements: [{ feature: 'api_calls', limit: 1000, reset: 'month' }],
      },
    });
    expect(r2.statusCode, r2.body).toBe(201);
    const r3 = await server.request({ method: 'POST', url: '/v1/plans/pro/publish' });
    expect(r3.statusCode, r3.body).toBe(200);
    const r4 = await server.request({ method: 'PUT', url: '/v1/customers/acme', body: { name: 'Acme' } });
    expect(r4.statusCode, r4.body).toBe(201);
    const r5 = await server.request({ method: 'POST', url: '/v1/customers/acme/subscriptions', body: { plan: 'pro' } });
    expect(r5.statusCode, r5.body).toBe(201);
    const r6 = await server.request({
      method: 'POST',
      url: '/v1/check',
      body: { customer: 'acme', feature: 'api_calls' },
    });
    expect(r6.statusCode, r6.body).toBe(200);
    expect(r6.json()).toEqual({
      customer: 'acme',
      feature: 'api_calls',
      allowed: true,
      reason: 'entitled',
      type: 'metered',
      limit: 1000,
      usage: 0,
      balance: 1000,
      unlimited: false,
      overage: 'block',
      value: null,
      resets_at: '2026-02-01T00:00:00.000Z',
      upgrade: null,
      credit_cost: null,
    });
  });
});
