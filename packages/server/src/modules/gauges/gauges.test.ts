import type { Decision, GaugeLevel } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { storedState } from '../../test-support/stored-state.js';

describeEachDialect('gauges: POST /v1/customers/{id}/usage', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server); // pro: 10 seats
  });
  afterAll(() => server.close());

  const record = (id: string, body: Record<string, unknown>) =>
    server.request({ method: 'POST', url: `/v1/customers/${id}/usage`, body });
  const check = async (customer: string, quantity: number) =>
    expectStatus<Decision>(
      await server.request({ method: 'POST', url: '/v1/check', body: { customer, feature: 'seats', quantity } }),
      200,
    );

  it('sets and adjusts the level, and checks ask against the cap', async () => {
    const { id } = await seedCustomer(server, { plan: 'pro' });
    expect(expectStatus<GaugeLevel>(await record(id, { feature: 'seats', set: 8 }), 200)).toEqual({
      customer: id,
      feature: 'seats',
      usage: 8,
    });
    expect(await check(id, 2)).toMatchObject({ allowed: true, usage: 8, balance: 2, limit: 10 });
    expect(await check(id, 3)).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 8 });
    expect(expectStatus<GaugeLevel>(await record(id, { feature: 'seats', delta: 2 }), 200).usage).toBe(10);
    expect(await check(id, 1)).toMatchObject({ allowed: false, reason: 'limit_reached', balance: 0 });
    expect(expectStatus<GaugeLevel>(await record(id, { feature: 'seats', delta: -3 }), 200).usage).toBe(7);
    expect(await check(id, 3)).toMatchObject({ allowed: true, usage: 7 });
  });

  it('records a level above the cap (nothing is deleted) and then refuses more', async () => {
    const { id } = await seedCustomer(server, { plan: 'pro' });
    expectStatus(await record(id, { feature: 'seats', set: 12 }), 200);
    expect(await check(id, 0)).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 12, balance: 0 });
  });

  it('composes concurrent adjustments without losing any', async () => {
    const { id } = await seedCustomer(server, { plan: 'pro' });
    await Promise.all(Array.from({ length: 20 }, () => record(id, { feature: 'seats', delta: 1 })));
    expect(await check(id, 0)).toMatchObject({ usage: 20 });
  });

  it.each([
    ['neither set nor delta', { feature: 'seats' }, '/set'],
    ['both set and delta', { feature: 'seats', set: 1, delta: 1 }, '/set'],
    ['a negative set', { feature: 'seats', set: -1 }, '/set'],
    ['a metered feature', { feature: 'api_calls', set: 1 }, '/feature'],
    ['an unknown feature', { feature: 'nope', set: 1 }, '/feature'],
    ['a level below zero', { feature: 'seats', delta: -1 }, '/delta'],
  ])('refuses %s with 400 naming the field, changing nothing', async (_name, body, path) => {
    const { id } = await seedCustomer(server, { plan: 'pro' });
    const before = await storedState(server);
    expectProblem(await record(id, body), { status: 400, code: 'validation_failed', path });
    expect(await storedState(server)).toEqual(before);
  });

  it('answers 404 for an unknown customer', async () => {
    expectProblem(await record('nobody', { feature: 'seats', set: 1 }), { status: 404, code: 'customer_not_found' });
  });
});
