import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../db/database.js';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';

const adminKey = 'km_sk_crash_test_admin_key_0001';

async function call(server: ServerProcess, method: string, path: string, body?: unknown) {
  return server.call(method, path, body ?? {});
}

const batch = (n: number) =>
  Array.from({ length: 200 }, (_, i) => ({ id: `b${n}-e${i}`, customer: 'acme', type: 'api_call' }));

describeEachDialect('a server killed with SIGKILL during ingestion', (dialect) => {
  let database: TestDatabase;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
    server = await startServerProcess({ target: database.target, adminKey });
    await call(server, 'POST', '/v1/features', {
      key: 'api_calls',
      name: 'API calls',
      type: 'metered',
      meter: { event_type: 'api_call', aggregation: 'count' },
    });
    await call(server, 'POST', '/v1/plans', {
      key: 'big',
      name: 'Big',
      entitlements: [{ feature: 'api_calls', limit: null, reset: 'never' }],
    });
    await call(server, 'POST', '/v1/plans/big/publish');
    await call(server, 'PUT', '/v1/customers/acme');
    await call(server, 'POST', '/v1/customers/acme/subscriptions', { plan: 'big' });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it('loses no acknowledged event and counts none twice after a restart', async () => {
    const acknowledged: number[] = [];
    const running = server!;
    // Four senders keep batches in flight; the server is killed while they do.
    let next = 0;
    const sender = async () => {
      for (;;) {
        const n = next++;
        if (n >= 60) return;
        try {
          const { status } = await call(running, 'POST', '/v1/events', { events: batch(n) });
          if (status === 200) acknowledged.push(n);
        } catch {
          return; // the connection died with the server
        }
      }
    };
    const senders = Promise.all(Array.from({ length: 4 }, sender));
    while (acknowledged.length < 5) await new Promise((resolve) => setTimeout(resolve, 5));
    running.child.kill('SIGKILL');
    await senders;
    expect(acknowledged.length).toBeGreaterThan(0);

    server = await startServerProcess({ target: database.target, adminKey });
    const handle = openDatabase(database.target);
    try {
      const stored = await handle.db.selectFrom('events').select('id').execute();
      const ids = new Set(stored.map((row) => row.id));
      for (const n of acknowledged) for (const event of batch(n)) expect(ids.has(event.id)).toBe(true);
      const usage = async () =>
        (await call(server!, 'POST', '/v1/check', { customer: 'acme', feature: 'api_calls', quantity: 0 })).json.usage;
      expect(await usage()).toBe(stored.length);

      // Clients retry what was not acknowledged (and some of what was): each event still counts once.
      for (let n = 0; n < 60; n++) {
        const { status } = await call(server!, 'POST', '/v1/events', { events: batch(n) });
        expect(status).toBe(200);
      }
      expect(await usage()).toBe(60 * 200);
    } finally {
      await handle.close();
    }
  }, 120_000);
});
