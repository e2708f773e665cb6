import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Problem } from '@keymaster/contract';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../clock.js';
import { loadConfig } from '../config.js';
import type { Principal } from '../modules/api-keys/service.js';
import { expectStatus } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import {
  dispatch,
  startTestServer,
  startTestServerOn,
  type TestResponse,
  type TestServer,
} from '../test-support/server.js';
import type { Exchange } from './concerns.js';
import { createRateLimit } from './rate-limit.js';

const redisUrl = 'redis://127.0.0.1:6379';

/** Asserts a 429 `rate_limited` problem with its `Retry-After`; answers the problem. */
function expectLimited(response: TestResponse): Problem {
  expect(response.statusCode, response.body).toBe(429);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  const problem = response.json<Problem>();
  expect(problem).toMatchObject({ status: 429, code: 'rate_limited' });
  return problem;
}

describe('KEYMASTER_RATE_LIMIT and KEYMASTER_CUSTOMER_RATE_LIMIT', () => {
  it.each([
    ['100/s', { points: 100, windowSeconds: 1 }],
    ['6000/min', { points: 6000, windowSeconds: 60 }],
    ['100000/h', { points: 100_000, windowSeconds: 3600 }],
    [' 5 / minute ', { points: 5, windowSeconds: 60 }],
  ])('read %s', (text, limit) => {
    expect(loadConfig({ KEYMASTER_RATE_LIMIT: text }).rateLimit).toEqual(limit);
  });

  it('are off unless set, and the customer limit is the key limit unless set', () => {
    expect(loadConfig({})).toMatchObject({ rateLimit: undefined, customerRateLimit: undefined, redis: undefined });
    expect(loadConfig({ KEYMASTER_RATE_LIMIT: '10/s' }).customerRateLimit).toEqual({ points: 10, windowSeconds: 1 });
    expect(
      loadConfig({ KEYMASTER_RATE_LIMIT: '10/s', KEYMASTER_CUSTOMER_RATE_LIMIT: '60/min' }).customerRateLimit,
    ).toEqual({ points: 60, windowSeconds: 60 });
    expect(loadConfig({ KEYMASTER_CUSTOMER_RATE_LIMIT: '60/min' }).rateLimit).toBeUndefined();
  });

  it.each(['100', '100/d', '0/s', '-1/s', '1.5/s', 'fast', '99999999999/s'])(
    'refuse %s at start, naming the variable',
    (text) => {
      expect(() => loadConfig({ KEYMASTER_RATE_LIMIT: text })).toThrow(/KEYMASTER_RATE_LIMIT must be .* like 100\/s/);
      expect(() => loadConfig({ KEYMASTER_CUSTOMER_RATE_LIMIT: text })).toThrow(/KEYMASTER_CUSTOMER_RATE_LIMIT must/);
    },
  );

  it('read REDIS_URL and its key prefix, and refuse what is not a Redis URL', () => {
    expect(loadConfig({ REDIS_URL: redisUrl }).redis).toEqual({ url: redisUrl, prefix: 'keymaster' });
    expect(loadConfig({ REDIS_URL: redisUrl, KEYMASTER_REDIS_PREFIX: 'km-prod' }).redis?.prefix).toBe('km-prod');
    expect(() => loadConfig({ REDIS_URL: 'http://127.0.0.1:6379' })).toThrow(/REDIS_URL must be a redis:\/\//);
    expect(() => loadConfig({ REDIS_URL: redisUrl, KEYMASTER_REDIS_PREFIX: 'a b' })).toThrow(/KEYMASTER_REDIS_PREFIX/);
  });
});

describe('the rate-limit concern: whose bucket a request counts against', () => {
  const clock = manualClock(Date.parse('2026-01-15T12:00:00.000Z'));
  const limit = createRateLimit({
    limits: { default: { points: 2, windowSeconds: 60 }, customer: { points: 1, windowSeconds: 60 } },
    clock,
    redis: undefined,
    logger: { warn: () => {}, info: () => {} },
  });
  /** An exchange as the router or the plain dispatch makes it, once authentication has run. */
  const exchange = (principal: Principal | undefined, address = '192.0.2.1'): Exchange => ({
    method: 'GET',
    route: '/v1/features',
    url: '/v1/features',
    headers: {},
    raw: { socket: { remoteAddress: address } } as unknown as IncomingMessage,
    requestId: 'req_1',
    config: {},
    query: {},
    principal,
    header: () => {},
  });
  const status = (principal: Principal | undefined, address?: string) =>
    limit.concern.onRequest!(exchange(principal, address)) === undefined ? 'passes' : 'refused';
  beforeEach(() => clock.advance(60_000));

  it('an API key by its id: each key its own', () => {
    const one = { keyId: 'key_one' };
    expect([status(one), status(one), status(one)]).toEqual(['passes', 'passes', 'refused']);
    expect(status({ keyId: 'key_two' })).toBe('passes');
  });

  it('a console user by their id, apart from keys', () => {
    const user = {
      keyId: 'user:usr_1',
      user: { token: 't', userId: 'usr_1', role: 'owner' as const, csrfToken: 'c', expiresAt: 0 },
    };
    expect([status(user), status(user), status(user)]).toEqual(['passes', 'passes', 'refused']);
    expect(status({ ...user, keyId: 'user:usr_2' })).toBe('passes');
  });

  it("a customer's tokens and portal sessions together, by the customer limit", () => {
    const token = { keyId: 'token:tok_1', customer: 'acme', expiresAt: 0 };
    const portal = {
      keyId: 'portal:ptl_1',
      portal: { customer: 'acme', tokenId: 'ptl_1', expiresAt: 0, returnUrl: null, csrfToken: 'c' },
    };
    expect([status(token), status(portal), status({ ...token, keyId: 'token:tok_2' })]).toEqual([
      'passes',
      'refused',
      'refused',
    ]);
    expect(status({ ...token, customer: 'globex' })).toBe('passes');
  });

  it('a request without a credential by the client address', () => {
    expect([status(undefined), status(undefined), status(undefined)]).toEqual(['passes', 'passes', 'refused']);
    expect(status(undefined, '2001:db8::1')).toBe('passes');
  });

  it('counts from zero again when the window ends', () => {
    const key = { keyId: 'key_window' };
    expect([status(key), status(key), status(key)]).toEqual(['passes', 'passes', 'refused']);
    clock.advance(60_000);
    expect(status(key)).toBe('passes');
  });
});

describeEachDialect('rate limits counted in memory', (dialect) => {
  let server: TestServer;
  let customer: string;
  /** A request in a window of its own: setting up does not count against the test. */
  const setup = (input: Parameters<TestServer['request']>[0]) => {
    server.clock.advance(61_000);
    return server.request(input);
  };
  const tokenFor = async (id: string) =>
    expectStatus<{ token: string }>(
      await setup({ method: 'POST', url: '/v1/customer-tokens', body: { customer: id } }),
      201,
    ).token;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: { KEYMASTER_RATE_LIMIT: '3/s', KEYMASTER_CUSTOMER_RATE_LIMIT: '2/min' },
    });
    customer = 'acme';
    expectStatus(await setup({ method: 'PUT', url: `/v1/customers/${customer}`, body: {} }), 201);
    expectStatus(await setup({ method: 'PUT', url: '/v1/customers/globex', body: {} }), 201);
  });
  afterAll(() => server.close());
  // Each test starts in windows of its own.
  beforeEach(() => server.clock.advance(61_000));

  it('answers within the limit with RateLimit-Policy and RateLimit, then 429 with Retry-After until the window ends', async () => {
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await server.request({ method: 'GET', url: '/v1/features' });
      expect(answer.statusCode).toBe(200);
      expect(answer.headers['ratelimit-policy']).toBe('"default";q=3;w=1');
      remaining.push(String(answer.headers.ratelimit));
    }
    expect(remaining).toEqual(['"default";r=2;t=1', '"default";r=1;t=1', '"default";r=0;t=1']);
    const refused = await server.request({ method: 'GET', url: '/v1/features' });
    const problem = expectLimited(refused);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers.ratelimit).toBe('"default";r=0;t=1');
    expect(problem.detail).toBe('Too many requests from this API key: at most 3 requests per second. Retry in 1 s.');
    expect(refused.headers['x-request-id']).toBe(problem.request_id);

    server.clock.advance(1000);
    expect((await server.request({ method: 'GET', url: '/v1/features' })).statusCode).toBe(200);
  });

  it('counts the checks and consumes the plain dispatch answers, and says when the window ends', async () => {
    const body = { customer, feature: 'sso' };
    server.clock.advance(1000 - (server.clock.now() % 1000) + 200);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await server.request({ method: 'POST', url: '/v1/check', body }));
    expect(answers.map((a) => a.statusCode)).not.toContain(429);
    expect(answers[0]!.headers.ratelimit).toBe('"default";r=2;t=1');
    expectLimited(await server.request({ method: 'POST', url: '/v1/check', body }));
    expectLimited(await server.request({ method: 'POST', url: '/v1/consume', body: { ...body, quantity: 1 } }));
    server.clock.advance(800);
    expect((await server.request({ method: 'POST', url: '/v1/check', body })).statusCode).not.toBe(429);
  });

  it("counts a customer's tokens together under the customer limit, apart from the key and other customers", async () => {
    const [one, two, other] = [await tokenFor(customer), await tokenFor(customer), await tokenFor('globex')];
    server.clock.advance(61_000);
    const read = (token: string, id = customer) =>
      server.request({
        method: 'GET',
        url: `/v1/customers/${id}/entitlements`,
        headers: { authorization: `Bearer ${token}` },
      });
    const first = await read(one);
    expect(first.statusCode).toBe(200);
    expect(first.headers['ratelimit-policy']).toBe('"customer";q=2;w=60');
    expect(first.headers.ratelimit).toMatch(/^"customer";r=1;t=\d+$/);
    expect((await read(two)).statusCode).toBe(200);
    const refused = await read(one);
    expect(expectLimited(refused).detail).toMatch(
      /^Too many requests from this customer: at most 2 requests per minute/,
    );
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(1);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    // The same customer on the check path, through a token: refused too.
    expectLimited(
      await server.request({
        method: 'POST',
        url: '/v1/check',
        body: { customer, feature: 'sso' },
        headers: { authorization: `Bearer ${two}` },
      }),
    );
    expect((await read(other, 'globex')).statusCode).toBe(200);
    expect((await server.request({ method: 'GET', url: '/v1/features' })).statusCode).toBe(200);
  });

  it('counts requests without a credential by client address', async () => {
    const signIn = (remoteAddress: string) =>
      dispatch(server.keymaster.app, {
        method: 'POST',
        url: '/v1/sessions',
        remoteAddress,
        headers: { 'content-type': 'application/json' },
        payload: { email: 'nobody@example.com', password: 'not the password' },
      });
    for (let i = 0; i < 3; i++) expect((await signIn('192.0.2.7')).statusCode).toBe(401);
    expect(expectLimited(await signIn('192.0.2.7')).detail).toMatch(/^Too many requests from this client address/);
    expect((await signIn('192.0.2.8')).statusCode).toBe(401);
  });

  it('leaves the routes outside the API alone: health, readiness, the OpenAPI document', async () => {
    for (let i = 0; i < 5; i++) {
      for (const url of ['/healthz', '/readyz', '/openapi.json']) {
        const answer = await server.request({ method: 'GET', url });
        expect(answer.statusCode, url).toBe(200);
        expect(answer.headers.ratelimit, url).toBeUndefined();
      }
    }
  });
});

