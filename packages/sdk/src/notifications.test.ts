import type { CustomerToken } from '@keymaster/contract';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expectStatus, seedCustomer } from '../../server/src/test-support/builders.js';
import { createKeymaster, type Keymaster, KeymasterError, type UnreadNotifications } from './index.js';
import { eventually, startLiveServer, testAdminKey } from './test-support/live-server.js';

/**
 * Notifications against a real server: made by its own consumer from alerts that fire as usage
 * crosses them, pushed on the stream, listed and marked read through the SDK.
 */
const live = await startLiveServer({ dialect: 'sqlite', env: { KEYMASTER_NOTIFICATIONS_POLL_MS: '50' } });

describe('@keymaster/sdk notifications [sqlite]', () => {
  const clients: Keymaster[] = [];
  /** A client (polling an hour apart: what arrives within seconds came over a stream) whose stream requests are logged. */
  const connect = (credential: { apiKey: string } | { customerToken: string }) => {
    const streams: string[] = [];
    const km = createKeymaster({
      baseUrl: live.url,
      ...credential,
      clock: live.server.clock,
      pollIntervalMs: 3_600_000,
      fetch: (input, init) => {
        const url = String(input);
        if (url.includes('/v1/stream')) streams.push(url.slice(live.url.length));
        return fetch(input, init);
      },
    });
    clients.push(km);
    return { km, streams };
  };
  const post = async <T = Record<string, unknown>>(url: string, body: unknown, status = 200) =>
    expectStatus<T>(await live.server.request({ method: 'POST', url, body }), status);
  const tokenFor = async (customer: string) =>
    (await post<CustomerToken>('/v1/customer-tokens', { customer }, 201)).token;
  /** A free customer (1,000 API calls) with alert rules at these percentages. */
  const customerWithAlerts = async (...percents: number[]) => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    for (const value of percents)
      await post('/v1/alert-rules', { feature: 'api_calls', type: 'percent', value, customer: id }, 201);
    return id;
  };
  const consume = (customer: string, quantity: number) =>
    post('/v1/consume', { customer, feature: 'api_calls', quantity });
  const unreadOnServer = async (customer: string) =>
    expectStatus<{ data: { id: string }[] }>(
      await live.server.request({ method: 'GET', url: `/v1/customers/${customer}/notifications?unread=true` }),
      200,
    ).data.map((n) => n.id);
  /** Every state a listener was called with. */
  const follow = (km: Keymaster, customer: string) => {
    const seen: UnreadNotifications[] = [];
    const stop = km.onNotifications(customer, (state) => seen.push(state));
    return { seen, stop, titles: () => km.unreadNotifications(customer)?.notifications.map((n) => n.title) };
  };

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((km) => km.close()));
  });
  afterAll(() => live.close());

  it('with a secret key: follows a customer on a stream of their own, live, and marks read', async () => {
    const customer = await customerWithAlerts(80);
    const { km, streams } = connect({ apiKey: testAdminKey });
    const { seen, titles } = follow(km, customer);
    await eventually(() => km.unreadNotifications(customer)?.loaded === true);
    expect(km.unreadNotifications(customer)).toMatchObject({ customer, notifications: [], more: false, error: null });
    await eventually(() => streams.includes(`/v1/stream?customer=${customer}`));

    await consume(customer, 850);
    await eventually(() => titles()?.length === 1, 5000);
    const [notification] = km.unreadNotifications(customer)!.notifications;
    expect(notification).toMatchObject({
      customer,
      type: 'usage.threshold_reached',
      title: 'You have used 80% of API calls',
      read_at: null,
    });
    expect(seen.at(-1)).toBe(km.unreadNotifications(customer));
    expect((await km.listNotifications({ customer, unread: true })).data).toEqual([notification]);

    const read = await km.markNotificationRead({ customer, id: notification!.id });
    expect(read).toMatchObject({ id: notification!.id, read_at: expect.any(String) });
    expect(titles()).toEqual([]);
    expect(await unreadOnServer(customer)).toEqual([]);
    // Listed without the filter it is still there, read.
    expect((await km.listNotifications({ customer })).data).toMatchObject([
      { id: notification!.id, read_at: read.read_at },
    ]);
  });

  it('shares one stream among the listeners of a customer, and closes it with the last', async () => {
    const customer = await customerWithAlerts(50);
    const { km, streams } = connect({ apiKey: testAdminKey });
    const first = follow(km, customer);
    const second = follow(km, customer);
    await eventually(() => km.unreadNotifications(customer)?.loaded === true);
    await consume(customer, 600);
    await eventually(() => first.titles()?.length === 1, 5000);
    expect(second.seen.at(-1)?.notifications).toHaveLength(1);
    expect(streams.filter((url) => url.includes(`customer=${customer}`))).toHaveLength(1);

    first.stop();
    expect(km.unreadNotifications(customer)).toBeDefined();
    second.stop();
    expect(km.unreadNotifications(customer)).toBeUndefined();
  });

  it('hears of a mark made elsewhere (the backend, another tab) live', async () => {
    const customer = await customerWithAlerts(80);
    const { km } = connect({ customerToken: await tokenFor(customer) });
    const { titles } = follow(km, customer);
    await consume(customer, 900);
    await eventually(() => titles()?.length === 1, 5000);
    const [notification] = km.unreadNotifications(customer)!.notifications;
    await post(`/v1/customers/${customer}/notifications/${notification!.id}/read`, {});
    await eventually(() => titles()?.length === 0, 5000);
  });

  it('lists by page and marks all read', async () => {
    const customer = await customerWithAlerts(50, 60, 70, 80);
    for (const quantity of [550, 100, 100, 100]) await consume(customer, quantity);
    const { km } = connect({ apiKey: testAdminKey });
    await expect.poll(async () => (await unreadOnServer(customer)).length, { timeout: 5000 }).toBe(4);

    const first = await km.listNotifications({ customer, unread: true, limit: 3 });
    expect(first.data.map((n) => n.title)).toEqual([
      'You have used 80% of API calls',
      'You have used 70% of API calls',
      'You have used 60% of API calls',
    ]);
    expect(first.has_more).toBe(true);
    const second = await km.listNotifications({ customer, unread: true, limit: 3, cursor: first.next_cursor! });
    expect(second).toMatchObject({ has_more: false, next_cursor: null });
    expect(second.data.map((n) => n.title)).toEqual(['You have used 50% of API calls']);

    const { titles } = follow(km, customer);
    await eventually(() => titles()?.length === 4);
    expect(await km.markAllNotificationsRead({ customer })).toBe(4);
    expect(titles()).toEqual([]);
    expect(await unreadOnServer(customer)).toEqual([]);
    expect(await km.markAllNotificationsRead({ customer })).toBe(0);
  });

  it('says when more are unread than the 20 listed, and shows the next one when one is marked', async () => {
    const { id: customer } = await seedCustomer(live.server, { plan: 'free' });
    for (let value = 10; value <= 210; value += 10)
      await post('/v1/alert-rules', { feature: 'api_calls', type: 'units', value, customer }, 201);
    const { km } = connect({ apiKey: testAdminKey });
    follow(km, customer);
    /** The thresholds of the rules the listed notifications tell of. */
    const values = () =>
      km.unreadNotifications(customer)?.notifications.map((n) => (n.data as { value: number }).value);
    await eventually(() => km.unreadNotifications(customer)?.loaded === true);
    await consume(customer, 250); // crosses all 21 rules: 21 notifications, pushed as one event of 20
    await eventually(() => km.unreadNotifications(customer)?.more === true, 5000);
    expect(values()).toHaveLength(20);
    const hidden = Array.from({ length: 21 }, (_, i) => (i + 1) * 10).find((value) => !values()?.includes(value));
    expect(hidden).toBeDefined();

    await km.markNotificationRead({ customer, id: km.unreadNotifications(customer)!.notifications[0]!.id });
    await eventually(() => values()?.includes(hidden!) === true, 5000);
    expect(km.unreadNotifications(customer)).toMatchObject({ more: false });
    expect(values()).toHaveLength(20);
  });

  it('with a customer token: notifications come on the client stream, and another customer is refused', async () => {
    const customer = await customerWithAlerts(80);
    const other = await customerWithAlerts(80);
    await consume(other, 900);
    await expect.poll(async () => (await unreadOnServer(other)).length, { timeout: 5000 }).toBe(1);
    const [othersNotification] = await unreadOnServer(other);

    const { km, streams } = connect({ customerToken: await tokenFor(customer) });
    await km.load(customer);
    const { titles } = follow(km, customer);
    await eventually(() => km.status().mode === 'live' && km.unreadNotifications(customer)?.loaded === true);
    await consume(customer, 900);
    await eventually(() => titles()?.length === 1, 5000);
    expect(titles()).toEqual(['You have used 80% of API calls']);
    // The one stream the client opened for its customer carried it.
    expect(streams).toEqual([`/v1/stream?customer=${customer}`]);
    await km.markNotificationRead({ customer, id: km.unreadNotifications(customer)!.notifications[0]!.id });
    expect(titles()).toEqual([]);
    expect(await unreadOnServer(customer)).toEqual([]);

    const refused = { status: 403, code: 'customer_mismatch' };
    await expect(km.listNotifications({ customer: other })).rejects.toMatchObject(refused);
    await expect(km.markNotificationRead({ customer: other, id: othersNotification! })).rejects.toMatchObject(refused);
    await expect(km.markAllNotificationsRead({ customer: other })).rejects.toBeInstanceOf(KeymasterError);
    follow(km, other);
    await eventually(() => (km.unreadNotifications(other)?.error ?? null) !== null);
    expect(km.unreadNotifications(other)).toMatchObject({ loaded: true, notifications: [], error: refused });
    expect(await unreadOnServer(other)).toEqual([othersNotification]);
  });
});
