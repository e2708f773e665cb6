import type { CustomerEntitlements, Decision, IngestResult } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, grantBody, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

const start = Date.parse('2026-06-15T12:00:00.000Z');

describeEachDialect('meters: events become usage that checks report', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: new Date(start).toISOString() });
    const features = [
      { key: 'api_calls', name: 'API calls', type: 'metered', meter: { event_type: 'api_call', aggregation: 'count' } },
      {
        key: 'large_tokens',
        name: 'Large-model tokens',
        type: 'metered',
        meter: { event_type: 'llm', aggregation: 'sum', property: 'tokens', filter: { model: 'large' } },
      },
      {
        key: 'peak_jobs',
        name: 'Peak jobs',
        type: 'metered',
        meter: { event_type: 'jobs', aggregation: 'max', property: 'running' },
      },
      {
        key: 'storage',
        name: 'Storage',
        type: 'metered',
        meter: { event_type: 'storage', aggregation: 'latest', property: 'gb' },
      },
      {
        key: 'active_users',
        name: 'Active users',
        type: 'metered',
        meter: { event_type: 'login', aggregation: 'unique_count', property: 'user' },
      },
      { key: 'burst', name: 'Burst calls', type: 'metered', meter: { event_type: 'api_call', aggregation: 'count' } },
      {
        key: 'cycle_calls',
        name: 'Calls per cycle',
        type: 'metered',
        meter: { event_type: 'api_call', aggregation: 'count' },
      },
    ];
    for (const body of features) expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    const plan = {
      key: 'metered',
      name: 'Metered',
      price: { amount: 1000, currency: 'usd', interval: 'month' },
      entitlements: [
        { feature: 'api_calls', limit: 5, reset: 'month' },
        { feature: 'large_tokens', limit: 10_000, reset: 'month' },
        { feature: 'peak_jobs', limit: 8, reset: 'day' },
        { feature: 'storage', limit: 100, reset: 'never' },
        { feature: 'active_users', limit: 3, reset: 'month' },
        { feature: 'burst', limit: 3, window: '1h' },
        { feature: 'cycle_calls', limit: 100, reset: 'billing_period' },
      ],
    };
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: plan }), 201);
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans/metered/publish' }), 200);
  });
  afterAll(() => server.close());

  const at = (iso: string) => iso;
  const send = async (events: Record<string, unknown>[]) =>
    expectStatus<IngestResult>(await server.request({ method: 'POST', url: '/v1/events', body: { events } }), 200);
  const check = async (customer: string, feature: string, quantity = 1) =>
    expectStatus<Decision>(
      await server.request({ method: 'POST', url: '/v1/check', body: { customer, feature, quantity } }),
      200,
    );
  const event = (customer: string, type: string, properties: Record<string, unknown> = {}, timestamp?: string) => ({
    id: uniqueKey('evt'),
    customer,
    type,
    properties,
    ...(timestamp ? { timestamp } : {}),
  });
  const customer = async () => (await seedCustomer(server, { plan: 'metered' })).id;

  it('counts events into the current period and refuses past the limit', async () => {
    const id = await customer();
    expect(await check(id, 'api_calls')).toMatchObject({ allowed: true, usage: 0, balance: 5 });
    await send([event(id, 'api_call'), event(id, 'api_call'), event(id, 'api_call')]);
    expect(await check(id, 'api_calls')).toMatchObject({ allowed: true, usage: 3, balance: 2, limit: 5 });
    expect(await check(id, 'api_calls', 3)).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 3 });
    await send([event(id, 'api_call'), event(id, 'api_call')]);
    expect(await check(id, 'api_calls')).toMatchObject({
      allowed: false,
      reason: 'limit_reached',
      usage: 5,
      balance: 0,
    });
  });

  it('never counts a duplicate, even when the same batch races in', async () => {
    const id = await customer();
    const batch = [event(id, 'api_call'), event(id, 'api_call')];
    await Promise.all([send(batch), send(batch), send(batch)]);
    expect(await check(id, 'api_calls')).toMatchObject({ usage: 2 });
  });

  it('counts a late event in the period its timestamp falls in', async () => {
    const id = await customer();
    await send([
      event(id, 'api_call', {}, at('2026-05-31T23:59:59Z')),
      event(id, 'api_call', {}, at('2026-06-01T00:00:00Z')),
    ]);
    expect(await check(id, 'api_calls')).toMatchObject({ usage: 1, resets_at: '2026-07-01T00:00:00.000Z' });
  });

  it('sums a property, only over events that match the filter', async () => {
    const id = await customer();
    await send([
      event(id, 'llm', { model: 'large', tokens: 1200 }),
      event(id, 'llm', { model: 'small', tokens: 5000 }),
      event(id, 'llm', { model: 'large', tokens: '800' }),
    ]);
    expect(await check(id, 'large_tokens')).toMatchObject({ usage: 2000, balance: 8000 });
  });

  it('refuses an event whose summed property is not a number, and counts the rest', async () => {
    const id = await customer();
    const result = await send([
      event(id, 'llm', { model: 'large', tokens: 'lots' }),
      event(id, 'llm', { model: 'large', tokens: 10 }),
    ]);
    expect(result.accepted).toBe(1);
    expect(result.rejected).toEqual([
      { index: 0, error: 'property "tokens" must be a number for sum (meter of "large_tokens")' },
    ]);
    expect(await check(id, 'large_tokens')).toMatchObject({ usage: 10 });
  });

  it('keeps the maximum, the latest value and the distinct count, each enforceable as a limit', async () => {
    const id = await customer();
    await send([
      event(id, 'jobs', { running: 4 }),
      event(id, 'jobs', { running: 9 }),
      event(id, 'jobs', { running: 2 }),
      event(id, 'storage', { gb: 40 }, at('2026-06-15T10:00:00Z')),
      event(id, 'storage', { gb: 35 }, at('2026-06-15T11:00:00Z')),
      event(id, 'storage', { gb: 90 }, at('2026-06-15T09:00:00Z')),
      event(id, 'login', { user: 'ann' }),
      event(id, 'login', { user: 'bob' }),
      event(id, 'login', { user: 'ann' }),
    ]);
    expect(await check(id, 'peak_jobs', 0)).toMatchObject({ usage: 9, allowed: false, reason: 'limit_reached' });
    expect(await check(id, 'storage', 0)).toMatchObject({ usage: 35, allowed: true });
    expect(await check(id, 'active_users')).toMatchObject({ usage: 2, allowed: true });
    await send([event(id, 'login', { user: 'cid' }), event(id, 'login', { user: 'bob' })]);
    expect(await check(id, 'active_users')).toMatchObject({ usage: 3, allowed: false, reason: 'limit_reached' });
  });

  it("applies one batch to many customers' counters of every kind, each counter on its own", async () => {
    const ids = await Promise.all([customer(), customer(), customer()]);
    await send(
      ids.flatMap((id, n) => [
        ...Array.from({ length: n + 1 }, () => event(id, 'api_call')),
        event(id, 'jobs', { running: 10 - n }),
        event(id, 'storage', { gb: n * 10 }),
        ...Array.from({ length: n + 1 }, (_, k) => event(id, 'login', { user: `u${k}` })),
      ]),
    );
    for (const [n, id] of ids.entries()) {
      expect(await check(id, 'api_calls', 0)).toMatchObject({ usage: n + 1 });
      expect(await check(id, 'peak_jobs', 0)).toMatchObject({ usage: 10 - n });
      expect(await check(id, 'storage', 0)).toMatchObject({ usage: n * 10 });
      expect(await check(id, 'active_users', 0)).toMatchObject({ usage: n + 1 });
    }
  });

  it('takes consumes, checks and customer writes while batches are being written, and counts every unit once', async () => {
    const id = await customer();
    const batches = Array.from({ length: 10 }, () =>
      Array.from({ length: 100 }, () => event(id, 'llm', { tokens: 5, model: 'large' })),
    );
    const consume = async () =>
      expectStatus(
        await server.request({
          method: 'POST',
          url: '/v1/consume',
          body: { customer: id, feature: 'large_tokens', quantity: 100 },
        }),
        200,
      );
    const results = await Promise.all([
      ...batches.map((batch) => send(batch)),
      ...Array.from({ length: 20 }, consume),
      ...Array.from({ length: 5 }, () => customer()),
      ...Array.from({ length: 10 }, () => check(id, 'large_tokens', 0)),
    ]);
    expect(results.slice(0, 10)).toEqual(batches.map(() => ({ accepted: 100, duplicates: 0, rejected: [] })));
    expect(await check(id, 'large_tokens', 0)).toMatchObject({ usage: 10 * 100 * 5 + 20 * 100 });
  });

  it('counts only the new events of a batch that mixes them with stored ones and repeats', async () => {
    const [x, y] = [await customer(), await customer()];
    const large = (id: string, tokens: number) => ({ ...event(id, 'llm', { model: 'large', tokens }) });
    const stored = large(x, 5);
    await send([stored]);
    const [new7, new11] = [large(y, 7), large(x, 11)];
    // Stored, new, stored again, new, a repeat of a new one: two new events, three duplicates.
    const mixed = [stored, new7, stored, new11, { ...new7, properties: { model: 'large', tokens: 1000 } }];
    expect(await send(mixed)).toEqual({ accepted: 2, duplicates: 3, rejected: [] });
    expect((await check(x, 'large_tokens')).usage).toBe(16);
    expect((await check(y, 'large_tokens')).usage).toBe(7);
  });

  it('counts a batch sent right after a grant with what the grant entitles', async () => {
    const feature = {
      key: 'granted_calls',
      name: 'Granted calls',
      type: 'metered',
      meter: { event_type: 'granted', aggregation: 'count' },
    };
    expectStatus(await server.request({ method: 'POST', url: '/v1/features', body: feature }), 201);
    const id = await customer();
    // Not entitled yet: the event is stored, and counts for nothing.
    expect(await send([event(id, 'granted')])).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const grant = grantBody({ feature: 'granted_calls', limit: 10 });
    expectStatus(await server.request({ method: 'POST', url: `/v1/customers/${id}/grants`, body: grant }), 201);
    // Where batches are metered on a thread of their own, it reads the change feed first.
    await send([event(id, 'granted'), event(id, 'granted')]);
    expect(await check(id, 'granted_calls')).toMatchObject({ allowed: true, usage: 2, balance: 8 });
  });

  it('takes events for a customer created behind the cache, as soon as the database has it', async () => {
    const id = uniqueKey('cus');
    expect((await send([event(id, 'api_call')])).rejected).toEqual([{ index: 0, error: `unknown customer "${id}"` }]);
    // Written straight to the database, as another node would: this node's cache has not heard of it.
    const now = Date.now();
    await server.keymaster.database.db
      .insertInto('customers')
      .values({ id, name: null, email: null, traits: '{}', created_at: now, updated_at: now })
      .execute();
    expect(await send([event(id, 'api_call')])).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  describe('time', () => {
    it('resets a monthly allowance at the month boundary', async () => {
      const id = await customer();
      await send([event(id, 'api_call'), event(id, 'api_call')]);
      expect(await check(id, 'api_calls')).toMatchObject({ usage: 2 });
      server.clock.set(Date.parse('2026-07-01T00:00:00.000Z'));
      try {
        expect(await check(id, 'api_calls')).toMatchObject({ usage: 0, resets_at: '2026-08-01T00:00:00.000Z' });
      } finally {
        server.clock.set(start);
      }
    });

    it('frees a rolling window as its events age out', async () => {
      const id = await customer();
      server.clock.set(Date.parse('2026-06-15T12:00:30.000Z'));
      try {
        await send([
          event(id, 'api_call', {}, at('2026-06-15T11:10:00Z')),
          event(id, 'api_call'),
          event(id, 'api_call'),
        ]);
        expect(await check(id, 'burst')).toMatchObject({ usage: 3, allowed: false, reason: 'limit_reached' });
        server.clock.set(Date.parse('2026-06-15T12:10:30.000Z'));
        expect(await check(id, 'burst')).toMatchObject({ usage: 2, allowed: true });
        server.clock.set(Date.parse('2026-06-15T13:01:30.000Z'));
        expect(await check(id, 'burst')).toMatchObject({ usage: 0, allowed: true });
      } finally {
        server.clock.set(start);
      }
    });

    it('anchors billing-period usage on the subscription start', async () => {
      const id = await customer(); // subscribed 2026-06-15T12:00Z: periods run the 15th to the 15th
      await send([event(id, 'api_call', {}, at('2026-06-15T11:59:59Z')), event(id, 'api_call')]);
      expect(await check(id, 'cycle_calls')).toMatchObject({ usage: 1, resets_at: '2026-07-15T12:00:00.000Z' });
    });
  });

  it('reports usage in the entitlements snapshot too', async () => {
    const id = await customer();
    await send([event(id, 'api_call')]);
    const snapshot = expectStatus<CustomerEntitlements>(
      await server.request({ method: 'GET', url: `/v1/customers/${id}/entitlements?feature=api_calls` }),
      200,
    );
    expect(snapshot.entitlements[0]).toMatchObject({ feature: 'api_calls', usage: 1, balance: 4 });
  });
});