describeEachDialect('without a rate limit', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
  });
  afterAll(() => server.close());

  it('answers with no rate-limit fields and never 429', async () => {
    for (let i = 0; i < 20; i++) {
      const answer = await server.request({ method: 'GET', url: '/v1/features' });
      expect(answer.statusCode).toBe(200);
      expect(answer.headers.ratelimit).toBeUndefined();
      expect(answer.headers['ratelimit-policy']).toBeUndefined();
    }
  });
});

/** The route table: every operation of /openapi.json, and a request for it. */
async function routeTable(server: TestServer) {
  const doc = expectStatus<{
    paths: Record<string, Record<string, { security?: object[]; responses: Record<string, unknown> }>>;
  }>(await server.request({ method: 'GET', url: '/openapi.json' }), 200);
  return Object.entries(doc.paths).flatMap(([route, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      route,
      url: route.replace(/\{\w+\}/g, 'x'),
      /** A customer portal route: a portal session opens it, never an API key. */
      portal: operation.security?.some((scheme) => 'portalCookie' in scheme) ?? false,
      documented: operation.responses['429'] !== undefined,
    })),
  );
}

describeEachDialect('a rate limit on every route of /openapi.json', (dialect) => {
  let server: TestServer;
  let portalToken: string;
  let routes: Awaited<ReturnType<typeof routeTable>>;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: { KEYMASTER_RATE_LIMIT: '1/h', KEYMASTER_CUSTOMER_RATE_LIMIT: '1/h', KEYMASTER_TEST_CLOCK: 'true' },
    });
    expectStatus(await server.request({ method: 'PUT', url: '/v1/customers/acme', body: {} }), 201);
    server.clock.advance(3_600_000);
    // This uses up the key's limit for the hour.
    portalToken = expectStatus<{ token: string }>(
      await server.request({ method: 'POST', url: '/v1/portal-sessions', body: { customer: 'acme' } }),
      201,
    ).token;
    routes = await routeTable(server);
    // And this the customer's, which the portal session counts against.
    const portal = await server.request({
      method: 'GET',
      url: '/v1/portal',
      headers: { authorization: `Bearer ${portalToken}` },
    });
    expect(portal.statusCode).toBe(200);
  });
  afterAll(() => server.close());

  it('covers the whole document, the plain dispatch of checks and consumes included', () => {
    const names = routes.map((r) => `${r.method} ${r.route}`);
    expect(names.length).toBeGreaterThanOrEqual(45);
    for (const name of ['POST /v1/check', 'POST /v1/consume', 'GET /v1/stream', 'POST /v1/sessions', 'GET /v1/portal'])
      expect(names).toContain(name);
  });

  it('answers 429 to every operation once its caller has used its limit, as the document says', async () => {
    const missed: string[] = [];
    for (const { method, route, url, portal, documented } of routes) {
      if (!documented) missed.push(`${method} ${route}: no 429 in /openapi.json`);
      const answer = await server.request({
        method: method as 'GET',
        url,
        body: method === 'GET' || method === 'DELETE' || method === 'HEAD' ? undefined : {},
        headers: portal ? { authorization: `Bearer ${portalToken}` } : {},
      });
      if (answer.statusCode !== 429 || answer.headers['retry-after'] === undefined)
        missed.push(`${method} ${route}: ${answer.statusCode} ${answer.body.slice(0, 200)}`);
      else if (!/;r=0;t=\d+$/.test(String(answer.headers.ratelimit)))
        missed.push(`${method} ${route}: RateLimit ${String(answer.headers.ratelimit)}`);
    }
    expect(missed).toEqual([]);
  });
});

