import type { CustomerEntitlements, Decision, Grant, IngestResult, Reservation } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, grantBody, monthly, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

const start = Date.parse('2026-06-15T12:00:00.000Z');

describeEachDialect('credit pools and one-off credits', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: new Date(start).toISOString() });
    const features = [
      { key: 'credits', name: 'AI credits', type: 'metered', unit: 'credits' },
      {
        key: 'gpt4',
        name: 'GPT-4',
        type: 'metered',
        credit_cost: { pool: 'credits', per_unit: 5 },
        meter: { event_type: 'completion', aggregation: 'count', filter: { model: 'gpt4' } },
      },
      {
        key: 'mini',
        name: 'Mini model',
        type: 'metered',
        credit_cost: { pool: 'credits', per_unit: 1 },
        meter: { event_type: 'completion', aggregation: 'sum', property: 'tokens', filter: { model: 'mini' } },
      },
      { key: 'exports', name: 'Exports', type: 'metered' },
      { key: 'seats', name: 'Seats', type: 'gauge' },
    ];
    for (const body of features) expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    const plans = [
      {
        key: 'starter',
        name: 'Starter',
        price: monthly(1000),
        entitlements: [
          { feature: 'credits', limit: 100, reset: 'month' },
          { feature: 'gpt4', limit: null },
          { feature: 'mini', limit: null },
          { feature: 'exports', limit: 10, reset: 'month' },
        ],
      },
      {
        key: 'minis_only',
        name: 'Minis only',
        price: monthly(500),
        entitlements: [
          { feature: 'credits', limit: 100, reset: 'month' },
          { feature: 'mini', limit: null },
        ],
      },
      {
        key: 'growth',
        name: 'Growth',
        price: monthly(5000),
        entitlements: [
          { feature: 'credits', limit: 1000, reset: 'month' },
          { feature: 'gpt4', limit: null },
          { feature: 'mini', limit: null },
        ],
      },
    ];
    for (const body of plans) {
      expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body }), 201);
      expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${body.key}/publish` }), 200);
    }
  });
  afterAll(() => server.close());

  const post = (url: string, body: Record<string, unknown>) => server.request({ method: 'POST', url, body });
  const check = async (customer: string, feature: string, quantity = 1) =>
    expectStatus<Decision>(await post('/v1/check', { customer, feature, quantity }), 200);
  const consume = async (customer: string, feature: string, quantity = 1) =>
    expectStatus<Decision>(await post('/v1/consume', { customer, feature, quantity }), 200);
  const customer = async (plan = 'starter') => (await seedCustomer(server, { plan })).id;
  const grantCredits = async (id: string, body: Record<string, unknown>) =>
    expectStatus<Grant>(
      await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'credits', mode: 'credit', ...body })),
      201,
    );
  const pool = { pool: 'credits', per_unit: 5 };

  it('checks a pool-drawing feature against the pool, in credits, and consumes quantity × per_unit', async () => {
    const id = await customer();
    expect(await check(id, 'gpt4', 3)).toMatchObject({
      feature: 'gpt4',
      allowed: true,
      reason: 'entitled',
      type: 'metered',
      limit: 100,
      usage: 0,
      balance: 100,
      resets_at: '2026-07-01T00:00:00.000Z',
      credit_cost: pool,
    });
    expect(await consume(id, 'gpt4', 3)).toMatchObject({ allowed: true, usage: 15, balance: 85, credit_cost: pool });
    expect(await check(id, 'credits', 0)).toMatchObject({ usage: 15, balance: 85, credit_cost: null });
    expect(await check(id, 'gpt4', 17)).toMatchObject({ allowed: true, balance: 85 });
    expect(await check(id, 'gpt4', 18)).toMatchObject({
      allowed: false,
      reason: 'limit_reached',
      usage: 15,
      balance: 85,
      upgrade: { plans: [expect.objectContaining({ key: 'growth' })] },
    });
    expect(await consume(id, 'gpt4', 18)).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 15 });
    expect(await check(id, 'credits', 0)).toMatchObject({ usage: 15 });
  });

  it('lets two features draw one pool, and reports it in the entitlements snapshot', async () => {
    const id = await customer();
    expect(await consume(id, 'gpt4', 10)).toMatchObject({ allowed: true, usage: 50 });
    expect(await consume(id, 'mini', 45)).toMatchObject({ allowed: true, usage: 95, balance: 5 });
    expect(await consume(id, 'gpt4', 1)).toMatchObject({ allowed: true, usage: 100, balance: 0 });
    expect(await consume(id, 'mini', 1)).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 100 });
    const snapshot = expectStatus<CustomerEntitlements>(
      await server.request({ method: 'GET', url: `/v1/customers/${id}/entitlements` }),
      200,
    );
    const byFeature = Object.fromEntries(snapshot.entitlements.map((e) => [e.feature, e]));
    expect(byFeature.gpt4).toMatchObject({ usage: 100, balance: 0, limit: 100, credit_cost: pool });
    expect(byFeature.credits).toMatchObject({ usage: 100, balance: 0, credit_cost: null });
  });

  it('still gates the feature itself: a plan without it says no_entitlement and draws nothing', async () => {
    const id = await customer('minis_only');
    expect(await consume(id, 'gpt4')).toMatchObject({
      allowed: false,
      reason: 'no_entitlement',
      credit_cost: pool,
      upgrade: { plans: [expect.objectContaining({ key: 'starter' }), expect.objectContaining({ key: 'growth' })] },
    });
    expect(await check(id, 'credits', 0)).toMatchObject({ usage: 0 });
  });

  it('never over-grants a small pool under many concurrent consumes', async () => {
    const id = await customer();
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => consume(id, i % 3 === 0 ? 'mini' : 'gpt4', i % 3 === 0 ? 3 : 1)),
    );
    const spent = answers.filter((a) => a.allowed).reduce((sum, a) => sum + (a.feature === 'mini' ? 3 : 5), 0);
    const usage = (await check(id, 'credits', 0)).usage;
    expect(usage).toBe(spent);
    expect(usage).toBeLessThanOrEqual(100);
    expect(usage).toBeGreaterThan(95);
  });

  it('holds credits for a reservation and gives them back on release', async () => {
    const id = await customer();
    const held = expectStatus<Reservation>(
      await post('/v1/reservations', { customer: id, feature: 'gpt4', quantity: 10 }),
      201,
    );
    expect(held.decision).toMatchObject({ allowed: true, usage: 50, balance: 50, credit_cost: pool });
    expect(await check(id, 'credits', 0)).toMatchObject({ usage: 50 });
    const committed = expectStatus<Reservation>(await post(`/v1/reservations/${held.id}/commit`, { quantity: 4 }), 200);
    expect(committed.decision).toMatchObject({ usage: 20, credit_cost: pool });
    expect(await check(id, 'credits', 0)).toMatchObject({ usage: 20 });
  });

  it('adds amount × per_unit to the pool for events feeding a pool-drawing meter', async () => {
    const id = await customer();
    const event = (model: string, properties: Record<string, unknown> = {}) => ({
      id: uniqueKey('evt'),
      customer: id,
      type: 'completion',
      properties: { model, ...properties },
    });
    const ingested = expectStatus<IngestResult>(
      await post('/v1/events', { events: [event('gpt4'), event('gpt4'), event('mini', { tokens: 7 })] }),
      200,
    );
    expect(ingested.accepted).toBe(3);
    expect(await check(id, 'credits', 0)).toMatchObject({ usage: 17, balance: 83 });
    expect(await check(id, 'gpt4', 0)).toMatchObject({ usage: 17, credit_cost: pool });
  });

  it('refuses credit grants that cannot be one-off credits, naming the field', async () => {
    const id = await customer();
    expectProblem(await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'gpt4', mode: 'credit', limit: 5 })), {
      status: 400,
      code: 'validation_failed',
      path: '/feature',
    });
    expectProblem(await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'seats', mode: 'credit', limit: 5 })), {
      status: 400,
      code: 'validation_failed',
      path: '/mode',
    });
    expectProblem(await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'credits', mode: 'credit' })), {
      status: 400,
      code: 'validation_failed',
      path: '/limit',
    });
  });

  it('refuses a pool that draws from a pool', async () => {
    expectProblem(
      await post('/v1/features', {
        key: 'nested',
        name: 'Nested',
        type: 'metered',
        credit_cost: { pool: 'gpt4', per_unit: 1 },
      }),
      { status: 400, code: 'validation_failed', path: '/credit_cost/pool' },
    );
  });

  it('draws concurrent consumes exactly from the allowance, then the credits, never beyond', async () => {
    const id = await customer();
    await grantCredits(id, { limit: 23 });
    const answers = await Promise.all(Array.from({ length: 40 }, () => consume(id, 'gpt4', 1)));
    // 100 allowance + 23 credits = 123 credits = 24 calls at 5 (120), 3 credits left.
    expect(answers.filter((a) => a.allowed)).toHaveLength(24);
    expect(await check(id, 'credits', 0)).toMatchObject({ usage: 120, balance: 3 });
    const grants = expectStatus<{ data: Grant[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${id}/grants` }),
      200,
    );
    expect(grants.data[0]).toMatchObject({ mode: 'credit', limit: 23, remaining: 3 });
  });

  describe('usage history of a pool', () => {
    interface History {
      feature: string;
      current_period: boolean;
      total: number;
      buckets: { start: string; usage: number }[];
    }
    const history = async (id: string, query: string) =>
      expectStatus<History>(await server.request({ method: 'GET', url: `/v1/customers/${id}/usage?${query}` }), 200);
    /** The pool's hourly history this period, and check's usage of the pool: they must agree. */
    const poolFigures = async (id: string) => {
      const hours = await history(id, 'feature=credits&granularity=hour');
      const summed = hours.buckets.reduce((sum, bucket) => sum + bucket.usage, 0);
      const checked = await check(id, 'credits', 0);
      return { total: hours.total, summed, usage: checked.usage, currentPeriod: hours.current_period };
    };

    it('adds up to the pool usage check reports after consumes of two drawing features', async () => {
      const id = await customer();
      try {
        expect(await consume(id, 'gpt4', 3)).toMatchObject({ allowed: true, usage: 15 });
        server.clock.set(start + 2 * 3_600_000);
        expect(await consume(id, 'mini', 7)).toMatchObject({ allowed: true, usage: 22 });
        expect(await consume(id, 'gpt4', 2)).toMatchObject({ allowed: true, usage: 32 });
        // Refused: nothing recorded, in the counter or its history.
        expect(await consume(id, 'gpt4', 100)).toMatchObject({ allowed: false, usage: 32 });
        expect(await poolFigures(id)).toEqual({ total: 32, summed: 32, usage: 32, currentPeriod: true });
        const hours = await history(id, 'feature=credits&granularity=hour');
        const used = hours.buckets.filter((bucket) => bucket.usage !== 0);
        expect(used).toEqual([
          expect.objectContaining({ start: '2026-06-15T12:00:00.000Z', usage: 15 }),
          expect.objectContaining({ start: '2026-06-15T14:00:00.000Z', usage: 17 }),
        ]);
        // A drawing feature keeps no history of its own to ask for: its usage is the pool's.
        await expectProblem(await server.request({ method: 'GET', url: `/v1/customers/${id}/usage?feature=gpt4` }), {
          status: 400,
          code: 'validation_failed',
          path: '/querystring/feature',
          detail: /draws from the credit pool "credits"/,
        });
      } finally {
        server.clock.set(start);
      }
    });

    it('stays in step through holds, events and one-off credits drawn and refilled', async () => {
      const id = await customer();
      const credit = await grantCredits(id, { limit: 50 });
      const completion = (model: string, properties: Record<string, unknown> = {}) => ({
        id: uniqueKey('evt'),
        customer: id,
        type: 'completion',
        properties: { model, ...properties },
      });
      // Events of both drawing features: 2 × 5 + 60 = 70 credits.
      expectStatus<IngestResult>(
        await post('/v1/events', {
          events: [completion('gpt4'), completion('gpt4'), completion('mini', { tokens: 60 })],
        }),
        200,
      );
      expect(await poolFigures(id)).toMatchObject({ total: 70, summed: 70, usage: 70 });
      // A hold of 8 × 5 = 40 takes the pool past its allowance of 100 (10 credits drawn) ...
      const held = expectStatus<Reservation>(
        await post('/v1/reservations', { customer: id, feature: 'gpt4', quantity: 8 }),
        201,
      );
      expect(await poolFigures(id)).toMatchObject({ total: 110, summed: 110, usage: 110 });
      // ... committed for 3 (15 credits): back under the allowance, the credits refilled.
      expectStatus(await post(`/v1/reservations/${held.id}/commit`, { quantity: 3 }), 200);
      expect(await poolFigures(id)).toMatchObject({ total: 85, summed: 85, usage: 85 });
      const released = expectStatus<Reservation>(
        await post('/v1/reservations', { customer: id, feature: 'mini', quantity: 30 }),
        201,
      );
      expectStatus(await post(`/v1/reservations/${released.id}/release`, {}), 200);
      // Past the allowance with a consume: 85 + 40 = 125, 25 credits drawn.
      expect(await consume(id, 'mini', 40)).toMatchObject({ allowed: true, usage: 125 });
      // More events past the allowance, drawn from the credits too: 125 + 5 = 130.
      expectStatus<IngestResult>(await post('/v1/events', { events: [completion('gpt4')] }), 200);
      expect(await poolFigures(id)).toMatchObject({ total: 130, summed: 130, usage: 130 });
      const grants = expectStatus<{ data: Grant[] }>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/grants` }),
        200,
      );
      expect(grants.data.find((g) => g.id === credit.id)).toMatchObject({ remaining: 20 });
    });
  });

  describe('one-off credits over time', () => {
    it('are used after the plan allowance, survive the monthly reset, then expire', async () => {
      const id = await customer();
      const soon = await grantCredits(id, { limit: 30, expires_at: '2026-07-10T00:00:00.000Z' });
      const never = await grantCredits(id, { limit: 20 });
      expect(soon).toMatchObject({ mode: 'credit', remaining: 30 });
      expect(await check(id, 'credits', 0)).toMatchObject({ limit: 100, usage: 0, balance: 150 });

      // 120 credits: the 100 of the allowance first, then 20 from the grant expiring soonest.
      expect(await consume(id, 'mini', 120)).toMatchObject({ allowed: true, usage: 120, balance: 30 });
      const remaining = async () => {
        const list = expectStatus<{ data: Grant[] }>(
          await server.request({ method: 'GET', url: `/v1/customers/${id}/grants` }),
          200,
        );
        return Object.fromEntries(list.data.map((g) => [g.id, g.remaining]));
      };
      expect(await remaining()).toEqual({ [soon.id]: 10, [never.id]: 20 });
      expect(await check(id, 'mini', 31)).toMatchObject({ allowed: false, reason: 'limit_reached', balance: 30 });
      expect(await check(id, 'mini', 30)).toMatchObject({ allowed: true });

      try {
        // The allowance resets on 1 July; what is left of the credits does not refill, nor vanish.
        server.clock.set(Date.parse('2026-07-01T00:00:01.000Z'));
        expect(await check(id, 'credits', 0)).toMatchObject({ usage: 0, balance: 130 });
        expect(await consume(id, 'gpt4', 21)).toMatchObject({ allowed: true, usage: 105, balance: 25 });
        expect(await remaining()).toEqual({ [soon.id]: 5, [never.id]: 20 });

        // The first grant expires on 10 July with 5 credits unused: only the never-expiring 20 stay.
        server.clock.set(Date.parse('2026-07-10T00:00:01.000Z'));
        expect(await check(id, 'credits', 0)).toMatchObject({ usage: 105, balance: 20 });
        expect(await check(id, 'gpt4', 5)).toMatchObject({ allowed: false, reason: 'limit_reached' });
        expect(await consume(id, 'gpt4', 4)).toMatchObject({ allowed: true, usage: 125, balance: 0 });
        expect((await remaining())[never.id]).toBe(0);
      } finally {
        server.clock.set(start);
      }
    });

    it('are drawn by metered events past the allowance too, and refilled when a hold is released', async () => {
      const id = await customer();
      const credit = await grantCredits(id, { limit: 50 });
      const events = [
        { id: uniqueKey('evt'), customer: id, type: 'completion', properties: { model: 'mini', tokens: 110 } },
      ];
      expectStatus<IngestResult>(await post('/v1/events', { events }), 200);
      expect(await check(id, 'credits', 0)).toMatchObject({ usage: 110, balance: 40 });
      const held = expectStatus<Reservation>(
        await post('/v1/reservations', { customer: id, feature: 'gpt4', quantity: 8 }),
        201,
      );
      expect(held.decision).toMatchObject({ usage: 150, balance: 0 });
      expect(await check(id, 'mini', 1)).toMatchObject({ allowed: false });
      expectStatus(await post(`/v1/reservations/${held.id}/release`, {}), 200);
      expect(await check(id, 'credits', 0)).toMatchObject({ usage: 110, balance: 40 });
      const grant = expectStatus<{ data: Grant[] }>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/grants` }),
        200,
      );
      expect(grant.data.find((g) => g.id === credit.id)).toMatchObject({ remaining: 40 });
    });
  });
});
