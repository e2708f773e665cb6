import { afterAll, beforeAll, expect, it } from 'vitest';
import { seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestServer, testAdminKey } from '../test-support/server.js';

interface Case {
  name: string;
  body?: string;
  headers?: Record<string, string>;
  url?: string;
  /** Sent as the bearer credential instead of the admin key. */
  credential?: 'token' | 'expired token' | 'forged token';
}

const origin = 'https://app.example.com';

/**
 * Checks over a real socket are served by the plain dispatch (dispatch.ts); Fastify's own
 * `inject` goes straight to the router, which registers the same route. Both must answer every
 * request identically: same status, headers that matter and body (the request id is pinned so the
 * bodies can be compared whole).
 */
describeEachDialect('POST /v1/check: the plain dispatch answers exactly as the router', (dialect) => {
  let server: TestServer;
  let base: string;
  const credentials: Record<NonNullable<Case['credential']>, string> = {
    token: '',
    'expired token': '',
    'forged token': '',
  };
  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_CORS_ORIGINS: origin } });
    await seedCatalog(server);
    await seedCustomer(server, { id: 'acme', plan: 'pro' });
    await seedCustomer(server, { id: 'globex', plan: 'free' });
    const mint = async (ttl: number) =>
      (
        await server.request({
          method: 'POST',
          url: '/v1/customer-tokens',
          body: { customer: 'acme', ttl_seconds: ttl },
        })
      ).json<{ token: string }>().token;
    credentials['expired token'] = await mint(60);
    server.clock.advance(61_000);
    credentials.token = await mint(3600);
    credentials['forged token'] = `${credentials.token.slice(0, -4)}AAAA`;
    base = await server.listen();
  });
  afterAll(() => server.close());

  const json = (value: unknown) => JSON.stringify(value);
  const cases: Case[] = [
    { name: 'entitled', body: json({ customer: 'acme', feature: 'sso' }) },
    { name: 'no entitlement with an upgrade', body: json({ customer: 'globex', feature: 'sso' }) },
    { name: 'limit reached', body: json({ customer: 'globex', feature: 'seats', quantity: 4 }) },
    { name: 'config value', body: json({ customer: 'acme', feature: 'support_tier' }) },
    { name: 'unknown customer', body: json({ customer: 'nobody', feature: 'sso' }) },
    { name: 'unknown feature', body: json({ customer: 'acme', feature: 'nothing' }) },
    { name: 'with a context', body: json({ customer: 'acme', feature: 'sso', context: { app_version: '1.0.0' } }) },
    { name: 'a query string', body: json({ customer: 'acme', feature: 'sso' }), url: '/v1/check?x=1' },
    { name: 'a missing field', body: json({ customer: 'acme' }) },
    { name: 'an unknown field', body: json({ customer: 'acme', feature: 'sso', plan: 'pro' }) },
    { name: 'a wrong type', body: json({ customer: 'acme', feature: 'sso', quantity: '5' }) },
    { name: 'a negative quantity', body: json({ customer: 'acme', feature: 'sso', quantity: -1 }) },
    { name: 'an array body', body: json([1, 2]) },
    { name: 'no body', body: '' },
    { name: 'a NUL in the customer', body: json({ customer: 'a\u0000b', feature: 'sso' }) },
    { name: 'a text/plain body', body: 'hello', headers: { 'content-type': 'text/plain' } },
    { name: 'an XML body', body: '<check/>', headers: { 'content-type': 'application/xml' } },
    { name: 'no key', body: json({ customer: 'acme', feature: 'sso' }), headers: { authorization: '' } },
    {
      name: 'a wrong key',
      body: json({ customer: 'acme', feature: 'sso' }),
      headers: { authorization: 'Bearer nope' },
    },
    {
      name: 'a Basic scheme',
      body: json({ customer: 'acme', feature: 'sso' }),
      headers: { authorization: `Basic ${testAdminKey}` },
    },
    { name: 'a body over the limit', body: json({ customer: 'acme', feature: 'x'.repeat(1_100_000) }) },
    {
      name: 'an Idempotency-Key too long',
      body: json({ customer: 'acme', feature: 'sso' }),
      headers: { 'idempotency-key': 'k'.repeat(10_240) },
    },
    {
      name: 'an Idempotency-Key too long on an invalid body',
      body: json({ customer: 'acme' }),
      headers: { 'idempotency-key': 'k'.repeat(256) },
    },
    { name: 'from an allowed origin', body: json({ customer: 'acme', feature: 'sso' }), headers: { origin } },
    {
      name: 'from another origin',
      body: json({ customer: 'acme', feature: 'sso' }),
      headers: { origin: 'https://x.test' },
    },
    { name: 'a customer token, its customer', body: json({ customer: 'acme', feature: 'sso' }), credential: 'token' },
    {
      name: 'a customer token, another customer',
      body: json({ customer: 'globex', feature: 'sso' }),
      credential: 'token',
      headers: { origin },
    },
    { name: 'a customer token, an invalid body', body: json({ customer: 'globex' }), credential: 'token' },
    {
      name: 'an expired customer token',
      body: json({ customer: 'acme', feature: 'sso' }),
      credential: 'expired token',
    },
    { name: 'a forged customer token', body: json({ customer: 'acme', feature: 'sso' }), credential: 'forged token' },
  ];

  it.each(cases)('$name', async ({ body, headers, url, credential }) => {
    const all: Record<string, string> = {
      authorization: `Bearer ${credential ? credentials[credential] : testAdminKey}`,
      'content-type': 'application/json',
      'x-request-id': 'parity-test',
      ...headers,
    };
    for (const [name, value] of Object.entries(all)) if (value === '') delete all[name];
    const viaSocket = await fetch(`${base}${url ?? '/v1/check'}`, { method: 'POST', headers: all, body: body ?? '' });
    const viaRouter = await server.keymaster.app.inject({
      method: 'POST',
      url: url ?? '/v1/check',
      headers: all,
      payload: body ?? '',
    });
    const socketBody = await viaSocket.text();
    expect(viaSocket.status, socketBody).toBe(viaRouter.statusCode);
    expect(viaSocket.headers.get('content-type')).toBe(viaRouter.headers['content-type']);
    expect(viaSocket.headers.get('x-request-id')).toBe('parity-test');
    expect(viaSocket.headers.get('www-authenticate')).toBe(viaRouter.headers['www-authenticate'] ?? null);
    for (const name of ['vary', 'access-control-allow-origin', 'access-control-expose-headers']) {
      expect(viaSocket.headers.get(name), name).toBe(viaRouter.headers[name] ?? null);
    }
    const routed = viaRouter.json() as Record<string, unknown>;
    const direct = JSON.parse(socketBody) as Record<string, unknown>;
    if (viaRouter.statusCode < 400 || direct.code === 'validation_failed' || viaRouter.statusCode === 403)
      expect(direct).toEqual(routed);
    else expect({ code: direct.code, status: direct.status }).toEqual({ code: routed.code, status: routed.status });
  });
});

