import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';

const adminKey = 'km_sk_multi_node_admin_key_0001';

async function call(server: ServerProcess, method: string, path: string, body?: unknown, key = adminKey) {
  return server.call(method, path, body, { key });
}

/** Polls `probe` until it holds, and answers how long that took. */
async function timeUntil(probe: () => Promise<boolean>, limitMs = 5000): Promise<number> {
  const start = performance.now();
  while (!(await probe())) {
    if (performance.now() - start > limitMs) throw new Error(`not seen within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return performance.now() - start;
}

describeEachDialect('two server processes on one database', (dialect) => {
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    // Migrated once up front; both processes then start on a ready schema.
    database = await createMigratedTestDatabase(dialect);
    [a, b] = await Promise.all([
      startServerProcess({ target: database.target, adminKey }),
      startServerProcess({ target: database.target, adminKey }),
    ]);
    expect((await call(a, 'POST', '/v1/features', { key: 'sso', name: 'SSO', type: 'boolean' })).status).toBe(201);
    expect(
      (await call(a, 'POST', '/v1/plans', { key: 'team', name: 'Team', entitlements: [{ feature: 'sso' }] })).status,
    ).toBe(201);
    expect((await call(a, 'POST', '/v1/plans/team/publish')).status).toBe(200);
    expect((await call(a, 'POST', '/v1/features', { key: 'calls', name: 'Calls', type: 'metered' })).status).toBe(201);
    const metered = {
      key: 'metered',
      name: 'Metered',
      entitlements: [{ feature: 'calls', limit: 10, reset: 'month' }],
    };
    expect((await call(a, 'POST', '/v1/plans', metered)).status).toBe(201);
    expect((await call(a, 'POST', '/v1/plans/metered/publish')).status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
  });

  it('sees a write made through the other node within one second, once its cache is warm', async () => {
    await call(a, 'PUT', '/v1/customers/acme', {});
    await call(a, 'POST', '/v1/customers/acme/subscriptions', { plan: 'team' });
    const allowedOnB = async () =>
      (await call(b, 'POST', '/v1/check', { customer: 'acme', feature: 'sso' })).json.allowed === true;
    await timeUntil(allowedOnB);
    expect(await allowedOnB()).toBe(true); // now cached on b

    const { json: subscriptions } = await call(a, 'GET', '/v1/customers/acme/subscriptions');
    const id = (subscriptions.data as { id: string }[])[0]!.id;
    expect((await call(a, 'POST', `/v1/subscriptions/${id}/cancel`, { when: 'now' })).status).toBe(200);
    // The writing node sees its own write at once.
    expect((await call(a, 'POST', '/v1/check', { customer: 'acme', feature: 'sso' })).json.reason).toBe(
      'subscription_inactive',
    );
    const elapsed = await timeUntil(async () => !(await allowedOnB()));
    expect(elapsed).toBeLessThan(1000);
  });

  it('shows usage recorded through one node on the other within one second', async () => {
    await call(a, 'PUT', '/v1/customers/hooli', {});
    await call(a, 'POST', '/v1/customers/hooli/subscriptions', { plan: 'metered' });
    const usageOnB = async () =>
      (await call(b, 'POST', '/v1/check', { customer: 'hooli', feature: 'calls', quantity: 0 })).json.usage;
    await timeUntil(async () => (await usageOnB()) === 0); // cached on b
    expect(
      (await call(a, 'POST', '/v1/consume', { customer: 'hooli', feature: 'calls', quantity: 3 })).json,
    ).toMatchObject({ allowed: true, usage: 3 });
    const elapsed = await timeUntil(async () => (await usageOnB()) === 3);
    expect(elapsed).toBeLessThan(1000);

    // A batch of events over several customers: one change names them all (announcingUsageOnce).
    const meter = { meter: { event_type: 'call', aggregation: 'count' } };
    expect((await call(a, 'PATCH', '/v1/features/calls', meter)).status).toBe(200);
    await call(a, 'PUT', '/v1/customers/piper', {});
    await call(a, 'POST', '/v1/customers/piper/subscriptions', { plan: 'metered' });
    const piperOnB = async () =>
      (await call(b, 'POST', '/v1/check', { customer: 'piper', feature: 'calls', quantity: 0 })).json.usage;
    await timeUntil(async () => (await piperOnB()) === 0 && (await usageOnB()) === 3); // both cached on b
    const events = ['hooli', 'piper', 'piper'].map((customer, i) => ({ id: `mn-${i}`, customer, type: 'call' }));
    expect((await call(a, 'POST', '/v1/events', { events })).json).toMatchObject({ accepted: 3 });
    const batchSeen = await timeUntil(async () => (await usageOnB()) === 4 && (await piperOnB()) === 2);
    expect(batchSeen).toBeLessThan(1000);
  });

  it('propagates the kill switch and API key revocation to the other node within one second', async () => {
    await call(a, 'PUT', '/v1/customers/globex', {});
    await call(a, 'POST', '/v1/customers/globex/subscriptions', { plan: 'team' });
    const reasonOnB = async () =>
      (await call(b, 'POST', '/v1/check', { customer: 'globex', feature: 'sso' })).json.reason;
    await timeUntil(async () => (await reasonOnB()) === 'entitled');
    await call(a, 'PATCH', '/v1/features/sso', { status: 'disabled' });
    expect(await timeUntil(async () => (await reasonOnB()) === 'feature_disabled')).toBeLessThan(1000);

    const created = await call(a, 'POST', '/v1/api-keys', { name: 'temporary', scopes: ['admin'] });
    const secret = created.json.secret as string;
    await timeUntil(async () => (await call(b, 'GET', '/v1/features', undefined, secret)).status === 200);
    await call(a, 'DELETE', `/v1/api-keys/${created.json.id as string}`);
    expect(
      await timeUntil(async () => (await call(b, 'GET', '/v1/features', undefined, secret)).status === 401),
    ).toBeLessThan(1000);
  });

  it('keeps one live subscription per customer when both nodes race to create it', async () => {
    await call(a, 'PUT', '/v1/customers/initech', {});
    const attempts = Array.from({ length: 20 }, (_, i) =>
      call(i % 2 === 0 ? a : b, 'POST', '/v1/customers/initech/subscriptions', { plan: 'team' }),
    );
    const statuses = (await Promise.all(attempts)).map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
  });
});
