import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { openSse } from '../../test-support/sse-client.js';

interface Token {
  token: string;
  customer: string;
  expires_at: string;
}

const origin = 'https://app.example.com';
/** The signing secret, set so the tests can sign tokens as the server would. */
const tokenSecret = 'a-test-token-secret-of-at-least-32-chars';

describeEachDialect('customer tokens', (dialect) => {
  let server: TestServer;
  let base: string;
  let acme: string;
  let globex: string;
  let token: string;

  const mint = async (body: Record<string, unknown>) =>
    server.request({ method: 'POST', url: '/v1/customer-tokens', body });
  const as = (credential: string) => ({ authorization: `Bearer ${credential}` });

  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: { KEYMASTER_CORS_ORIGINS: origin, KEYMASTER_TOKEN_SECRET: tokenSecret },
    });
    await seedCatalog(server);
    acme = (await seedCustomer(server, { plan: 'pro' })).id;
    globex = (await seedCustomer(server, { plan: 'free' })).id;
    token = expectStatus<Token>(await mint({ customer: acme }), 201).token;
    base = await server.listen();
  });
  afterAll(() => server.close());

  describe('POST /v1/customer-tokens', () => {
    it('mints a JWT for an existing customer, one hour by default', async () => {
      const minted = expectStatus<Token>(await mint({ customer: acme }), 201);
      expect(Object.keys(minted).sort()).toEqual(['customer', 'expires_at', 'token']);
      expect(minted.customer).toBe(acme);
      expect(Date.parse(minted.expires_at)).toBe(Math.floor(server.clock.now() / 1000) * 1000 + 3_600_000);
      const [header, claims] = minted.token
        .split('.')
        .slice(0, 2)
        .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
      expect(header).toEqual({ alg: 'HS256', typ: 'JWT', kid: expect.stringMatching(/^[0-9a-f]{8}$/) });
      expect(claims).toMatchObject({ sub: acme, iss: 'keymaster', aud: 'keymaster:customer' });
      const short = expectStatus<Token>(await mint({ customer: acme, ttl_seconds: 60 }), 201);
      expect(Date.parse(short.expires_at) - Date.parse(minted.expires_at)).toBe(60_000 - 3_600_000);
    });

    it('refuses bad input naming the field, and unknown customers', async () => {
      expectProblem(await mint({ customer: acme, ttl_seconds: 86_401 }), {
        status: 400,
        code: 'validation_failed',
        path: '/ttl_seconds',
      });
      expectProblem(await mint({ customer: acme, ttl_seconds: 59 }), {
        status: 400,
        code: 'validation_failed',
        path: '/ttl_seconds',
      });
      expectProblem(await mint({}), { status: 400, code: 'validation_failed', path: '/customer' });
      expectProblem(await mint({ customer: acme, scope: 'all' }), {
        status: 400,
        code: 'validation_failed',
        path: '/scope',
      });
      expectProblem(await mint({ customer: 'nobody' }), { status: 404, code: 'customer_not_found' });
    });
  });

  describe('what a token may do', () => {
    it("reads its customer's entitlements and checks for them", async () => {
      const snapshot = expectStatus(
        await server.request({ method: 'GET', url: `/v1/customers/${acme}/entitlements`, headers: as(token) }),
        200,
      );
      expect(snapshot.customer).toBe(acme);
      const decision = expectStatus(
        await server.request({
          method: 'POST',
          url: '/v1/check',
          headers: as(token),
          body: { customer: acme, feature: 'sso' },
        }),
        200,
      );
      expect(decision).toMatchObject({ allowed: true, reason: 'entitled' });
    });

    it("streams its customer's changes, with the token in the header or in ?access_token=", async () => {
      for (const sse of [
        await openSse({ url: `${base}/v1/stream?customer=${acme}`, headers: as(token) }),
        await openSse({ url: `${base}/v1/stream?customer=${acme}&access_token=${token}` }),
      ]) {
        expect(sse.status).toBe(200);
        expect(sse.events[0]).toMatchObject({ event: 'ready', data: { customer: acme } });
        sse.close();
      }
    });

    it("answers 403 for another customer's data, on every route a token opens", async () => {
      const problem = { status: 403, code: 'customer_mismatch', detail: new RegExp(`for customer "${acme}"`) };
      expectProblem(
        await server.request({ method: 'GET', url: `/v1/customers/${globex}/entitlements`, headers: as(token) }),
        problem,
      );
      expectProblem(
        await server.request({
          method: 'POST',
          url: '/v1/check',
          headers: as(token),
          body: { customer: globex, feature: 'sso' },
        }),
        problem,
      );
      expectProblem(
        await server.request({ method: 'GET', url: `/v1/stream?customer=${globex}`, headers: as(token) }),
        problem,
      );
      expectProblem(await server.request({ method: 'GET', url: '/v1/stream', headers: as(token) }), {
        status: 403,
        code: 'customer_mismatch',
        detail: /must name its customer/,
      });
    });

    const forbidden: [string, string, unknown?][] = [
      ['GET', '/v1/features'],
      ['POST', '/v1/features', { key: 'x', name: 'X', type: 'boolean' }],
      ['PATCH', '/v1/features/sso', { status: 'disabled' }],
      ['GET', '/v1/plans'],
      ['POST', '/v1/plans/pro/publish'],
      ['GET', '/v1/customers'],
      ['GET', '/v1/customers/{me}'],
      ['PUT', '/v1/customers/{me}', {}],
      ['DELETE', '/v1/customers/{me}'],
      ['GET', '/v1/customers/{me}/subscriptions'],
      ['POST', '/v1/customers/{me}/subscriptions', { plan: 'enterprise' }],
      ['GET', '/v1/customers/{me}/grants'],
      ['POST', '/v1/customers/{me}/grants', { feature: 'sso', enabled: true, reason: 'self-service' }],
      ['DELETE', '/v1/grants/grt_x'],
      ['GET', '/v1/customers/{me}/usage?feature=api_calls'],
      ['POST', '/v1/consume', { customer: '{me}', feature: 'api_calls' }],
      ['POST', '/v1/events', { events: [] }],
      ['POST', '/v1/reservations', { customer: '{me}', feature: 'api_calls', quantity: 1 }],
      ['GET', '/v1/api-keys'],
      ['POST', '/v1/api-keys', { scopes: ['admin'] }],
      ['POST', '/v1/customer-tokens', { customer: '{me}' }],
    ];
    it.each(forbidden)(
      'refuses %s %s with 403 customer_token_forbidden, changing nothing',
      async (method, url, body) => {
        const fill = (text: string) => text.replaceAll('{me}', acme);
        const response = await server.request({
          method: method as 'GET',
          url: fill(url),
          headers: as(token),
          ...(body !== undefined ? { body: JSON.parse(fill(JSON.stringify(body))) } : {}),
        });
        expectProblem(response, { status: 403, code: 'customer_token_forbidden', detail: /needs a secret API key/ });
      },
    );

    it('is not accepted in the query string anywhere but the stream', async () => {
      const response = await server.request({
        method: 'GET',
        url: `/v1/customers/${acme}/entitlements?access_token=${token}`,
        headers: { authorization: undefined },
      });
      expectProblem(response, { status: 401, code: 'unauthenticated' });
      const check = await server.request({
        method: 'POST',
        url: `/v1/check?access_token=${token}`,
        headers: { authorization: undefined },
        body: { customer: acme, feature: 'sso' },
      });
      expectProblem(check, { status: 401, code: 'unauthenticated' });
    });
  });

  describe('tokens that stop working', () => {
    it('expires at expires_at (server clock)', async () => {
      const minted = expectStatus<Token>(await mint({ customer: acme, ttl_seconds: 120 }), 201);
      const read = () =>
        server.request({ method: 'GET', url: `/v1/customers/${acme}/entitlements`, headers: as(minted.token) });
      server.clock.advance(119_000);
      expect((await read()).statusCode).toBe(200);
      server.clock.set(Date.parse(minted.expires_at));
      const expired = await read();
      expectProblem(expired, { status: 401, code: 'token_expired' });
      expect(expired.headers['www-authenticate']).toBe('Bearer realm="keymaster"');
    });

    it('refuses a wrong signature, another secret, another audience and alg none', async () => {
      const fresh = expectStatus<Token>(await mint({ customer: acme }), 201).token;
      const [header, claims, signature] = fresh.split('.') as [string, string, string];
      const flipped = `${header}.${claims}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
      const otherClaims = Buffer.from(
        JSON.stringify({ ...JSON.parse(Buffer.from(claims, 'base64url').toString()), sub: globex }),
      ).toString('base64url');
      const forged = `${header}.${otherClaims}.${signature}`;
      const now = Math.floor(server.clock.now() / 1000);
      const otherSecret = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('keymaster')
        .setAudience('keymaster:customer')
        .setSubject(acme)
        .setJti('ctok_forged')
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(new TextEncoder().encode('x'.repeat(32)));
      const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${claims}.`;
      for (const bad of [flipped, forged, otherSecret, none, 'eyJ.not.ajwt']) {
        const response = await server.request({
          method: 'GET',
          url: `/v1/customers/${acme}/entitlements`,
          headers: as(bad),
        });
        expectProblem(response, { status: 401, code: 'unauthenticated' });
      }
    });

    it('refuses a correctly signed token that lives longer than a day, or says nothing of when it was issued', async () => {
      const now = Math.floor(server.clock.now() / 1000);
      const sign = (claims: { iat?: number; exp: number }) => {
        const jwt = new SignJWT({})
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setIssuer('keymaster')
          .setAudience('keymaster:customer')
          .setSubject(acme)
          .setJti(`ctok_signed_${claims.iat ?? 'none'}_${claims.exp}`)
          .setExpirationTime(claims.exp);
        if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
        return jwt.sign(new TextEncoder().encode(tokenSecret));
      };
      const read = (credential: string) =>
        server.request({ method: 'GET', url: `/v1/customers/${acme}/entitlements`, headers: as(credential) });
      // The longest lifetime the server mints is accepted: the test signs as the server does.
      expect((await read(await sign({ iat: now, exp: now + 86_400 }))).statusCode).toBe(200);
      for (const claims of [
        { iat: now, exp: now + 10 * 365 * 86_400 },
        { iat: now, exp: now + 86_401 },
        { iat: now - 10 * 365 * 86_400, exp: now + 60 },
        { iat: now + 86_400, exp: now + 86_400 + 600 },
        { exp: now + 600 },
      ]) {
        const response = await read(await sign(claims));
        expectProblem(response, { status: 401, code: 'unauthenticated' });
        expect(response.headers['www-authenticate']).toBe('Bearer realm="keymaster"');
      }
    });

    it('stops working once its customer is erased', async () => {
      const doomed = (await seedCustomer(server, { plan: 'free' })).id;
      const minted = expectStatus<Token>(await mint({ customer: doomed }), 201);
      const read = () =>
        server.request({ method: 'GET', url: `/v1/customers/${doomed}/entitlements`, headers: as(minted.token) });
      expect((await read()).statusCode).toBe(200);
      expect((await server.request({ method: 'DELETE', url: `/v1/customers/${doomed}` })).statusCode).toBe(204);
      expectProblem(await read(), { status: 401, code: 'token_revoked' });
    });

    it('is not inherited by a customer created later with the same id', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const minted = expectStatus<Token>(await mint({ customer: id }), 201);
      const read = () =>
        server.request({ method: 'GET', url: `/v1/customers/${id}/entitlements`, headers: as(minted.token) });
      expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
      server.clock.advance(1000);
      await seedCustomer(server, { id, plan: 'free' });
      expectProblem(await read(), { status: 401, code: 'token_revoked' });
      const fresh = expectStatus<Token>(await mint({ customer: id }), 201);
      const response = await server.request({
        method: 'GET',
        url: `/v1/customers/${id}/entitlements`,
        headers: as(fresh.token),
      });
      expect(response.statusCode).toBe(200);
    });
  });

  describe('CORS', () => {
    const preflight = (url: string, from: string) =>
      fetch(`${base}${url}`, {
        method: 'OPTIONS',
        headers: {
          origin: from,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      });

    it('answers preflights for the browser routes from an allowed origin', async () => {
      for (const url of [
        '/v1/check',
        `/v1/customers/${acme}/entitlements`,
        `/v1/stream?customer=${acme}`,
        `/v1/customers/${acme}/notifications?unread=true`,
        `/v1/customers/${acme}/notifications/ntf_01/read`,
        '/ofrep/v1/evaluate/flags',
        '/ofrep/v1/evaluate/flags/sso',
      ]) {
        const response = await preflight(url, origin);
        expect(response.status, url).toBe(204);
        expect(response.headers.get('access-control-allow-origin')).toBe(origin);
        expect(response.headers.get('access-control-allow-methods')).toBe('GET, POST');
        expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
        expect(response.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('if-none-match');
      }
    });

    it('gives nothing to another origin, or for any other route', async () => {
      const stranger = await preflight('/v1/check', 'https://evil.example');
      expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
      for (const url of ['/v1/features', `/v1/customers/${acme}/notifications/ntf_01`, `/v1/customers/${acme}/usage`]) {
        const other = await preflight(url, origin);
        expect(other.status, url).toBe(404);
        expect(other.headers.get('access-control-allow-origin')).toBeNull();
      }
    });

    it('lets the browser read the answers of the browser routes', async () => {
      const entitlements = await fetch(`${base}/v1/customers/${acme}/entitlements`, {
        headers: { ...as(token), origin },
      });
      expect(entitlements.headers.get('access-control-allow-origin')).toBe(origin);
      expect(entitlements.headers.get('access-control-expose-headers')).toBe(
        'x-request-id, etag, retry-after, ratelimit, ratelimit-policy',
      );
      const checked = await fetch(`${base}/v1/check`, {
        method: 'POST',
        headers: { ...as(token), origin, 'content-type': 'application/json' },
        body: JSON.stringify({ customer: acme, feature: 'sso' }),
      });
      expect(checked.status).toBe(200);
      expect(checked.headers.get('access-control-allow-origin')).toBe(origin);
      const sse = await openSse({
        url: `${base}/v1/stream?customer=${acme}&access_token=${token}`,
        headers: { origin },
      });
      expect(sse.headers.get('access-control-allow-origin')).toBe(origin);
      sse.close();
    });

    it('is off without KEYMASTER_CORS_ORIGINS', async () => {
      const plain = await startTestServer({ dialect });
      try {
        const response = await plain.request({
          method: 'OPTIONS',
          url: '/v1/check',
          headers: { authorization: undefined, origin, 'access-control-request-method': 'POST' },
        });
        expect(response.statusCode).toBe(404);
        expect(response.headers['access-control-allow-origin']).toBeUndefined();
      } finally {
        await plain.close();
      }
    });
  });
});
