import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firedAlerts } from '../../test-support/alerts.js';
import { expectStatus, publishCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

describeEachDialect('alert rules', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: '2026-06-15T12:00:00.000Z' });
    await publishCatalog(server, {
      features: [
        { key: 'calls', name: 'Calls', type: 'metered' },
        { key: 'seats', name: 'Seats', type: 'gauge' },
        { key: 'sso', name: 'SSO', type: 'boolean' },
        { key: 'uploads', name: 'Uploads', type: 'metered', meter: { event_type: 'upload', aggregation: 'count' } },
      ],
      plans: [
        {
          key: 'team',
          name: 'Team',
          entitlements: [
            { feature: 'calls', limit: 100, reset: 'month' },
            { feature: 'seats', limit: 10 },
            { feature: 'uploads', limit: 10, reset: 'month' },
            { feature: 'sso' },
          ],
        },
        { key: 'solo', name: 'Solo', entitlements: [{ feature: 'calls', limit: 100, reset: 'month' }] },
      ],
    });
  });
  afterAll(() => server.close());

  const createRule = (body: Record<string, unknown>) =>
    server.request({ method: 'POST', url: '/v1/alert-rules', body });
  const rule = async (body: Record<string, unknown>) => expectStatus<{ id: string }>(await createRule(body), 201).id;
  const consume = async (customer: string, quantity: number, feature = 'calls') =>
    expectStatus<{ allowed: boolean }>(
      await server.request({ method: 'POST', url: '/v1/consume', body: { customer, feature, quantity } }),
      200,
    );
  const fired = (customer: string) => firedAlerts(server, customer);

  describe('the API', () => {
    it('creates, lists and deletes rules', async () => {
      const id = await rule({ feature: 'calls', type: 'units', value: 7, plan: 'solo' });
      const page = expectStatus<{ data: { id: string }[] }>(
        await server.request({ method: 'GET', url: '/v1/alert-rules?feature=calls&limit=100' }),
        200,
      );
      expect(page.data.map((r) => r.id)).toContain(id);
      expect(expectStatus(await server.request({ method: 'DELETE', url: `/v1/alert-rules/${id}` }), 200)).toMatchObject(
        {
          id,
          feature: 'calls',
          type: 'units',
          value: 7,
          plan: 'solo',
          customer: null,
        },
      );
      expectProblem(await server.request({ method: 'DELETE', url: `/v1/alert-rules/${id}` }), {
        status: 404,
        code: 'alert_rule_not_found',
      });
    });

    it('answers 400 naming the field for bad input', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ feature: 'nope', type: 'percent', value: 80 }, '/feature'],
        [{ feature: 'sso', type: 'percent', value: 80 }, '/feature'],
        [{ feature: 'calls', type: 'percent', value: 1001 }, '/value'],
        [{ feature: 'calls', type: 'percent', value: 0 }, '/value'],
        [{ feature: 'calls', type: 'percent', value: 80, plan: 'nope' }, '/plan'],
        [{ feature: 'calls', type: 'percent', value: 80, customer: 'nobody' }, '/customer'],
        [{ feature: 'calls', type: 'sometimes', value: 80 }, '/type'],
      ];
      for (const [body, path] of cases) {
        const problem = expectStatus<{ errors: { path: string }[] }>(await createRule(body), 400);
        expect(problem.errors.map((e) => e.path)).toContain(path);
      }
    });
  });

  describe('firing on consume', () => {
    it('fires once per rule and period, the limit once, and re-arms next month', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      const eighty = await rule({ feature: 'calls', type: 'percent', value: 80, customer: id });
      await consume(id, 79);
      expect(await fired(id)).toEqual([]);
      await consume(id, 1);
      await consume(id, 10);
      await consume(id, 10);
      await consume(id, 1); // refused: the limit is already reached
      const june = await fired(id);
      expect(june).toMatchObject([
        {
          event: 'usage.threshold_reached',
          customer: id,
          rule: eighty,
          usage: 80,
          limit: 100,
          period_start: '2026-06-01T00:00:00.000Z',
        },
        { event: 'usage.limit_reached', customer: id, usage: 100, limit: 100 },
      ]);
      server.clock.set(Date.parse('2026-07-02T00:00:00.000Z'));
      await consume(id, 85);
      expect((await fired(id)).slice(2)).toMatchObject([
        { event: 'usage.threshold_reached', rule: eighty, usage: 85, period_start: '2026-07-01T00:00:00.000Z' },
      ]);
      server.clock.set(Date.parse('2026-06-15T12:00:00.000Z'));
    });

    it('fires the limit once for each of many customers consuming at once, and nothing short of it', async () => {
      const ids = await Promise.all(
        Array.from({ length: 8 }, async () => (await seedCustomer(server, { plan: 'team' })).id),
      );
      const all = async (quantity: number) => Promise.all(ids.map((id) => consume(id, quantity)));
      // Each customer's consume arrives with everyone else's, decided together.
      expect((await all(90)).every((answer) => answer.allowed)).toBe(true);
      expect((await all(9)).every((answer) => answer.allowed)).toBe(true);
      for (const id of ids) expect(await fired(id)).toEqual([]);
      // Each reaches its limit of 100 exactly: the limit fires, once, however the consumes were batched.
      expect((await all(1)).every((answer) => answer.allowed)).toBe(true);
      const limitReached = (id: string) => [{ event: 'usage.limit_reached', customer: id, usage: 100, limit: 100 }];
      for (const id of ids) expect(await fired(id)).toMatchObject(limitReached(id));
      // Refused now: that reaches the limit too, which has fired already.
      expect((await all(1)).some((answer) => answer.allowed)).toBe(false);
      for (const id of ids) expect(await fired(id)).toMatchObject(limitReached(id));
    });

    it("lets a customer's rule override its plan's", async () => {
      const planRule = await rule({ feature: 'calls', type: 'units', value: 5, plan: 'solo' });
      const { id: plain } = await seedCustomer(server, { plan: 'solo' });
      const { id: own } = await seedCustomer(server, { plan: 'solo' });
      const ownRule = await rule({ feature: 'calls', type: 'units', value: 50, customer: own });
      await consume(plain, 10);
      await consume(own, 10);
      expect((await fired(plain)).map((e) => e.rule)).toEqual([planRule]);
      expect(await fired(own)).toEqual([]);
      await consume(own, 40);
      expect((await fired(own)).map((e) => e.rule)).toEqual([ownRule]);
      await server.request({ method: 'DELETE', url: `/v1/alert-rules/${planRule}` });
    });

    it('fires a forecast when the month is on course to reach it', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      const forecast = await rule({ feature: 'calls', type: 'forecast_percent', value: 90, customer: id });
      // 15 June 12:00 is 14.5 of 30 days: 40 projects to 82.8, 44 to 91.
      await consume(id, 40);
      expect(await fired(id)).toEqual([]);
      await consume(id, 4);
      expect(await fired(id)).toMatchObject([{ event: 'usage.threshold_reached', rule: forecast, usage: 44 }]);
    });
  });

  describe('firing on ingested events', () => {
    let sent = 0;
    const upload = async (customer: string, n: number) => {
      const events = Array.from({ length: n }, () => ({ id: `up-${sent++}`, customer, type: 'upload' }));
      expectStatus(await server.request({ method: 'POST', url: '/v1/events', body: { events } }), 200);
    };

    it('fires a rule once however many batches pass it, and the limit once', async () => {
      const { id } = await seedCustomer(server, { plan: 'team' });
      const five = await rule({ feature: 'uploads', type: 'units', value: 5, customer: id });
      await upload(id, 3);
      expect(await fired(id)).toEqual([]);
      await upload(id, 3);
      await upload(id, 3);
      expect(await fired(id)).toMatchObject([{ event: 'usage.threshold_reached', rule: five, usage: 6 }]);
      await upload(id, 2);
      await upload(id, 2);
      expect((await fired(id)).map((e) => e.event)).toEqual(['usage.threshold_reached', 'usage.limit_reached']);
      expect((await fired(id))[1]).toMatchObject({ feature: 'uploads', usage: 11, limit: 10 });
    });

    it("reads every customer's counter of one batch, and fires each one's limit with its own usage", async () => {
      const customers = await Promise.all(
        Array.from({ length: 5 }, async () => (await seedCustomer(server, { plan: 'team' })).id),
      );
      await upload(customers[0]!, 4);
      // One batch: customer i gets 8 + i events, so all but the second reach the limit of 10 (the
      // first, with 4 before, at 12).
      const events = customers.flatMap((customer, i) =>
        Array.from({ length: 8 + i }, () => ({ id: `up-${sent++}`, customer, type: 'upload' })),
      );
      expectStatus(await server.request({ method: 'POST', url: '/v1/events', body: { events } }), 200);
      const limits = await Promise.all(
        customers.map(async (customer) => (await fired(customer)).filter((e) => e.event === 'usage.limit_reached')),
      );
      expect(limits.map((fires) => fires.map((e) => e.usage))).toEqual([[12], [], [10], [11], [12]]);
    });
  });
});
