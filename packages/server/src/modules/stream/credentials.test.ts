import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer, testAdminKey } from '../../test-support/server.js';
import { openSse, type SseEvent, type SseStream } from '../../test-support/sse-client.js';

const heartbeatMs = 50;
const revokedWith = (code: string) => (event: SseEvent) =>
  event.event === 'revoked' && (event.data as { code: string }).code === code;

/** Streams end when their credential stops authenticating, and each credential holds a bounded number open. */
describeEachDialect('GET /v1/stream and its credential', (dialect) => {
  let server: TestServer;
  let base: string;
  const open: SseStream[] = [];
  const stream = async (input: { query?: string; key?: string }) => {
    const sse = await openSse({
      url: `${base}/v1/stream${input.query ?? ''}`,
      headers: input.key === undefined ? {} : { authorization: `Bearer ${input.key}` },
    });
    open.push(sse);
    return sse;
  };
  const tokenFor = async (customer: string, ttlSeconds = 3600) =>
    expectStatus<{ token: string }>(
      await server.request({
        method: 'POST',
        url: '/v1/customer-tokens',
        body: { customer, ttl_seconds: ttlSeconds },
      }),
      201,
    ).token;
  const tokenStream = (customer: string, token: string) =>
    stream({ query: `?customer=${customer}&access_token=${token}` });
  const grantSso = async (customer: string) =>
    expectStatus(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${customer}/grants`,
        body: { feature: 'sso', enabled: true, reason: 'test' },
      }),
      201,
    );
  /** The stream was ended by the server, and its last event says why. */
  const expectEnded = async (sse: SseStream, code: string) => {
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still open after 3 s'), 3000));
    expect(await Promise.race([sse.ended, timeout])).toBe(true);
    expect(sse.events.at(-1)).toMatchObject({ event: 'revoked', data: { code } });
    expect(sse.events.filter((e) => e.event === 'revoked')).toHaveLength(1);
  };

  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: {
        KEYMASTER_STREAM_HEARTBEAT_MS: String(heartbeatMs),
        KEYMASTER_STREAM_MAX_PER_TOKEN: '3',
        KEYMASTER_STREAM_MAX_PER_KEY: '4',
      },
    });
    await seedCatalog(server);
    base = await server.listen();
  });
  afterAll(async () => {
    for (const sse of open) sse.close();
    await server.close();
  });

  it('ends a stream when its API key is revoked, telling the client why', async () => {
    const created = expectStatus<{ id: string; secret: string }>(
      await server.request({ method: 'POST', url: '/v1/api-keys', body: { name: 'stream', scopes: ['admin'] } }),
      201,
    );
    const { id } = await seedCustomer(server, { plan: 'free' });
    const sse = await stream({ query: `?customer=${id}`, key: created.secret });
    expect(sse.status).toBe(200);
    expectStatus(await server.request({ method: 'DELETE', url: `/v1/api-keys/${created.id}` }), 200);
    await expectEnded(sse, 'api_key_revoked');
    // Nothing of a later change reaches it, and reconnecting is refused.
    await grantSso(id);
    expect(sse.events.filter((e) => e.event === 'customer')).toEqual([]);
    expect((await stream({ key: created.secret })).status).toBe(401);
  });

  it("ends a customer token's stream once the token expires by the server's clock", async () => {
    const { id } = await seedCustomer(server, { plan: 'free' });
    const sse = await tokenStream(id, await tokenFor(id, 60));
    expect(sse.status).toBe(200);
    server.clock.advance(59_000);
    await new Promise((resolve) => setTimeout(resolve, heartbeatMs * 4));
    expect(sse.events.map((e) => e.event)).toEqual(['ready']);
    server.clock.advance(1_000);
    await expectEnded(sse, 'token_expired');
  });

  it("ends a customer token's stream when the customer is erased, and tells it nothing of a customer re-created with that id", async () => {
    const { id } = await seedCustomer(server, { plan: 'free' });
    const sse = await tokenStream(id, await tokenFor(id));
    expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
    server.clock.advance(1000);
    expectStatus(await server.request({ method: 'PUT', url: `/v1/customers/${id}`, body: {} }), 201);
    await grantSso(id);
    await expectEnded(sse, 'token_revoked');
    const entitlements = sse.events.filter((e) => (e.data as { entitlements?: unknown }).entitlements);
    expect(entitlements).toEqual([]);
  });

  it('leaves an API key stream for an erased customer open (the key still holds)', async () => {
    const { id } = await seedCustomer(server, { plan: 'free' });
    const sse = await stream({ query: `?customer=${id}`, key: testAdminKey });
    expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
    expect((await sse.next((e) => e.event === 'customer')).data).toEqual({ customer: id, entitlements: null });
    server.clock.advance(1000);
    expectStatus(await server.request({ method: 'PUT', url: `/v1/customers/${id}`, body: {} }), 201);
    await sse.next((e) => e.event === 'customer' && (e.data as { entitlements: unknown }).entitlements !== null);
    expect(sse.events.some(revokedWith('api_key_revoked'))).toBe(false);
    sse.close();
  });

  it('caps the streams one customer token holds open on a node: 429, and a slot frees when one closes', async () => {
    const { id } = await seedCustomer(server, { plan: 'free' });
    const token = await tokenFor(id);
    const held = [await tokenStream(id, token), await tokenStream(id, token), await tokenStream(id, token)];
    expect(held.map((sse) => sse.status)).toEqual([200, 200, 200]);
    const refused = await tokenStream(id, token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(JSON.parse(refused.body)).toMatchObject({ status: 429, code: 'rate_limited' });
    expect(JSON.parse(refused.body).detail).toMatch(/3 streams/);
    // Another token of the same customer has slots of its own.
    expect((await tokenStream(id, await tokenFor(id))).status).toBe(200);

    held[0]!.close();
    await expect
      .poll(async () => {
        const again = await tokenStream(id, token);
        again.close();
        return again.status;
      })
      .toBe(200);
  });

  it('caps the streams one API key holds open on a node', async () => {
    const key = testAdminKey;
    for (const sse of open) sse.close();
    await expect.poll(() => server.keymaster.services.streamHub.size, { timeout: 3000 }).toBe(0);
    const held = await Promise.all([1, 2, 3, 4].map(() => stream({ key })));
    expect(held.map((sse) => sse.status)).toEqual([200, 200, 200, 200]);
    const refused = await stream({ key });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'rate_limited' });
    held[3]!.close();
    await expect.poll(() => server.keymaster.services.streamHub.size, { timeout: 3000 }).toBe(3);
    expect((await stream({ key })).status).toBe(200);
  });
});

/** With a clock that follows real time and no heartbeat to speak of, only the expiry timer can end it. */
describeEachDialect("GET /v1/stream at its customer token's expiry, in real time", (dialect) => {
  let server: TestServer;
  let base: string;
  let offset = 0;
  const clock = {
    now: () => Date.now() + offset,
    set: (t: number) => {
      offset = t - Date.now();
    },
    advance: (ms: number) => {
      offset += ms;
    },
  };

  beforeAll(async () => {
    server = await startTestServer({ dialect, clock, env: { KEYMASTER_STREAM_HEARTBEAT_MS: '300000' } });
    base = await server.listen();
  });
  afterAll(async () => {
    await server.close();
  });

  it('ends the stream when the token expires, with no event or heartbeat to prompt it', async () => {
    expectStatus(await server.request({ method: 'PUT', url: '/v1/customers/acme', body: {} }), 201);
    const minted = expectStatus<{ token: string; expires_at: string }>(
      await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer: 'acme', ttl_seconds: 60 } }),
      201,
    );
    clock.advance(Date.parse(minted.expires_at) - clock.now() - 500);
    const sse = await openSse({ url: `${base}/v1/stream?customer=acme&access_token=${minted.token}` });
    expect(sse.status).toBe(200);
    const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still open after 3 s'), 3000));
    expect(await Promise.race([sse.ended, timeout])).toBe(true);
    expect(clock.now()).toBeGreaterThanOrEqual(Date.parse(minted.expires_at));
    expect(sse.events.map((e) => e.event)).toEqual(['ready', 'revoked']);
    expect(sse.events[1]!.data).toMatchObject({ code: 'token_expired' });
  });
});