/**
 * Consumes over a real socket are served by the plain dispatch too (all but those with an
 * Idempotency-Key header, which it leaves to the router), `inject` calls by the router. Each consume counts, so a case
 * runs once each way and the answers are compared with the usage figures set aside, which the
 * first consume moved; a case that records nothing (refused, or replayed by its idempotency key)
 * must answer identically.
 */
describeEachDialect('POST /v1/consume: the plain dispatch answers exactly as the router', (dialect) => {
  let server: TestServer;
  let base: string;
  let token = '';
  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_CORS_ORIGINS: origin } });
    await seedCatalog(server);
    await seedCustomer(server, { id: 'acme', plan: 'pro' });
    await seedCustomer(server, { id: 'globex', plan: 'free' });
    token = (
      await server.request({
        method: 'POST',
        url: '/v1/customer-tokens',
        body: { customer: 'acme', ttl_seconds: 3600 },
      })
    ).json<{ token: string }>().token;
    await server.request({
      method: 'POST',
      url: '/v1/consume',
      body: { customer: 'acme', feature: 'api_calls', idempotency_key: 'taken' },
    });
    base = await server.listen();
  });
  afterAll(() => server.close());

  const json = (value: unknown) => JSON.stringify(value);
  const cases: (Case & { same?: boolean })[] = [
    { name: 'granted', body: json({ customer: 'acme', feature: 'api_calls' }) },
    { name: 'granted, a quantity', body: json({ customer: 'globex', feature: 'api_calls', quantity: 3 }) },
    {
      name: 'refused at the limit',
      body: json({ customer: 'globex', feature: 'api_calls', quantity: 1e9 }),
      same: true,
    },
    { name: 'not metered', body: json({ customer: 'acme', feature: 'sso' }), same: true },
    { name: 'unknown customer', body: json({ customer: 'nobody', feature: 'api_calls' }), same: true },
    { name: 'unknown feature', body: json({ customer: 'acme', feature: 'nothing' }), same: true },
    {
      name: 'an idempotency key, replayed',
      body: json({ customer: 'acme', feature: 'api_calls', idempotency_key: 'k1' }),
      same: true,
    },
    {
      name: 'an idempotency key used for another quantity',
      body: json({ customer: 'acme', feature: 'api_calls', quantity: 2, idempotency_key: 'taken' }),
      same: true,
    },
    {
      name: 'an Idempotency-Key header (served by the router both ways)',
      body: json({ customer: 'acme', feature: 'api_calls' }),
      headers: { 'idempotency-key': 'h1' },
      same: true,
    },
    { name: 'a query string', body: json({ customer: 'acme', feature: 'api_calls' }), url: '/v1/consume?x=1' },
    { name: 'a missing field', body: json({ customer: 'acme' }), same: true },
    { name: 'an unknown field', body: json({ customer: 'acme', feature: 'api_calls', plan: 'pro' }), same: true },
    { name: 'a zero quantity', body: json({ customer: 'acme', feature: 'api_calls', quantity: 0 }) },
    { name: 'a wrong type', body: json({ customer: 'acme', feature: 'api_calls', quantity: '5' }), same: true },
    { name: 'no body', body: '', same: true },
    { name: 'a text/plain body', body: 'hello', headers: { 'content-type': 'text/plain' }, same: true },
    { name: 'an XML body', body: '<consume/>', headers: { 'content-type': 'application/xml' }, same: true },
    {
      name: 'no key',
      body: json({ customer: 'acme', feature: 'api_calls' }),
      headers: { authorization: '' },
      same: true,
    },
    {
      name: 'a wrong key',
      body: json({ customer: 'acme', feature: 'api_calls' }),
      headers: { authorization: 'Bearer nope' },
      same: true,
    },
    {
      name: 'a body over the limit',
      body: json({ customer: 'acme', feature: 'x'.repeat(1_100_000) }),
      same: true,
    },
    { name: 'from an allowed origin', body: json({ customer: 'acme', feature: 'api_calls' }), headers: { origin } },
    {
      name: 'a customer token',
      body: json({ customer: 'acme', feature: 'api_calls' }),
      credential: 'token',
      same: true,
    },
    { name: 'a customer token, an invalid body', body: json({ customer: 'acme' }), credential: 'token', same: true },
  ];

  it.each(cases)('$name', async ({ body, headers, url, credential, same }) => {
    const all: Record<string, string> = {
      authorization: `Bearer ${credential ? token : testAdminKey}`,
      'content-type': 'application/json',
      'x-request-id': 'parity-test',
      ...headers,
    };
    for (const [name, value] of Object.entries(all)) if (value === '') delete all[name];
    const viaSocket = await fetch(`${base}${url ?? '/v1/consume'}`, { method: 'POST', headers: all, body: body ?? '' });
    const socketBody = await viaSocket.text();
    const viaRouter = await server.keymaster.app.inject({
      method: 'POST',
      url: url ?? '/v1/consume',
      headers: all,
      payload: body ?? '',
    });
    expect(viaSocket.status, socketBody).toBe(viaRouter.statusCode);
    expect(viaSocket.headers.get('content-type')).toBe(viaRouter.headers['content-type']);
    expect(viaSocket.headers.get('x-request-id')).toBe('parity-test');
    expect(viaSocket.headers.get('www-authenticate')).toBe(viaRouter.headers['www-authenticate'] ?? null);
    for (const name of ['vary', 'access-control-allow-origin', 'access-control-expose-headers']) {
      expect(viaSocket.headers.get(name), name).toBe(viaRouter.headers[name] ?? null);
    }
    const routed = viaRouter.json() as Record<string, unknown>;
    const direct = JSON.parse(socketBody) as Record<string, unknown>;
    if (same || viaRouter.statusCode >= 400) {
      if (viaRouter.statusCode < 400 || direct.code === 'validation_failed' || viaRouter.statusCode === 403)
        expect(direct).toEqual(routed);
      else expect({ code: direct.code, status: direct.status }).toEqual({ code: routed.code, status: routed.status });
      return;
    }
    // Both granted: the router's consume came second, so its usage is the socket's plus its units.
    expect(direct.allowed).toBe(true);
    expect(routed.allowed).toBe(true);
    const { usage: socketUsage, balance: socketBalance, ...socketRest } = direct;
    const { usage: routedUsage, balance: routedBalance, ...routedRest } = routed;
    expect(socketRest).toEqual(routedRest);
    const spent = Number(routedUsage) - Number(socketUsage);
    expect(spent).toBeGreaterThan(0);
    if (socketBalance !== null) expect(Number(socketBalance) - Number(routedBalance)).toBe(spent);
  });
});
