import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer, testAdminKey } from '../../test-support/server.js';
import { openSse, type SseEvent, type SseStream } from '../../test-support/sse-client.js';

interface Snapshot {
  customer: string;
  plan: { key: string } | null;
  entitlements: { feature: string; enabled: boolean; usage: number | null }[];
}
const payload = (event: SseEvent) => event.data as { customer: string; entitlements: Snapshot | null };
const feature = (event: SseEvent, key: string) =>
  payload(event).entitlements?.entitlements.find((e) => e.feature === key);
const isFor = (type: string, customer?: string) => (event: SseEvent) =>
  event.event === type && (customer === undefined || payload(event).customer === customer);

describeEachDialect('GET /v1/stream', (dialect) => {
  let server: TestServer;
  let base: string;
  const open: SseStream[] = [];
  const stream = async (query = '', headers: Record<string, string> = {}) => {
    const sse = await openSse({
      url: `${base}/v1/stream${query}`,
      headers: { authorization: `Bearer ${testAdminKey}`, ...headers },
    });
    open.push(sse);
    return sse;
  };
  const post = (url: string, body?: unknown) => server.request({ method: 'POST', url, body });
  const grantSso = async (customer: string) =>
    expectStatus(
      await post(`/v1/customers/${customer}/grants`, { feature: 'sso', enabled: true, reason: 'test' }),
      201,
    );
  const consume = async (customer: string, quantity = 1) =>
    expectStatus(await post('/v1/consume', { customer, feature: 'api_calls', quantity }), 200);
  const touchCatalog = async (name: string) =>
    expectStatus(await server.request({ method: 'PATCH', url: '/v1/features/seats', body: { name } }), 200);

  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_STREAM_HEARTBEAT_MS: '50' } });
    await seedCatalog(server);
    base = await server.listen();
  });
  afterAll(async () => {
    for (const sse of open) sse.close();
    await server.close();
  });

  it('answers text/event-stream, starts with ready and sends heartbeat comments', async () => {
    const sse = await stream();
    expect(sse.status).toBe(200);
    expect(sse.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(sse.headers.get('cache-control')).toMatch(/no-cache/);
    expect(sse.headers.get('x-request-id')).toBeTruthy();
    expect(sse.events[0]).toMatchObject({ event: 'ready', data: { customer: null, heartbeat_ms: 50 } });
    expect(Number(sse.events[0]!.id)).toBeGreaterThan(0);
    await expect.poll(() => sse.comments, { timeout: 2000 }).toBeGreaterThanOrEqual(2);
    sse.close();
  });

  it("delivers a grant, a subscription change, usage and catalog changes with the customer's fresh snapshot", async () => {
    const { id, subscription } = await seedCustomer(server, { plan: 'free' });
    const sse = await stream(`?customer=${id}`);

    await grantSso(id);
    const granted = await sse.next(isFor('customer', id));
    expect(feature(granted, 'sso')?.enabled).toBe(true);

    expectStatus(await post(`/v1/subscriptions/${subscription!.id}/change`, { plan: 'pro', when: 'now' }), 200);
    const changed = await sse.next((e) => isFor('customer', id)(e) && payload(e).entitlements?.plan?.key === 'pro');
    expect(changed.data).toMatchObject({ customer: id, entitlements: { customer: id, plan: { key: 'pro' } } });

    await consume(id, 7);
    const used = await sse.next(isFor('usage', id));
    expect(feature(used, 'api_calls')?.usage).toBe(7);

    await touchCatalog('Seats (renamed)');
    expect((await sse.next(isFor('catalog'))).data).toEqual({});

    const ids = sse.events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it("keeps other customers' changes out of a filtered stream, and in an unfiltered one", async () => {
    const acme = (await seedCustomer(server, { plan: 'free' })).id;
    const globex = (await seedCustomer(server, { plan: 'free' })).id;
    const filtered = await stream(`?customer=${acme}`);
    const everyone = await stream();
    await grantSso(globex);
    await consume(globex);
    await grantSso(acme);
    await filtered.next(isFor('customer', acme));
    await everyone.next(isFor('customer', acme));
    expect(filtered.events.some((e) => e.event !== 'ready' && payload(e).customer !== acme)).toBe(false);
    expect(everyone.events.some((e) => payload(e).customer === globex)).toBe(true);
  });

  it('says when a customer is erased: entitlements null', async () => {
    const { id } = await seedCustomer(server, { plan: 'free' });
    const sse = await stream(`?customer=${id}`);
    expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
    const erased = await sse.next(isFor('customer', id));
    expect(erased.data).toEqual({ customer: id, entitlements: null });
  });

  it("tells each customer's stream about a batch of events over many customers, live and when resumed", async () => {
    // A batch announces all its customers in one change (see announcingUsageOnce).
    expectStatus(
      await server.request({
        method: 'PATCH',
        url: '/v1/features/api_calls',
        body: { meter: { event_type: 'api_call', aggregation: 'count' } },
      }),
      200,
    );
    const [acme, globex, initech] = await Promise.all([1, 2, 3].map(() => seedCustomer(server, { plan: 'free' })));
    const acmeLive = await stream(`?customer=${acme!.id}`);
    const ready = acmeLive.events[0]!;
    const events = [acme, globex, acme].map((customer, i) => ({
      id: `batch-${acme!.id}-${i}`,
      customer: customer!.id,
      type: 'api_call',
    }));
    expectStatus(await post('/v1/events', { events }), 200);
    expect(feature(await acmeLive.next(isFor('usage', acme!.id)), 'api_calls')?.usage).toBe(2);

    const globexResumed = await stream(`?customer=${globex!.id}`, { 'last-event-id': ready.id! });
    expect(feature(await globexResumed.next(isFor('usage', globex!.id)), 'api_calls')?.usage).toBe(1);
    // A customer the batch did not name hears nothing of it, live or resumed.
    const initechResumed = await stream(`?customer=${initech!.id}`, { 'last-event-id': ready.id! });
    await touchCatalog('Seats (after the batch)');
    expect((await initechResumed.next()).event).toBe('catalog');
    expect(initechResumed.events.filter((e) => e.event === 'usage')).toEqual([]);
    expect(acmeLive.events.filter(isFor('usage', globex!.id))).toEqual([]);
  });

  describe('resuming with Last-Event-ID', () => {
    it('replays exactly the changes missed, in order, then goes live', async () => {
      const acme = (await seedCustomer(server, { plan: 'free' })).id;
      const globex = (await seedCustomer(server, { plan: 'free' })).id;
      const first = await stream();
      await consume(acme);
      const seen = await first.next(isFor('usage', acme));
      first.close();

      await grantSso(acme);
      await touchCatalog('Seats (missed)');
      await consume(globex, 2);

      const resumed = await stream('', { 'last-event-id': seen.id! });
      expect(resumed.events[0]).toMatchObject({ event: 'ready', id: seen.id });
      const replayed = [await resumed.next(), await resumed.next(), await resumed.next()].map((e) => [
        e.event,
        e.event === 'catalog' ? null : payload(e).customer,
      ]);
      expect(replayed).toEqual([
        ['customer', acme],
        ['catalog', null],
        ['usage', globex],
      ]);
      await consume(acme);
      expect(feature(await resumed.next(), 'api_calls')?.usage).toBe(2);
      expect(resumed.events.filter((e) => e.event === 'reset')).toEqual([]);

      // Filtered to one customer, the same resume point replays only theirs (and the catalog's).
      const filtered = await stream(`?customer=${globex}`, { 'last-event-id': seen.id! });
      expect([(await filtered.next()).event, payload(await filtered.next()).customer]).toEqual(['catalog', globex]);
    });

    it('sends reset when the resume point was pruned, or is ahead of the feed', async () => {
      await consume((await seedCustomer(server, { plan: 'free' })).id);
      const { db } = server.keymaster.database;
      const max = Number(
        (
          await db
            .selectFrom('changes')
            .select((eb) => eb.fn.max('seq').as('max'))
            .executeTakeFirstOrThrow()
        ).max,
      );
      // What pruning does: drop everything but the newest changes.
      await db
        .deleteFrom('changes')
        .where('seq', '<', max - 2)
        .execute();

      const pruned = await stream('', { 'last-event-id': String(max - 10) });
      const reset = await pruned.next();
      expect(reset.event).toBe('reset');
      expect(Number(reset.id)).toBeGreaterThanOrEqual(max);

      const ahead = await stream('', { 'last-event-id': String(max + 1000) });
      expect((await ahead.next()).event).toBe('reset');

      const recent = await stream('', { 'last-event-id': String(max) });
      await touchCatalog('Seats (after prune)');
      expect((await recent.next()).event).toBe('catalog');
    });

    it('refuses a Last-Event-ID that is not one of its ids, naming the header', async () => {
      const response = await server.request({
        method: 'GET',
        url: '/v1/stream',
        headers: { 'last-event-id': 'abc' },
      });
      expectProblem(response, { status: 400, code: 'validation_failed', path: '/headers/last-event-id' });
    });
  });

  it('refuses bad filters and credentials before opening a stream', async () => {
    expectProblem(await server.request({ method: 'GET', url: '/v1/stream?customer=' }), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/customer',
    });
    expectProblem(await server.request({ method: 'GET', url: '/v1/stream?since=1' }), {
      status: 400,
      code: 'validation_failed',
    });
    const anonymous = await openSse({ url: `${base}/v1/stream` });
    expect(anonymous.status).toBe(401);
    // A secret key in the query string is not accepted: only customer tokens travel there.
    const keyInQuery = await openSse({ url: `${base}/v1/stream?access_token=${testAdminKey}` });
    expect(keyInQuery.status).toBe(401);
  });

  it('leaves no listener behind after many connects and disconnects', async () => {
    const hub = server.keymaster.services.streamHub;
    for (const sse of open) sse.close();
    await expect.poll(() => hub.size, { timeout: 3000 }).toBe(0);
    for (let round = 0; round < 5; round++) {
      const batch = await Promise.all(Array.from({ length: 20 }, () => stream(round % 2 ? '?customer=acme' : '')));
      expect(hub.size).toBe(20);
      for (const sse of batch) sse.close();
      await expect.poll(() => hub.size, { timeout: 3000 }).toBe(0);
    }
    // Changes after everyone left reach no one and keep nothing.
    await touchCatalog('Seats (nobody listening)');
    expect(hub.size).toBe(0);
  });
});
