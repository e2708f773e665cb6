import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firedAlerts } from '../../test-support/alerts.js';
import { expectStatus, publishCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

// Alerts on the paths other than consume and events: reservations, gauges, grants, refused checks.
describeEachDialect('alert rules on reservations, gauges, grants and checks', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: '2026-06-15T12:00:00.000Z' });
    await publishCatalog(server, {
      features: [
        { key: 'tokens', name: 'Tokens', type: 'metered' },
        { key: 'seats', name: 'Seats', type: 'gauge' },
      ],
      plans: [
        {
          key: 'team',
          name: 'Team',
          entitlements: [
            { feature: 'tokens', limit: 100, reset: 'month' },
            { feature: 'seats', limit: 10 },
          ],
        },
      ],
    });
  });
  afterAll(() => server.close());

  const rule = async (body: Record<string, unknown>) =>
    expectStatus<{ id: string }>(await server.request({ method: 'POST', url: '/v1/alert-rules', body }), 201).id;
  const fired = (customer: string) => firedAlerts(server, customer);

  describe('reservations', () => {
    const hold = async (customer: string, quantity: number) =>
      expectStatus<{ id: string }>(
        await server.request({
          method: 'POST',
          url: '/v1/reservations',
          body: { customer, feature: 'tokens', quantity },
        }),
        201,
      ).id;
    const commit = async (id: string, quantity: number) =>
      expectStatus(
        await server.request({ method: 'POST', url: `/v1/reservations/${id}/commit`, body: { quantity } }),
        200,
      );

    it('fires once when a commit takes usage past a threshold the hold did not reach', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      const eighty = await rule({ feature: 'tokens', type: 'percent', value: 80, customer: id });
      await commit(await hold(id, 50), 60);
      expect(await fired(id)).toEqual([]);
      await commit(await hold(id, 10), 25);
      expect(await fired(id)).toMatchObject([
        {
          event: 'usage.threshold_reached',
          rule: eighty,
          usage: 85,
          limit: 100,
          period_start: '2026-06-01T00:00:00.000Z',
        },
      ]);
      await commit(await hold(id, 5), 5);
      expect(await fired(id)).toHaveLength(1);
    });

    it('fires when the hold itself crosses, and not again at its commit', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      const fifty = await rule({ feature: 'tokens', type: 'units', value: 50, customer: id });
      const held = await hold(id, 60);
      expect(await fired(id)).toMatchObject([{ event: 'usage.threshold_reached', rule: fifty, usage: 60 }]);
      await commit(held, 70);
      expect(await fired(id)).toHaveLength(1);
    });

    it('fires the limit once when a commit reaches it, not again when a hold is then refused', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      await commit(await hold(id, 50), 100);
      const refused = await server.request({
        method: 'POST',
        url: '/v1/reservations',
        body: { customer: id, feature: 'tokens', quantity: 1 },
      });
      expect(expectStatus(refused, 200)).toMatchObject({ status: 'refused' });
      expect(await fired(id)).toMatchObject([{ event: 'usage.limit_reached', usage: 100, limit: 100 }]);
    });
    it('fires the limit, refused, when a hold is refused before usage reached it', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      await commit(await hold(id, 95), 95);
      const refused = await server.request({
        method: 'POST',
        url: '/v1/reservations',
        body: { customer: id, feature: 'tokens', quantity: 10 },
      });
      expect(expectStatus(refused, 200)).toMatchObject({ status: 'refused' });
      expect(await fired(id)).toMatchObject([{ event: 'usage.limit_reached', usage: 95, limit: 100, refused: true }]);
    });
  });

  describe('gauges', () => {
    const record = async (customer: string, body: Record<string, unknown>) =>
      expectStatus(
        await server.request({
          method: 'POST',
          url: `/v1/customers/${customer}/usage`,
          body: { feature: 'seats', ...body },
        }),
        200,
      );

    it('fires once per crossing: repeated levels above do not fire, a drop below re-arms', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      const eight = await rule({ feature: 'seats', type: 'units', value: 8, customer: id });
      await record(id, { set: 7 });
      expect(await fired(id)).toEqual([]);
      await record(id, { set: 8 });
      await record(id, { set: 9 });
      await record(id, { delta: -1 });
      expect(await fired(id)).toMatchObject([
        {
          event: 'usage.threshold_reached',
          rule: eight,
          usage: 8,
          limit: 10,
          period_start: '1970-01-01T00:00:00.000Z',
        },
      ]);
      await record(id, { delta: -2 }); // 6: below, re-armed
      expect(await fired(id)).toHaveLength(1);
      await record(id, { delta: 3 }); // 9: crosses again
      await record(id, { set: 9 });
      expect((await fired(id)).map((e) => [e.rule, e.usage])).toEqual([
        [eight, 8],
        [eight, 9],
      ]);
    });

    it('fires the limit at the cap and again after the level dropped below it', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      await record(id, { set: 10 });
      await record(id, { set: 12 });
      await record(id, { set: 3 });
      await record(id, { set: 11 });
      expect((await fired(id)).map((e) => [e.event, e.usage])).toEqual([
        ['usage.limit_reached', 10],
        ['usage.limit_reached', 11],
      ]);
    });
  });

  describe('grants that move the limit', () => {
    const consume = async (customer: string, quantity: number) =>
      expectStatus(
        await server.request({ method: 'POST', url: '/v1/consume', body: { customer, feature: 'tokens', quantity } }),
        200,
      );
    const grant = async (customer: string, body: Record<string, unknown>) =>
      expectStatus<{ id: string }>(
        await server.request({
          method: 'POST',
          url: `/v1/customers/${customer}/grants`,
          body: { feature: 'tokens', reason: 'Support', ...body },
        }),
        201,
      ).id;
    const revoke = async (id: string) =>
      expect((await server.request({ method: 'DELETE', url: `/v1/grants/${id}` })).statusCode).toBe(200);

    it('fires when a revoked grant leaves the usage past a threshold, once', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      const eighty = await rule({ feature: 'tokens', type: 'percent', value: 80, customer: id });
      const bigger = await grant(id, { limit: 200 });
      await consume(id, 90); // 45% of 200
      expect(await fired(id)).toEqual([]);
      await revoke(bigger); // 90% of 100, without a unit used
      expect(await fired(id)).toMatchObject([
        {
          event: 'usage.threshold_reached',
          rule: eighty,
          usage: 90,
          limit: 100,
          period_start: '2026-06-01T00:00:00.000Z',
        },
      ]);
      await consume(id, 1);
      expect(await fired(id)).toHaveLength(1);
    });

    it('fires the limit when a lower override puts the balance at 0', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      await consume(id, 60);
      await grant(id, { limit: 50 });
      expect(await fired(id)).toMatchObject([{ event: 'usage.limit_reached', usage: 60, limit: 50, refused: false }]);
    });

    it('fires nothing when a grant raises the limit', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      await rule({ feature: 'tokens', type: 'percent', value: 80, customer: id });
      await consume(id, 70);
      await grant(id, { limit: 1000 });
      expect(await fired(id)).toEqual([]);
    });
  });

  describe('refused checks', () => {
    const checkTokens = async (customer: string, quantity: number) =>
      expectStatus<{ allowed: boolean; reason: string }>(
        await server.request({ method: 'POST', url: '/v1/check', body: { customer, feature: 'tokens', quantity } }),
        200,
      );

    it('fires the limit once when a check is first refused for it, and never for an allowed one', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      expectStatus(
        await server.request({
          method: 'POST',
          url: '/v1/consume',
          body: { customer: id, feature: 'tokens', quantity: 95 },
        }),
        200,
      );
      expect(await checkTokens(id, 5)).toMatchObject({ allowed: true });
      expect(await fired(id)).toEqual([]);
      for (let i = 0; i < 3; i++)
        expect(await checkTokens(id, 10)).toMatchObject({ allowed: false, reason: 'limit_reached' });
      await Promise.all(Array.from({ length: 10 }, () => checkTokens(id, 10)));
      expect(await fired(id)).toMatchObject([{ event: 'usage.limit_reached', usage: 95, limit: 100, refused: true }]);
    });
  });
});
