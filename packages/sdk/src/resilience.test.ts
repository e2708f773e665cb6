import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, grantBody, seedCustomer } from '../../server/src/test-support/builders.js';
import { createKeymaster, type Keymaster } from './index.js';
import { eventually, startFaultProxy, startLiveServer, testAdminKey } from './test-support/live-server.js';

/**
 * The SDK's promises when the path to the server misbehaves: a stream cut mid-way, garbage on the
 * stream, a slow answer, a 5xx. A real server sits behind a fault-injecting proxy; `check` must
 * never throw, keep answering from cache or by its failure policy, and recover by itself.
 */
describe('@keymaster/sdk under faults [sqlite]', () => {
  let live: Awaited<ReturnType<typeof startLiveServer>>;
  let proxy: Awaited<ReturnType<typeof startFaultProxy>>;
  const clients: Keymaster[] = [];

  beforeAll(async () => {
    live = await startLiveServer({ dialect: 'sqlite' });
    proxy = await startFaultProxy(live.url);
  });
  afterEach(async () => {
    proxy.faults = [];
    proxy.fallback = { kind: 'pass' };
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  afterAll(async () => {
    await proxy?.close();
    await live?.close();
  });

  const connect = (options: { timeoutMs?: number; stream?: boolean; pollIntervalMs?: number } = {}) => {
    const client = createKeymaster({
      baseUrl: proxy.url,
      apiKey: testAdminKey,
      clock: live.server.clock,
      pollIntervalMs: 60_000,
      failurePolicy: { default: 'closed', features: { sso: 'open' } },
      ...options,
    });
    clients.push(client);
    return client;
  };
  const grantSso = async (customer: string) =>
    expectStatus(
      await live.server.request({
        method: 'POST',
        url: `/v1/customers/${customer}/grants`,
        body: grantBody({ feature: 'sso', enabled: true }),
      }),
      201,
    );
  const streamRequests = () => proxy.log.filter((entry) => entry.path.startsWith('/v1/stream'));

  it('resumes a stream cut mid-way from Last-Event-ID and applies what changed meanwhile', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    const km = connect();
    await km.load(id);
    await eventually(() => km.status().mode === 'live');
    const before = streamRequests().length;

    expect(proxy.cutStreams()).toBe(1);
    await eventually(() => km.status().mode === 'polling');
    await grantSso(id); // made while the SDK has no stream
    expect(km.check(id, 'sso').allowed).toBe(false);

    await eventually(() => km.status().mode === 'live', 5000);
    await eventually(() => km.check(id, 'sso').allowed, 2000);
    const [first, again] = streamRequests().slice(before - 1);
    expect(again?.headers['last-event-id']).toBeTruthy();
    expect(first?.headers['last-event-id']).toBeUndefined();
  });

  it('shrugs off malformed messages on the stream and keeps applying good ones', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    const km = connect();
    await km.load(id);
    await eventually(() => km.status().mode === 'live');
    const healthy = km.check(id, 'seats');

    const garbage = [
      'event: customer\ndata: {not json\n\n',
      'event: customer\ndata: 42\n\n',
      `event: customer\ndata: ${JSON.stringify({ customer: id, entitlements: { entitlements: [{ bogus: true }] } })}\n\n`,
      `event: usage\ndata: ${JSON.stringify({ customer: id, entitlements: { entitlements: 'no' } })}\n\n`,
      'event: catalog\ndata: \u0000\u0001\n\n',
      ': a comment\n\nretry: soon\n\n',
    ];
    for (const text of garbage) expect(proxy.injectIntoStreams(text)).toBe(1);

    for (const feature of ['sso', 'seats', 'api_calls', 'support_tier', 'nope']) {
      expect(() => km.check(id, feature)).not.toThrow();
    }
    await eventually(() => km.check(id, 'seats').limit === healthy.limit);
    await grantSso(id);
    await eventually(() => km.check(id, 'sso').allowed, 2000);
    expect(km.check(id, 'seats')).toMatchObject({ allowed: healthy.allowed, limit: healthy.limit });
  });

  it('answers by the failure policy when the server is slow, and catches up once it answers', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    await grantSso(id);
    const km = connect({ timeoutMs: 200, stream: false });
    proxy.fallback = { kind: 'delay', ms: 1_000 };

    const started = Date.now();
    const slow = await km.checkAsync(id, 'seats');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(slow).toMatchObject({ source: 'fallback', allowed: false });
    expect(km.check(id, 'sso')).toMatchObject({ source: 'fallback', allowed: true }); // fails open

    proxy.fallback = { kind: 'pass' };
    await km.load(id);
    expect(km.check(id, 'sso')).toMatchObject({ allowed: true, reason: 'entitled' });
    expect(km.check(id, 'sso').source).not.toBe('fallback');
  });

  it('keeps answering from cache through 5xx answers, marks it stale in time, and recovers', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    const km = connect({ stream: false, pollIntervalMs: 20 });
    await km.load(id);
    const cached = km.check(id, 'seats');
    expect(cached.source).not.toBe('fallback');

    proxy.fallback = { kind: 'status', status: 503 };
    const failed = () => proxy.log.filter((entry) => entry.fault === 'status').length;
    const failedBefore = failed();
    await eventually(() => failed() >= failedBefore + 3);
    expect(km.check(id, 'seats')).toMatchObject({ allowed: cached.allowed, limit: cached.limit, stale: false });
    live.server.clock.advance(61_000);
    expect(km.check(id, 'seats')).toMatchObject({ allowed: cached.allowed, limit: cached.limit, stale: true });
    const other = (await seedCustomer(live.server, { plan: 'free' })).id;
    expect((await km.checkAsync(other, 'seats')).source).toBe('fallback');

    proxy.fallback = { kind: 'pass' };
    await eventually(() => km.check(id, 'seats').stale === false);
  });
});