/** The count Keymaster keeps in Redis for the admin key, under `prefix`. */
function adminKeyCount(redis: Redis, prefix: string): Promise<number> {
  return redis.get(`${prefix}:rate:default:key_env_admin`).then(Number);
}

/**
 * Sends requests through `server` until one is counted in Redis: until its connection is ready, a
 * node counts in its own memory (and Redis sees nothing).
 */
async function untilCountedInRedis(server: TestServer, redis: Redis, prefix: string): Promise<void> {
  await expect
    .poll(async () => {
      const before = await adminKeyCount(redis, prefix);
      await server.request({ method: 'GET', url: '/v1/features' });
      return (await adminKeyCount(redis, prefix)) > before;
    })
    .toBe(true);
}

describeEachDialect('rate limits shared in Redis', (dialect) => {
  let one: TestServer;
  let two: TestServer;
  let redis: Redis;
  const env = {
    KEYMASTER_RATE_LIMIT: '10/h',
    REDIS_URL: redisUrl,
    // Runs of this test (and other suites) never share a count.
    KEYMASTER_REDIS_PREFIX: `test-${randomUUID()}`,
  };
  beforeAll(async () => {
    one = await startTestServer({ dialect, env });
    two = await startTestServerOn({ target: one.target, env });
    redis = new Redis(redisUrl);
  });
  afterAll(async () => {
    redis.disconnect();
    await two.close();
    await one.close();
  });

  it('counts every node against one limit, the plain dispatch included', async () => {
    const body = { customer: 'nobody', feature: 'sso' };
    const prefix = env.KEYMASTER_REDIS_PREFIX;
    await untilCountedInRedis(one, redis, prefix);
    await untilCountedInRedis(two, redis, prefix);
    let used = await adminKeyCount(redis, prefix);
    expect(used).toBeLessThan(10);
    // Each node sees the other's requests in what is left.
    while (used < 10) {
      const node = used % 2 === 0 ? one : two;
      const answer =
        used % 3 === 0
          ? await node.request({ method: 'POST', url: '/v1/check', body })
          : await node.request({ method: 'GET', url: '/v1/features' });
      used++;
      expect(answer.statusCode).toBe(200);
      expect(answer.headers.ratelimit).toMatch(new RegExp(`^"default";r=${10 - used};t=\\d+$`));
    }
    expectLimited(await one.request({ method: 'POST', url: '/v1/check', body }));
    expectLimited(await two.request({ method: 'GET', url: '/v1/features' }));
  });
});

