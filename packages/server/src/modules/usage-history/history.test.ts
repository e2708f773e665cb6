import type { Decision, IngestResult, Reservation, UsageHistory } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

const start = Date.parse('2026-06-15T12:30:00.000Z');

describeEachDialect('usage history', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: new Date(start).toISOString() });
    const meter = (event_type: string, aggregation: string, property?: string) => ({
      event_type,
      aggregation,
      ...(property ? { property } : {}),
    });
    const features = [
      { key: 'calls', name: 'Calls', type: 'metered', meter: meter('call', 'count') },
      { key: 'tokens', name: 'Tokens', type: 'metered', meter: meter('llm', 'sum', 'tokens') },
      { key: 'peak', name: 'Peak jobs', type: 'metered', meter: meter('jobs', 'max', 'running') },
      { key: 'storage', name: 'Storage', type: 'metered', meter: meter('storage', 'latest', 'gb') },
      { key: 'users', name: 'Active users', type: 'metered', meter: meter('login', 'unique_count', 'user') },
      { key: 'burst', name: 'Burst', type: 'metered', meter: meter('call', 'count') },
      { key: 'burst_users', name: 'Burst users', type: 'metered', meter: meter('login', 'unique_count', 'user') },
      { key: 'cycle', name: 'Calls per cycle', type: 'metered', meter: meter('call', 'count') },
      { key: 'seats', name: 'Seats', type: 'gauge' },
      { key: 'sso', name: 'SSO', type: 'boolean' },
    ];
    for (const body of features) expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    const plan = {
      key: 'metered',
      name: 'Metered',
      price: { amount: 1000, currency: 'usd', interval: 'month' },
      entitlements: [
        { feature: 'calls', limit: 1000, reset: 'month' },
        { feature: 'tokens', limit: 100_000, reset: 'month' },
        { feature: 'peak', limit: 100, reset: 'day' },
        { feature: 'storage', limit: 1000, reset: 'never' },
        { feature: 'users', limit: 100, reset: 'month' },
        { feature: 'burst', limit: 100, window: '3h' },
        { feature: 'burst_users', limit: 100, window: '3h' },
        { feature: 'cycle', limit: 1000, reset: 'billing_period' },
        { feature: 'seats', limit: 10 },
        { feature: 'sso' },
      ],
    };
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: plan }), 201);
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans/metered/publish' }), 200);
  });
  afterAll(() => server.close());

  const customer = async () => (await seedCustomer(server, { plan: 'metered' })).id;
  const event = (customer: string, type: string, timestamp: string, properties: Record<string, unknown> = {}) => ({
    id: uniqueKey('evt'),
    customer,
    type,
    timestamp,
    properties,
  });
  const send = async (events: Record<string, unknown>[]) => {
    const result = expectStatus<IngestResult>(
      await server.request({ method: 'POST', url: '/v1/events', body: { events } }),
      200,
    );
    expect(result.rejected).toEqual([]);
  };
  const usage = async (customer: string, feature: string) =>
    expectStatus<Decision>(
      await server.request({ method: 'POST', url: '/v1/check', body: { customer, feature, quantity: 0 } }),
      200,
    ).usage;
  const historyResponse = (customer: string, query: string) =>
    server.request({ method: 'GET', url: `/v1/customers/${customer}/usage?${query}` });
  const history = async (customer: string, query: string) =>
    expectStatus<UsageHistory>(await historyResponse(customer, query), 200);
  /** The non-empty buckets, as `{start: usage}`. */
  const used = (answer: UsageHistory) =>
    Object.fromEntries(answer.buckets.filter((b) => b.usage !== 0).map((b) => [b.start, b.usage]));
  const sum = (answer: UsageHistory) => answer.buckets.reduce((total, b) => total + b.usage, 0);
  const post = async (url: string, body?: unknown) => {
    const response = await server.request({ method: 'POST', url, ...(body !== undefined ? { body } : {}) });
    expect(response.statusCode, response.body).toBeLessThan(300);
    return response.json<Reservation & Decision>();
  };

  it('adds up to check after events (late ones too), consumes and reservations, and nobody else’s usage', async () => {
    const id = await customer();
    const other = await customer();
    await send([
      event(id, 'call', '2026-06-15T10:10:00Z'),
      event(id, 'call', '2026-06-15T12:20:00Z'),
      event(other, 'call', '2026-06-15T12:20:00Z'),
      event(id, 'call', '2026-05-31T23:00:00Z'), // the previous period: not in this one
    ]);
    // A late event, in an hour that already has usage, and one in an hour that had none.
    await send([event(id, 'call', '2026-06-15T10:50:00Z'), event(id, 'call', '2026-06-14T08:00:00Z')]);
    await post('/v1/consume', { customer: id, feature: 'calls', quantity: 5 });
    await post('/v1/consume', { customer: other, feature: 'calls', quantity: 50 });
    const committed = await post('/v1/reservations', { customer: id, feature: 'calls', quantity: 20 });
    const released = await post('/v1/reservations', { customer: id, feature: 'calls', quantity: 30 });
    const expiring = await post('/v1/reservations', { customer: id, feature: 'calls', quantity: 40, ttl_seconds: 60 });
    expect(expiring.status).toBe('held');
    // While held, a hold counts against the limit: in check, and so in history.
    expect(await usage(id, 'calls')).toBe(4 + 5 + 20 + 30 + 40);
    expect((await history(id, 'feature=calls')).total).toBe(99);
    await post(`/v1/reservations/${committed.id}/commit`, { quantity: 7 });
    await post(`/v1/reservations/${released.id}/release`);
    server.clock.set(start + 61_000);
    try {
      // The sweeper may get there first; either way the hold is expired once this returns.
      await server.keymaster.services.reservations.expireDue();
      // It answers no request: checks see its write when the change feed is next read.
      const deadline = Date.now() + 2000;
      while ((await usage(id, 'calls')) !== 16 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const check = await usage(id, 'calls');
      expect(check).toBe(4 + 5 + 7);
      const hourly = await history(id, 'feature=calls&granularity=hour');
      expect(hourly).toMatchObject({
        customer: id,
        feature: 'calls',
        aggregation: 'count',
        granularity: 'hour',
        from: '2026-06-01T00:00:00.000Z',
        to: '2026-07-01T00:00:00.000Z',
        current_period: true,
        total: check,
      });
      expect(hourly.buckets).toHaveLength(30 * 24);
      expect(hourly.buckets[0]).toEqual({
        start: '2026-06-01T00:00:00.000Z',
        end: '2026-06-01T01:00:00.000Z',
        usage: 0,
      });
      expect(used(hourly)).toEqual({
        '2026-06-14T08:00:00.000Z': 1,
        '2026-06-15T10:00:00.000Z': 2,
        '2026-06-15T12:00:00.000Z': 1 + 5 + 7,
      });
      expect(sum(hourly)).toBe(check);
      const daily = await history(id, 'feature=calls');
      expect(daily).toMatchObject({ granularity: 'day', total: check });
      expect(daily.buckets).toHaveLength(30);
      expect(used(daily)).toEqual({ '2026-06-14T00:00:00.000Z': 1, '2026-06-15T00:00:00.000Z': 15 });
      expect((await history(other, 'feature=calls')).total).toBe(51);
    } finally {
      server.clock.set(start);
    }
  });

  it('answers an explicit range in whole buckets, with every period in it', async () => {
    const id = await customer();
    await send([event(id, 'call', '2026-05-31T23:10:00Z'), event(id, 'call', '2026-06-01T00:10:00Z')]);
    const answer = await history(
      id,
      'feature=calls&from=2026-05-31T23:30:00Z&to=2026-06-01T00:30:00Z&granularity=hour',
    );
    expect(answer).toMatchObject({
      from: '2026-05-31T23:00:00.000Z',
      to: '2026-06-01T01:00:00.000Z',
      current_period: false,
      total: 2,
    });
    expect(answer.buckets.map((b) => b.usage)).toEqual([1, 1]);
    // Only `from`: up to the end of the current period.
    const since = await history(id, 'feature=calls&from=2026-05-31T00:00:00Z');
    expect(since).toMatchObject({ to: '2026-07-01T00:00:00.000Z', current_period: false, total: 2 });
    expect(since.buckets).toHaveLength(31);
  });

  describe('each aggregation', () => {
    it('sum: adds the property per bucket', async () => {
      const id = await customer();
      await send([
        event(id, 'llm', '2026-06-15T10:05:00Z', { tokens: 100 }),
        event(id, 'llm', '2026-06-15T11:05:00Z', { tokens: 50 }),
        event(id, 'llm', '2026-06-15T11:55:00Z', { tokens: 25.5 }),
      ]);
      const answer = await history(id, 'feature=tokens&granularity=hour');
      expect(used(answer)).toEqual({ '2026-06-15T10:00:00.000Z': 100, '2026-06-15T11:00:00.000Z': 75.5 });
      expect(answer.total).toBe(await usage(id, 'tokens'));
      expect(answer.total).toBe(175.5);
    });

    it('max: the largest reading per bucket, and overall', async () => {
      const id = await customer();
      await send([
        event(id, 'jobs', '2026-06-15T10:10:00Z', { running: 3 }),
        event(id, 'jobs', '2026-06-15T10:50:00Z', { running: 7 }),
        event(id, 'jobs', '2026-06-15T11:20:00Z', { running: 5 }),
      ]);
      await send([event(id, 'jobs', '2026-06-15T10:30:00Z', { running: 6 })]);
      const answer = await history(id, 'feature=peak&granularity=hour');
      expect(answer).toMatchObject({ aggregation: 'max', from: '2026-06-15T00:00:00.000Z', total: 7 });
      expect(answer.buckets).toHaveLength(24);
      expect(used(answer)).toEqual({ '2026-06-15T10:00:00.000Z': 7, '2026-06-15T11:00:00.000Z': 5 });
      expect(answer.total).toBe(await usage(id, 'peak'));
    });

    it('max: consumes and holds raise the level; a release lowers it again', async () => {
      const id = await customer();
      await send([event(id, 'jobs', '2026-06-15T10:10:00Z', { running: 7 })]);
      await post('/v1/consume', { customer: id, feature: 'peak', quantity: 5 });
      const held = await post('/v1/reservations', { customer: id, feature: 'peak', quantity: 10 });
      expect((await history(id, 'feature=peak')).total).toBe(22);
      await post(`/v1/reservations/${held.id}/release`);
      const answer = await history(id, 'feature=peak&granularity=hour');
      expect(answer.total).toBe(await usage(id, 'peak'));
      expect(used(answer)).toEqual({ '2026-06-15T10:00:00.000Z': 7, '2026-06-15T12:00:00.000Z': 12 });
    });

    it('latest: the last reading per bucket, from the first hour of a usage that never resets', async () => {
      const id = await customer();
      await send([
        event(id, 'storage', '2026-06-15T10:40:00Z', { gb: 30 }),
        event(id, 'storage', '2026-06-15T10:10:00Z', { gb: 10 }),
      ]);
      await send([
        event(id, 'storage', '2026-06-15T10:20:00Z', { gb: 20 }), // late: not the last reading of its hour
        event(id, 'storage', '2026-06-15T11:15:00Z', { gb: 25 }),
      ]);
      const answer = await history(id, 'feature=storage&granularity=hour');
      expect(answer).toMatchObject({ from: '2026-06-15T10:00:00.000Z', to: '2026-06-15T13:00:00.000Z' });
      expect(answer.buckets.map((b) => b.usage)).toEqual([30, 25, 0]);
      expect(answer.total).toBe(await usage(id, 'storage'));
      expect(answer.total).toBe(25);
    });

    it('unique_count: each value in the bucket it was first seen in this period', async () => {
      const id = await customer();
      await send([
        event(id, 'login', '2026-06-15T10:10:00Z', { user: 'ann' }),
        event(id, 'login', '2026-06-15T10:20:00Z', { user: 'bob' }),
        event(id, 'login', '2026-06-15T11:10:00Z', { user: 'ann' }),
        event(id, 'login', '2026-06-15T11:30:00Z', { user: 'cid' }),
      ]);
      await send([event(id, 'login', '2026-06-15T12:10:00Z', { user: 'bob' })]);
      await send([event(id, 'login', '2026-05-20T12:10:00Z', { user: 'dan' })]); // last month
      const answer = await history(id, 'feature=users&granularity=hour');
      expect(used(answer)).toEqual({ '2026-06-15T10:00:00.000Z': 2, '2026-06-15T11:00:00.000Z': 1 });
      expect(answer.total).toBe(await usage(id, 'users'));
      expect(answer.total).toBe(3);
    });
  });

  describe('periods', () => {
    it('a rolling window counts only its own minutes, also inside the first hour', async () => {
      const id = await customer();
      // The window at 12:30 is 3 h of one-minute buckets: 09:31 to 12:30.
      await send([
        event(id, 'call', '2026-06-15T09:20:00Z'),
        event(id, 'call', '2026-06-15T09:45:00Z'),
        event(id, 'call', '2026-06-15T11:00:00Z'),
        event(id, 'login', '2026-06-15T09:20:00Z', { user: 'ann' }),
        event(id, 'login', '2026-06-15T09:50:00Z', { user: 'ann' }),
        event(id, 'login', '2026-06-15T11:50:00Z', { user: 'ann' }),
        event(id, 'login', '2026-06-15T11:55:00Z', { user: 'bob' }),
      ]);
      await post('/v1/consume', { customer: id, feature: 'burst', quantity: 2 });
      const window = await history(id, 'feature=burst&granularity=hour');
      expect(window).toMatchObject({ from: '2026-06-15T09:00:00.000Z', current_period: true, total: 4 });
      expect(window.total).toBe(await usage(id, 'burst'));
      expect(window.buckets.slice(0, 4).map((b) => b.usage)).toEqual([1, 0, 1, 2]);
      const users = await history(id, 'feature=burst_users&granularity=hour');
      expect(users.total).toBe(await usage(id, 'burst_users'));
      expect(used(users)).toEqual({ '2026-06-15T09:00:00.000Z': 1, '2026-06-15T11:00:00.000Z': 1 });
      // Asked for the hours themselves, the 09:00 bucket holds both of its events.
      const hours = await history(
        id,
        'feature=burst&from=2026-06-15T09:00:00Z&to=2026-06-15T13:00:00Z&granularity=hour',
      );
      expect(hours).toMatchObject({ current_period: false, total: 5 });
    });

    it('a billing period that starts mid-hour leaves out the usage before it', async () => {
      const id = await customer(); // subscribed at 12:30: the cycle runs 15th 12:30 to 15th 12:30
      await send([event(id, 'call', '2026-06-15T12:10:00Z'), event(id, 'call', '2026-06-15T12:31:00Z')]);
      server.clock.set(start + 3 * 60_000);
      try {
        await post('/v1/consume', { customer: id, feature: 'cycle', quantity: 3 });
        const cycle = await history(id, 'feature=cycle&granularity=hour');
        expect(cycle).toMatchObject({ from: '2026-06-15T12:00:00.000Z', to: '2026-07-15T13:00:00.000Z', total: 4 });
        expect(cycle.total).toBe(await usage(id, 'cycle'));
        expect(used(cycle)).toEqual({ '2026-06-15T12:00:00.000Z': 4 });
      } finally {
        server.clock.set(start);
      }
    });

    it('starts again at a reset, and the previous period stays readable', async () => {
      const id = await customer();
      await send([event(id, 'jobs', '2026-06-15T10:10:00Z', { running: 9 })]);
      server.clock.set(Date.parse('2026-06-16T00:00:00.000Z'));
      try {
        await send([event(id, 'jobs', '2026-06-16T00:00:00Z', { running: 2 })]);
        const today = await history(id, 'feature=peak');
        expect(today).toMatchObject({ from: '2026-06-16T00:00:00.000Z', to: '2026-06-17T00:00:00.000Z', total: 2 });
        expect(today.total).toBe(await usage(id, 'peak'));
        const both = await history(id, 'feature=peak&from=2026-06-15T00:00:00Z&to=2026-06-17T00:00:00Z');
        expect(both.buckets.map((b) => b.usage)).toEqual([9, 2]);
        expect(both.total).toBe(9);
      } finally {
        server.clock.set(start);
      }
    });
  });

  describe('bad requests', () => {
    it.each([
      ['no feature', '', '/querystring/feature'],
      ['an unknown feature', 'feature=nope', '/querystring/feature'],
      ['a malformed feature', 'feature=No%20Such', '/querystring/feature'],
      ['a gauge', 'feature=seats', '/querystring/feature'],
      ['a boolean', 'feature=sso', '/querystring/feature'],
      ['a from that is no time', 'feature=calls&from=yesterday', '/querystring/from'],
      ['a to that is no time', 'feature=calls&to=2026-13-01T00:00:00Z', '/querystring/to'],
      ['to equal to from', 'feature=calls&from=2026-06-15T00:00:00Z&to=2026-06-15T00:00:00Z', '/querystring/to'],
      ['to before from', 'feature=calls&from=2026-06-15T00:00:00Z&to=2026-06-14T00:00:00Z', '/querystring/to'],
      ['a from after the period', 'feature=calls&from=2026-08-01T00:00:00Z', '/querystring/from'],
      ['another granularity', 'feature=calls&granularity=week', '/querystring/granularity'],
      [
        'too many hours',
        'feature=calls&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&granularity=hour',
        '/querystring/to',
      ],
      ['too many days', 'feature=calls&from=2025-01-01T00:00:00Z&to=2026-03-01T00:00:00Z', '/querystring/to'],
      ['an unknown parameter', 'feature=calls&bucket=hour', '/querystring/bucket'],
    ])('%s: 400 naming the field', async (_name, query, path) => {
      const id = await customer();
      expectProblem(await historyResponse(id, query), { status: 400, code: 'validation_failed', path });
    });

    it('404 for an unknown customer', async () => {
      expectProblem(await historyResponse('nobody', 'feature=calls'), { status: 404, code: 'customer_not_found' });
    });

    it('asks for from and to when the customer has no current period for the feature', async () => {
      const { id } = await seedCustomer(server);
      const problem = expectProblem(await historyResponse(id, 'feature=calls'), {
        status: 400,
        code: 'validation_failed',
        path: '/querystring/from',
      });
      expect(problem.errors?.map((e) => e.path)).toEqual(['/querystring/from', '/querystring/to']);
      const explicit = await history(id, 'feature=calls&from=2026-06-01T00:00:00Z&to=2026-06-02T00:00:00Z');
      expect(explicit).toMatchObject({ total: 0, current_period: false });
    });
  });
});
