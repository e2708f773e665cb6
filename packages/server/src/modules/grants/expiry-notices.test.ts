import type { Grant } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, publishCatalog, seedCustomer } from '../../test-support/builders.js';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

const day = 86_400_000;

interface Notice {
  type: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
}

/** Customers hear of their credits a week before they expire (KEYMASTER_CREDITS_NOTICE_DAYS), once. */
describeEachDialect('credits expiring', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      start: '2026-03-01T00:00:00.000Z',
      env: { KEYMASTER_TEST_CLOCK: 'true' },
    });
    await publishCatalog(server, {
      features: [{ key: 'tokens', name: 'AI tokens', type: 'metered' }],
      plans: [{ key: 'solo', name: 'Solo', entitlements: [{ feature: 'tokens', limit: 100, reset: 'month' }] }],
    });
  });
  afterAll(() => server.close());

  const advance = async (to: string) =>
    expectStatus(await server.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to } }), 200);
  const notices = async (customer: string) =>
    expectStatus<{ data: Notice[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/notifications` }),
      200,
    ).data;
  const credit = async (customer: string, input: { limit: number; expires_at?: string }) =>
    expectStatus<Grant>(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${customer}/grants`,
        body: { feature: 'tokens', mode: 'credit', reason: 'Top-up', ...input },
      }),
      201,
    );

  it('tells once, a week ahead, with what is left; not of revoked, spent or lasting credits', async () => {
    const { id: customer } = await seedCustomer(server, { plan: 'solo' });
    const expiring = await credit(customer, { limit: 5000, expires_at: '2026-03-20T00:00:00.000Z' });
    const revoked = await credit(customer, { limit: 100, expires_at: '2026-03-20T00:00:00.000Z' });
    await credit(customer, { limit: 100 });
    await credit(customer, { limit: 100, expires_at: '2026-06-01T00:00:00.000Z' });
    expect((await server.request({ method: 'DELETE', url: `/v1/grants/${revoked.id}` })).statusCode).toBe(200);
    // The plan's 100 first, then 40 of the credits.
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/consume',
        body: { customer, feature: 'tokens', quantity: 140 },
      }),
      200,
    );

    await advance('2026-03-12T23:00:00.000Z');
    expect(await notices(customer)).toEqual([]);
    await advance('2026-03-13T01:00:00.000Z');
    await advance('2026-03-15T00:00:00.000Z');
    const told = await notices(customer);
    expect(told.map((n) => [n.type, n.title, n.body])).toEqual([
      [
        'credits.expiring',
        'Your AI tokens credits expire soon',
        '4960 of your AI tokens credits expire on 2026-03-20; use them before then.',
      ],
    ]);
    expect(told[0]!.data).toMatchObject({ grant: expiring.id, feature: 'tokens', remaining: 4960 });
  });
});

/** Three server processes on one database, their schedulers racing every 20 ms. */
describeEachDialect('credits expiring, with three server processes', (dialect) => {
  const adminKey = 'km_sk_credit_notice_processes_01';
  let database: TestDatabase;
  let servers: ServerProcess[] = [];
  const call = async (input: { method: string; path: string; body?: unknown }, node = 0) => {
    const response = await fetch(`${servers[node]!.url}${input.path}`, {
      method: input.method,
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      ...(input.body !== undefined ? { body: JSON.stringify(input.body) } : {}),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
    const env = { KEYMASTER_SCHEDULER_POLL_MS: '20', KEYMASTER_NOTIFICATIONS_POLL_MS: '50' };
    servers = await Promise.all([0, 1, 2].map(() => startServerProcess({ target: database.target, adminKey, env })));
    const feature = { key: 'tokens', name: 'AI tokens', type: 'metered' };
    expect((await call({ method: 'POST', path: '/v1/features', body: feature })).status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
  });

  it('tells each customer once', async () => {
    const customers = ['c1', 'c2', 'c3', 'c4', 'c5'];
    const expiresAt = new Date(Date.now() + 3 * day).toISOString();
    for (const [n, customer] of customers.entries()) {
      expect((await call({ method: 'PUT', path: `/v1/customers/${customer}`, body: {} }, n % 3)).status).toBe(201);
      const grant = { feature: 'tokens', mode: 'credit', limit: 10, reason: 'Top-up', expires_at: expiresAt };
      const created = await call({ method: 'POST', path: `/v1/customers/${customer}/grants`, body: grant }, n % 3);
      expect(created.status).toBe(201);
    }
    const told = async (customer: string) =>
      ((await call({ method: 'GET', path: `/v1/customers/${customer}/notifications` })).json.data as Notice[]).map(
        (n) => n.type,
      );
    await expect
      .poll(async () => (await Promise.all(customers.map(told))).flat().length, { timeout: 15_000, interval: 100 })
      .toBe(customers.length);
    // Dozens more scheduler runs on each node, and still one each.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const customer of customers) expect(await told(customer)).toEqual(['credits.expiring']);
  });
});
