import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, featureBody, seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestServer } from '../test-support/server.js';

/**
 * A customer token is held by the customer's browser: the context it sends may not satisfy a
 * targeting rule on a trait the customer does not have (KEYMASTER_CLIENT_CONTEXT_KEYS lists the
 * keys it may set). On the fast path, the router and OFREP alike.
 */
describeEachDialect('targeting context from a customer token', (dialect) => {
  let server: TestServer;
  let base: string;
  let customer: string;
  let token: string;
  const beta = 'beta_dashboard';
  const mobile = 'new_mobile_ui';

  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_CLIENT_CONTEXT_KEYS: 'app_version' } });
    await seedCatalog(server);
    for (const body of [
      featureBody({ key: beta, type: 'boolean', targeting: { if: [{ '==': [{ var: 'beta' }, true] }, 'on', 'off'] } }),
      featureBody({
        key: mobile,
        type: 'boolean',
        targeting: { if: [{ sem_ver: [{ var: 'app_version' }, '>=', '2.0.0'] }, 'on', 'off'] },
      }),
    ]) {
      expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    }
    customer = (await seedCustomer(server, { plan: 'free' })).id;
    token = expectStatus<{ token: string }>(
      await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer } }),
      201,
    ).token;
    base = await server.listen();
  });
  afterAll(() => server.close());

  /** A check over a real socket (the fast path) and through the router (`inject`), which must agree. */
  async function check(credential: string, feature: string, context: Record<string, unknown>) {
    const body = { customer, feature, context };
    const headers = { authorization: `Bearer ${credential}`, 'content-type': 'application/json' };
    const fast = await fetch(`${base}/v1/check`, { method: 'POST', headers, body: JSON.stringify(body) });
    expect(fast.status).toBe(200);
    const routed = expectStatus<{ allowed: boolean }>(
      await server.request({
        method: 'POST',
        url: '/v1/check',
        body,
        headers: { authorization: headers.authorization },
      }),
      200,
    );
    const answer = (await fast.json()) as { allowed: boolean };
    expect(routed.allowed).toBe(answer.allowed);
    return answer.allowed;
  }

  async function ofrep(credential: string, feature: string, context: Record<string, unknown>) {
    const response = await server.request({
      method: 'POST',
      url: `/ofrep/v1/evaluate/flags/${feature}`,
      body: { context: { targetingKey: customer, ...context } },
      headers: { authorization: `Bearer ${credential}` },
    });
    return expectStatus<{ value: unknown }>(response, 200).value;
  }

  it('drops a context key the customer could use to grant itself a feature', async () => {
    expect(await check(token, beta, { beta: true })).toBe(false);
    expect(await ofrep(token, beta, { beta: true })).toBe(false);
  });

  it('keeps the keys the operator allows', async () => {
    expect(await check(token, mobile, { app_version: '2.1.0' })).toBe(true);
    expect(await check(token, mobile, { app_version: '1.9.0' })).toBe(false);
    expect(await ofrep(token, mobile, { app_version: '2.1.0' })).toBe(true);
  });

  it('trusts a secret key with any context', async () => {
    const admin = 'km_sk_test_admin_key_0123456789';
    expect(await check(admin, beta, { beta: true })).toBe(true);
    expect(await ofrep(admin, beta, { beta: true })).toBe(true);
  });
});