describeEachDialect('rate limits while Redis is unreachable', (dialect) => {
  let server: TestServer;
  const logs: string[] = [];
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: { KEYMASTER_RATE_LIMIT: '3/h', REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'warn' },
      logs: (line) => logs.push(line),
    });
  });
  afterAll(() => server.close());

  it('still answers, counting on this node, and says so in the log once', async () => {
    await expect.poll(() => logs.some((line) => line.includes('Redis is unreachable'))).toBe(true);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await server.request({ method: 'GET', url: '/v1/features' })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // ioredis keeps trying to connect meanwhile, failing each time.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(logs.filter((line) => line.includes('Redis is unreachable'))).toHaveLength(1);
  });
});

/** A TCP relay to the local Redis that a test can cut and restore: an outage on demand. */
async function redisRelay() {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const start = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect({ host: '127.0.0.1', port: 6379 });
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on('close', () => sockets.delete(socket));
          socket.on('error', () => socket.destroy());
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.listen(port, '127.0.0.1', () => {
        const address = server!.address();
        port = typeof address === 'object' && address ? address.port : 0;
        resolve();
      });
    });
  await start();
  return {
    url: () => `redis://127.0.0.1:${port}`,
    /** Refuses new connections and drops the open ones. */
    cut: () =>
      new Promise<void>((resolve) => {
        // Stop listening first, so no reconnection slips in between.
        server!.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
    restore: start,
  };
}

describeEachDialect('rate limits through a Redis outage', (dialect) => {
  let server: TestServer;
  let relay: Awaited<ReturnType<typeof redisRelay>>;
  const env = { KEYMASTER_RATE_LIMIT: '1000/h', KEYMASTER_REDIS_PREFIX: `test-${randomUUID()}`, LOG_LEVEL: 'info' };
  const logs: string[] = [];
  const said = (text: string) => logs.filter((line) => line.includes(text)).length;
  beforeAll(async () => {
    relay = await redisRelay();
    server = await startTestServer({
      dialect,
      env: { ...env, REDIS_URL: relay.url() },
      logs: (line) => logs.push(line),
    });
  });
  afterAll(async () => {
    await server.close();
    await relay.cut();
  });

  it('answers all along, and logs the outage once and its end once', async () => {
    const prefix = env.KEYMASTER_REDIS_PREFIX;
    const redis = new Redis(redisUrl);
    const stored = () => adminKeyCount(redis, prefix);
    const features = async () => {
      const answer = await server.request({ method: 'GET', url: '/v1/features' });
      expect(answer.statusCode).toBe(200);
      return answer;
    };
    try {
      await untilCountedInRedis(server, redis, prefix);
      const before = await stored();
      // A start on a busy machine may already have seen Redis slow to answer: count from here.
      const [down, up] = [said('Redis is unreachable'), said('Redis is reachable again')];

      await relay.cut();
      await expect.poll(() => said('Redis is unreachable')).toBe(down + 1);
      // Each node counts on its own meanwhile: nothing is refused, nothing reaches Redis.
      for (let i = 0; i < 5; i++) await features();
      expect(await stored()).toBe(before);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(said('Redis is unreachable')).toBe(down + 1);

      await relay.restore();
      await expect.poll(() => said('Redis is reachable again'), { timeout: 5000 }).toBe(up + 1);
      expect(said('Redis is unreachable')).toBe(down + 1);
      // Counted in Redis again, going on from before the outage.
      const after = String((await features()).headers.ratelimit);
      expect(after).toMatch(new RegExp(`^"default";r=${1000 - before - 1};t=\\d+$`));
      expect(await stored()).toBe(before + 1);
    } finally {
      redis.disconnect();
    }
  });
});
