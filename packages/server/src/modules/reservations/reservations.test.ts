import type { Decision, Reservation } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

describeEachDialect('reservations', (dialect) => {
  let server: TestServer;
  const start = Date.parse('2026-06-15T12:00:00.000Z');
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: new Date(start).toISOString() });
    for (const body of [
      { key: 'tokens', name: 'Tokens', type: 'metered' },
      { key: 'sso', name: 'SSO', type: 'boolean' },
    ]) {
      expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    }
    const plan = {
      key: 'ai',
      name: 'AI',
      entitlements: [{ feature: 'tokens', limit: 100, reset: 'month' }, { feature: 'sso' }],
    };
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: plan }), 201);
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans/ai/publish' }), 200);
  });
  afterAll(() => server.close());

  const hold = (customer: string, quantity: number, ttl_seconds?: number) =>
    server.request({
      method: 'POST',
      url: '/v1/reservations',
      body: { customer, feature: 'tokens', quantity, ...(ttl_seconds ? { ttl_seconds } : {}) },
    });
  const usage = async (customer: string) =>
    expectStatus<Decision>(
      await server.request({ method: 'POST', url: '/v1/check', body: { customer, feature: 'tokens', quantity: 0 } }),
      200,
    ).usage;
  const customer = async () => (await seedCustomer(server, { plan: 'ai' })).id;

  it('holds units against the limit, then commits the actual quantity', async () => {
    const id = await customer();
    const held = expectStatus<Reservation>(await hold(id, 60), 201);
    expect(held).toMatchObject({ status: 'held', quantity: 60, decision: { allowed: true, usage: 60, balance: 40 } });
    expect(held.expires_at).toBe('2026-06-15T12:05:00.000Z');
    expect(await usage(id)).toBe(60);
    expect(expectStatus<Reservation>(await hold(id, 50), 200)).toMatchObject({
      id: null,
      status: 'refused',
      decision: { allowed: false, reason: 'limit_reached', usage: 60 },
    });
    const committed = expectStatus<Reservation>(
      await server.request({ method: 'POST', url: `/v1/reservations/${held.id}/commit`, body: { quantity: 45 } }),
      200,
    );
    expect(committed).toMatchObject({ status: 'committed', committed_quantity: 45, decision: { usage: 45 } });
    expect(await usage(id)).toBe(45);
    expectProblem(await server.request({ method: 'POST', url: `/v1/reservations/${held.id}/commit`, body: {} }), {
      status: 409,
      code: 'conflict',
    });
  });

  it('gives the units back on release, and on expiry when nobody settles it', async () => {
    const id = await customer();
    const released = expectStatus<Reservation>(await hold(id, 30), 201);
    expectStatus(await server.request({ method: 'POST', url: `/v1/reservations/${released.id}/release` }), 200);
    expect(await usage(id)).toBe(0);
    const forgotten = expectStatus<Reservation>(await hold(id, 70, 60), 201);
    expect(await usage(id)).toBe(70);
    server.clock.advance(61_000);
    try {
      expect(await server.keymaster.services.reservations.expireDue()).toBeGreaterThanOrEqual(1);
      // The sweeper answers no request: checks see its write when the change feed is next read.
      const deadline = Date.now() + 2000;
      while ((await usage(id)) !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await usage(id)).toBe(0);
      expectProblem(
        await server.request({ method: 'POST', url: `/v1/reservations/${forgotten.id}/commit`, body: {} }),
        {
          status: 409,
          code: 'conflict',
        },
      );
    } finally {
      server.clock.set(start);
    }
  });

  it('never over-grants holds raced concurrently', async () => {
    const id = await customer();
    const answers = await Promise.all(Array.from({ length: 40 }, () => hold(id, 10)));
    expect(answers.filter((a) => a.statusCode === 201)).toHaveLength(10);
    expect(await usage(id)).toBe(100);
  });

  it.each([
    ['a boolean feature', { feature: 'sso', quantity: 1 }, '/feature'],
    ['a zero quantity', { feature: 'tokens', quantity: 0 }, '/quantity'],
    ['a ttl of a week', { feature: 'tokens', quantity: 1, ttl_seconds: 604_800 }, '/ttl_seconds'],
  ])('refuses %s with 400 naming the field', async (_name, body, path) => {
    const id = await customer();
    expectProblem(await server.request({ method: 'POST', url: '/v1/reservations', body: { customer: id, ...body } }), {
      status: 400,
      code: 'validation_failed',
      path,
    });
  });

  it('answers 404 for an unknown reservation', async () => {
    expectProblem(await server.request({ method: 'POST', url: '/v1/reservations/rsv_nope/release' }), {
      status: 404,
      code: 'not_found',
    });
  });
});
