import type { ApiKeyCreated, Problem } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, featureBody, seedCatalog } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { expectProblem } from '../test-support/expect-problem.js';
import { startTestServer, type TestServer, testAdminKey } from '../test-support/server.js';
import { storedState } from '../test-support/stored-state.js';

/** One request to every authenticated route the server has (bodies valid where it matters). */
const protectedRoutes: { method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string; body?: unknown }[] = [
  { method: 'POST', url: '/v1/features', body: { key: 'sneaky', name: 'Sneaky', type: 'boolean' } },
  { method: 'GET', url: '/v1/features' },
  { method: 'GET', url: '/v1/features/sso' },
  { method: 'PATCH', url: '/v1/features/sso', body: { status: 'disabled' } },
  { method: 'POST', url: '/v1/plans', body: { key: 'sneaky', name: 'Sneaky', entitlements: [] } },
  { method: 'GET', url: '/v1/plans' },
  { method: 'GET', url: '/v1/plans/pro' },
  { method: 'GET', url: '/v1/plans/pro/versions' },
  { method: 'PATCH', url: '/v1/plans/pro', body: { name: 'Hacked' } },
  { method: 'POST', url: '/v1/plans/pro/publish' },
  { method: 'POST', url: '/v1/plans/pro/archive' },
  { method: 'PUT', url: '/v1/customers/acme', body: { name: 'Hacked' } },
  { method: 'GET', url: '/v1/customers/acme' },
  { method: 'GET', url: '/v1/customers' },
  { method: 'DELETE', url: '/v1/customers/acme' },
  { method: 'POST', url: '/v1/customers/acme/subscriptions', body: { plan: 'pro' } },
  { method: 'GET', url: '/v1/customers/acme/subscriptions' },
  { method: 'GET', url: '/v1/subscriptions/sub_x' },
  { method: 'POST', url: '/v1/subscriptions/sub_x/cancel', body: {} },
  { method: 'POST', url: '/v1/customers/acme/grants', body: { feature: 'sso', enabled: true, reason: 'x' } },
  { method: 'GET', url: '/v1/customers/acme/grants' },
  { method: 'DELETE', url: '/v1/grants/grt_x' },
  { method: 'GET', url: '/v1/customers/acme/entitlements' },
  { method: 'POST', url: '/v1/check', body: { customer: 'acme', feature: 'sso' } },
  { method: 'POST', url: '/v1/api-keys', body: { scopes: ['admin'] } },
  { method: 'GET', url: '/v1/api-keys' },
  { method: 'DELETE', url: '/v1/api-keys/key_x' },
  { method: 'GET', url: '/metrics' },
];

describeEachDialect('authentication', (dialect) => {
  let server: TestServer;
  let revokedSecret: string;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
    expectStatus(await server.request({ method: 'PUT', url: '/v1/customers/acme', body: { name: 'Acme' } }), 201);
    const revoked = expectStatus<ApiKeyCreated>(
      await server.request({ method: 'POST', url: '/v1/api-keys', body: { name: 'revoked', scopes: ['admin'] } }),
      201,
    );
    expectStatus(await server.request({ method: 'DELETE', url: `/v1/api-keys/${revoked.id}` }), 200);
    revokedSecret = revoked.secret;
  });
  afterAll(() => server.close());

  const badCredentials: [string, string | undefined][] = [
    ['no Authorization header', undefined],
    ['an empty header', ''],
    ['the wrong scheme', `Basic ${Buffer.from(`admin:${testAdminKey}`).toString('base64')}`],
    ['the key without a scheme', testAdminKey],
    ['"Bearer" and nothing else', 'Bearer '],
    ['an unknown key', 'Bearer km_sk_00000000000000000000000000000000'],
    ['an admin key with one character changed', `Bearer ${testAdminKey.slice(0, -1)}X`],
    ['a revoked key', 'revoked'],
  ];

  describe('a missing or bad key', () => {
    it.each(badCredentials)('%s: 401 unauthenticated, the same answer every time', async (_name, header) => {
      const authorization = header === 'revoked' ? `Bearer ${revokedSecret}` : header;
      const response = await server.request({ method: 'GET', url: '/v1/features', headers: { authorization } });
      const problem = expectProblem(response, { status: 401, code: 'unauthenticated' });
      expect(response.headers['www-authenticate']).toBe('Bearer realm="keymaster"');
      // The answer never says which of the cases it was.
      expect(problem.detail).toBe('A valid API key is required: send it as "Authorization: Bearer <key>".');
      expect(problem.errors).toBeUndefined();
    });

    it.each(protectedRoutes)('$method $url needs a key and changes nothing without one', async (route) => {
      const before = await storedState(server);
      const response = await server.request({ ...route, headers: { authorization: undefined } });
      expectProblem(response, { status: 401, code: 'unauthenticated' });
      expect(await storedState(server)).toEqual(before);
    });

    it('answers 401 before looking at the body, so bad input reveals nothing either', async () => {
      const response = await server.request({
        method: 'POST',
        url: '/v1/features',
        body: '{not json',
        headers: { authorization: undefined, 'content-type': 'application/json' },
      });
      expectProblem(response, { status: 401, code: 'unauthenticated' });
    });
  });

  describe('a good key', () => {
    it('accepts the configured admin key, with the scheme in any case', async () => {
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const response = await server.request({
          method: 'GET',
          url: '/v1/features',
          headers: { authorization: `${scheme} ${testAdminKey}` },
        });
        expect(response.statusCode, scheme).toBe(200);
      }
    });

    it('accepts a key created through the API until it is revoked', async () => {
      const key = expectStatus<ApiKeyCreated>(
        await server.request({ method: 'POST', url: '/v1/api-keys', body: { scopes: ['admin'] } }),
        201,
      );
      const withKey = { authorization: `Bearer ${key.secret}` };
      expectStatus(
        await server.request({ method: 'POST', url: '/v1/features', body: featureBody(), headers: withKey }),
        201,
      );
      expectStatus(await server.request({ method: 'DELETE', url: `/v1/api-keys/${key.id}` }), 200);
      const problem = expectProblem(await server.request({ method: 'GET', url: '/v1/features', headers: withKey }), {
        status: 401,
        code: 'unauthenticated',
      });
      const unknown = await server.request({
        method: 'GET',
        url: '/v1/features',
        headers: { authorization: 'Bearer nope' },
      });
      expect(problem.detail).toBe(unknown.json<Problem>().detail);
    });
  });

  describe('public routes', () => {
    it.each(['/healthz', '/readyz', '/openapi.json', '/docs'])('%s needs no key', async (url) => {
      for (const authorization of [undefined, 'Bearer wrong']) {
        const response = await server.request({ method: 'GET', url, headers: { authorization } });
        expect(response.statusCode, `${url} ${authorization}`).toBe(200);
      }
    });
  });
});
