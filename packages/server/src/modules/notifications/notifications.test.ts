import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, publishCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer, testAdminKey } from '../../test-support/server.js';
import { openSse } from '../../test-support/sse-client.js';

interface ApiNotification {
  id: string;
  customer: string;
  type: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  event: string;
  created_at: string;
  read_at: string | null;
}

interface NotificationPage {
  data: ApiNotification[];
  has_more: boolean;
  next_cursor: string | null;
}

describeEachDialect('customer notifications', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: '2026-06-15T12:00:00.000Z' });
    await publishCatalog(server, {
      features: [{ key: 'calls', name: 'API calls', type: 'metered' }],
      plans: [
        { key: 'solo', name: 'Solo', entitlements: [{ feature: 'calls', limit: 100, reset: 'month' }] },
        { key: 'team', name: 'Team', entitlements: [{ feature: 'calls', limit: 1000, reset: 'month' }] },
      ],
    });
  });
  afterAll(() => server.close());
  let base: string | undefined;
  /** The server's address, listening from the first call on. */
  const listening = async () => (base ??= await server.listen());

  const consume = async (customer: string, quantity: number) =>
    expectStatus(
      await server.request({ method: 'POST', url: '/v1/consume', body: { customer, feature: 'calls', quantity } }),
      200,
    );
  const alertAt80 = async (customer: string) =>
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/alert-rules',
        body: { feature: 'calls', type: 'percent', value: 80, customer },
      }),
      201,
    );
  const list = async (customer: string, query = '', headers: Record<string, string> = {}) =>
    expectStatus<NotificationPage>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/notifications${query}`, headers }),
      200,
    );
  const tokenFor = async (customer: string) =>
    expectStatus<{ token: string }>(
      await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer, ttl_seconds: 3600 } }),
      201,
    ).token;
  /** A customer on `solo` whose usage crossed its 80 % rule, with the outbox consumed. */
  const alerted = async () => {
    const { id } = await seedCustomer(server, { plan: 'solo' });
    await alertAt80(id);
    await consume(id, 50);
    await consume(id, 35);
    // More past the threshold fires nothing more.
    await consume(id, 5);
    await server.keymaster.notifications.runDue();
    return id;
  };

  it('turns a crossed alert rule into one notification, worded for the customer', async () => {
    const customer = await alerted();
    // Running again finds nothing new: the cursor moved with the insert. And an event read a
    // second time (a cursor moved back, as by a restore) makes no second notification.
    await server.keymaster.notifications.runDue();
    await server.keymaster.database.db
      .updateTable('outbox_consumers')
      .set({ position: 0 })
      .where('name', '=', 'notifications')
      .execute();
    await server.keymaster.notifications.runDue();
    const page = await list(customer);
    expect(page.data).toHaveLength(1);
    // …and announced it once on the change feed.
    const announced = await server.keymaster.database.db
      .selectFrom('changes')
      .select('seq')
      .where('scope', '=', 'notification')
      .where('customer_id', '=', customer)
      .execute();
    expect(announced).toHaveLength(1);
    expect(page.data[0]).toMatchObject({
      customer,
      type: 'usage.threshold_reached',
      title: 'You have used 80% of API calls',
      data: { feature: 'calls', value: 80, limit: 100 },
      read_at: null,
    });
    expect(page.data[0]!.id).toMatch(/^ntf_/);
    expect(page.data[0]!.event).toMatch(/^dev_/);
  });

  it('lists unread ones and marks one read', async () => {
    const customer = await alerted();
    const [notification] = (await list(customer, '?unread=true')).data;
    const read = expectStatus<ApiNotification>(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${customer}/notifications/${notification!.id}/read`,
      }),
      200,
    );
    expect(read.read_at).toBe('2026-06-15T12:00:00.000Z');
    expect((await list(customer, '?unread=true')).data).toEqual([]);
    expect((await list(customer)).data).toEqual([read]);
    // Marking again keeps the first time.
    server.clock.advance(60_000);
    const again = expectStatus<ApiNotification>(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${customer}/notifications/${notification!.id}/read`,
      }),
      200,
    );
    expect(again.read_at).toBe(read.read_at);
    expectProblem(
      await server.request({ method: 'POST', url: `/v1/customers/${customer}/notifications/ntf_nope/read` }),
      { status: 404, code: 'notification_not_found' },
    );
    expectProblem(await server.request({ method: 'GET', url: '/v1/customers/nobody-here/notifications' }), {
      status: 404,
      code: 'customer_not_found',
    });
  });

  it('tells of a plan change, and not of an update that kept the plan; pages newest first', async () => {
    const { id: customer, subscription } = await seedCustomer(server, { plan: 'solo' });
    expectStatus(
      await server.request({
        method: 'POST',
        url: `/v1/subscriptions/${subscription!.id}/change`,
        body: { plan: 'team', when: 'now' },
      }),
      200,
    );
    expectStatus(
      await server.request({
        method: 'POST',
        url: `/v1/subscriptions/${subscription!.id}/cancel`,
        body: { when: 'now' },
      }),
      200,
    );
    await server.keymaster.notifications.runDue();
    const first = await list(customer, '?limit=1');
    expect(first.data.map((n) => n.title)).toEqual(['Your subscription was canceled']);
    expect(first.has_more).toBe(true);
    const second = await list(customer, `?limit=1&cursor=${first.next_cursor}`);
    expect(second.data.map((n) => [n.type, n.title])).toEqual([['subscription.updated', 'Your plan changed to Team']]);
    expect(second.has_more).toBe(false);
  });

  it("lets a customer token read and mark its own, and refuses it another customer's", async () => {
    const customer = await alerted();
    const other = await alerted();
    const auth = { authorization: `Bearer ${await tokenFor(customer)}` };
    const [mine] = (await list(customer, '?unread=true', auth)).data;
    expect(mine).toMatchObject({ customer, type: 'usage.threshold_reached' });
    expectStatus(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${customer}/notifications/${mine!.id}/read`,
        headers: auth,
      }),
      200,
    );
    const [theirs] = (await list(other)).data;
    expectProblem(await server.request({ method: 'GET', url: `/v1/customers/${other}/notifications`, headers: auth }), {
      status: 403,
      code: 'customer_mismatch',
    });
    expectProblem(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${other}/notifications/${theirs!.id}/read`,
        headers: auth,
      }),
      { status: 403, code: 'customer_mismatch' },
    );
    // Nor can it mark another's through its own path.
    expectProblem(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${customer}/notifications/${theirs!.id}/read`,
        headers: auth,
      }),
      { status: 404, code: 'notification_not_found' },
    );
    expect((await list(other)).data[0]!.read_at).toBeNull();
  });

  it('pushes a notification event to the customer’s open stream', async () => {
    const { id: customer } = await seedCustomer(server, { plan: 'solo' });
    await alertAt80(customer);
    const base = await listening();
    const token = await tokenFor(customer);
    const sse = await openSse({ url: `${base}/v1/stream?customer=${customer}&access_token=${token}` });
    // A stream of every customer (a backend's) is not told: it has no one to show them to.
    const everyone = await openSse({ url: `${base}/v1/stream`, headers: { authorization: `Bearer ${testAdminKey}` } });
    try {
      expect(sse.status).toBe(200);
      await consume(customer, 90);
      await server.keymaster.notifications.runDue();
      const event = await sse.next((e) => e.event === 'notification');
      expect(event.data).toMatchObject({
        customer,
        notifications: [{ customer, type: 'usage.threshold_reached', title: 'You have used 80% of API calls' }],
      });
      expect(Number(event.id)).toBeGreaterThan(0);
      // A later change reaches it after anything queued before: had it been told, it would have been by then.
      await consume(customer, 1);
      await everyone.next((e) => e.event === 'usage' && Number(e.id) > Number(event.id));
      expect(everyone.events.filter((e) => e.event === 'notification')).toEqual([]);
    } finally {
      everyone.close();
      sse.close();
    }
  });

  it('tells the customer’s open streams when one is marked read, with the shorter list', async () => {
    const customer = await alerted();
    const [notification] = (await list(customer, '?unread=true')).data;
    const announced = async () =>
      (
        await server.keymaster.database.db
          .selectFrom('changes')
          .select('seq')
          .where('scope', '=', 'notification')
          .where('customer_id', '=', customer)
          .execute()
      ).length;
    const before = await announced();
    const sse = await openSse({
      url: `${await listening()}/v1/stream?customer=${customer}&access_token=${await tokenFor(customer)}`,
    });
    try {
      expect(sse.status).toBe(200);
      const markRead = async () =>
        expectStatus(
          await server.request({
            method: 'POST',
            url: `/v1/customers/${customer}/notifications/${notification!.id}/read`,
          }),
          200,
        );
      await markRead();
      const event = await sse.next((e) => e.event === 'notification');
      expect(event.data).toEqual({ customer, notifications: [] });
      expect(await announced()).toBe(before + 1);
      // Marking it again changes nothing, and announces nothing.
      await markRead();
      expect(await announced()).toBe(before + 1);
    } finally {
      sse.close();
    }
  });

  describe('erasure', () => {
    it("removes the customer's notifications", async () => {
      const customer = await alerted();
      expect((await list(customer)).data).toHaveLength(1);
      expect((await server.request({ method: 'DELETE', url: `/v1/customers/${customer}` })).statusCode).toBe(204);
      const left = await server.keymaster.database.db
        .selectFrom('notifications')
        .select('id')
        .where('customer_id', '=', customer)
        .execute();
      expect(left).toEqual([]);
    });
  });

  describe('with the test clock', () => {
    let clocked: TestServer;
    beforeAll(async () => {
      clocked = await startTestServer({
        dialect,
        start: '2026-06-01T00:00:00.000Z',
        env: { KEYMASTER_TEST_CLOCK: 'true' },
      });
      await publishCatalog(clocked, {
        features: [{ key: 'calls', name: 'API calls', type: 'metered' }],
        plans: [{ key: 'solo', name: 'Solo', entitlements: [{ feature: 'calls', limit: 100, reset: 'month' }] }],
      });
    });
    afterAll(() => clocked.close());

    it('tells of a trial ending once the advance that made it due has answered', async () => {
      const { id: customer, subscription } = await seedCustomer(clocked, {
        plan: 'solo',
        subscription: { trial_days: 14 },
      });
      expect(subscription!.trial_end).toBe('2026-06-15T00:00:00.000Z');
      expectStatus(
        await clocked.request({
          method: 'POST',
          url: '/v1/test-clock/advance',
          body: { to: '2026-06-13T00:00:00.000Z' },
        }),
        200,
      );
      const page = expectStatus<NotificationPage>(
        await clocked.request({ method: 'GET', url: `/v1/customers/${customer}/notifications?unread=true` }),
        200,
      );
      expect(page.data.map((n) => [n.type, n.title, n.body])).toEqual([
        ['trial.ending', 'Your trial ends soon', 'Your trial of Solo ends on 2026-06-15.'],
      ]);
    });
  });
});
