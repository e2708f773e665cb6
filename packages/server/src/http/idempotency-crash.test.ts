import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../test-support/processes.js';

const adminKey = 'km_sk_idem_crash_admin_key_0001';
const env = { KEYMASTER_TEST_CLOCK: 'true' };

async function call(server: ServerProcess, path: string, body: unknown, key?: string) {
  const response = await fetch(`${server.url}${path}`, {
    method: path.startsWith('/v1/customers/acme') && body === undefined ? 'PUT' : 'POST',
    headers: {
      authorization: `Bearer ${adminKey}`,
      'content-type': 'application/json',
      ...(key ? { 'idempotency-key': key } : {}),
    },
    body: JSON.stringify(body ?? {}),
  });
  return {
    status: response.status,
    replayed: response.headers.get('idempotent-replayed') === 'true',
    text: await response.text(),
  };
}

const consume = (server: ServerProcess, key: string) =>
  call(server, '/v1/consume', { customer: 'acme', feature: 'api_calls' }, key);

describeEachDialect('Idempotency-Key across a SIGKILL', (dialect) => {
  let database: TestDatabase;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
    server = await startServerProcess({ target: database.target, adminKey, env });
    await call(server, '/v1/features', { key: 'api_calls', name: 'API calls', type: 'metered' });
    await call(server, '/v1/plans', {
      key: 'big',
      name: 'Big',
      entitlements: [{ feature: 'api_calls', limit: null, reset: 'never' }],
    });
    await call(server, '/v1/plans/big/publish', {});
    await call(server, '/v1/customers/acme', undefined);
    await call(server, '/v1/customers/acme/subscriptions', { plan: 'big' });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it('never lets a retried key take effect twice, whenever the process died', async () => {
    const running = server!;
    const acknowledged = new Map<string, string>();
    let next = 0;
    const client = async () => {
      for (;;) {
        const key = `k${next++}`;
        try {
          const answer = await consume(running, key);
          if (answer.status === 200) acknowledged.set(key, answer.text);
        } catch {
          return; // the connection died with the server
        }
      }
    };
    const clients = Promise.all(Array.from({ length: 16 }, client));
    while (acknowledged.size < 400) await new Promise((resolve) => setTimeout(resolve, 2));
    running.child.kill('SIGKILL');
    await clients;
    const sent = next;

    server = await startServerProcess({ target: database.target, adminKey, env });
    // Past the time after which a key whose request never finished counts as abandoned.
    const clock = await fetch(`${server.url}/v1/test-clock`, { headers: { authorization: `Bearer ${adminKey}` } });
    const now = Date.parse(((await clock.json()) as { now: string }).now);
    await call(server, '/v1/test-clock/advance', { to: new Date(now + 5 * 60_000).toISOString() });

    // Every client retries every key it sent: each takes effect once, or answers that it did.
    const outcomes = new Map<string, number>();
    let took = 0;
    for (let n = 0; n < sent; n++) {
      const key = `k${n}`;
      const answer = await consume(server, key);
      outcomes.set(key, answer.status);
      if (answer.status === 200) took++;
      else {
        expect(answer.status, answer.text).toBe(409);
        expect(JSON.parse(answer.text).code).toBe('idempotency_replay_unavailable');
        took++;
      }
      const first = acknowledged.get(key);
      if (first !== undefined) {
        expect(answer.replayed).toBe(true);
        expect(answer.text).toBe(first);
      }
    }
    const check = await call(server, '/v1/check', { customer: 'acme', feature: 'api_calls', quantity: 0 });
    expect((JSON.parse(check.text) as { usage: number }).usage).toBe(took);
    expect(took).toBe(sent);
  }, 120_000);
});
