import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMigratedTestDatabase, type TestDatabase, testDialects } from '../test-support/databases.js';
import { databaseUrl, type ServerProcess, seedTeamCustomer, startServerProcess } from '../test-support/processes.js';
import { openSse, type SseStream } from '../test-support/sse-client.js';

const adminKey = 'km_sk_connection_loss_key_00001';
const callersPerProcess = 6;

async function call(server: ServerProcess, path: string, body?: unknown, method = 'POST') {
  const { status, headers, json } = await server.call(method, path, body);
  return { status, retryAfter: headers.get('retry-after'), type: headers.get('content-type'), json };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Terminates every backend of this suite's server processes (found by the application name
 * their URL carries), never another suite's connections on the shared test database.
 */
async function terminateBackends(applicationName: string): Promise<number> {
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ terminated: boolean }>(
      `select pg_terminate_backend(pid) as terminated from pg_stat_activity
        where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()`,
      [applicationName],
    );
    return rows.filter((row) => row.terminated).length;
  } finally {
    await admin.end();
  }
}

/** Waits until the server answers ready and serves a check, and answers how long that took. */
async function recovered(server: ServerProcess, within: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (server.child.exitCode !== null) throw new Error(`${server.url} exited:\n${server.output()}`);
    const ready = await fetch(`${server.url}/readyz`).catch(() => undefined);
    if (ready?.status === 200) {
      const { status } = await call(server, '/v1/check', { customer: 'acme', feature: 'calls', quantity: 0 });
      if (status === 200) return performance.now() - started;
    }
    if (performance.now() - started > within) throw new Error(`${server.url} did not serve again within ${within} ms`);
    await sleep(50);
  }
}

describe.skipIf(!testDialects.includes('postgres'))(
  'PostgreSQL connections terminated under two server processes',
  () => {
    const applicationName = `km_conn_loss_${randomBytes(4).toString('hex')}`;
    let database: TestDatabase;
    let servers: ServerProcess[] = [];
    let stream: SseStream | undefined;

    beforeAll(async () => {
      database = await createMigratedTestDatabase('postgres');
      const url = new URL(databaseUrl(database.target));
      url.searchParams.set('application_name', applicationName);
      servers = await Promise.all(
        [1, 2].map(() =>
          startServerProcess({ target: database.target, adminKey, env: { DATABASE_URL: url.toString() } }),
        ),
      );
      await seedTeamCustomer({ servers, adminKey, limit: 1_000_000 });
    }, 60_000);

    afterAll(async () => {
      stream?.close();
      await Promise.all(servers.map((server) => server.stop()));
      await database?.drop();
    });

    it('keeps both processes up, answers 503 with Retry-After meanwhile, serves again within seconds and loses no consume', async () => {
      let running = true;
      let acknowledged = 0;
      let sent = 0;
      const statuses = new Map<number, number>();
      const wrong: string[] = [];
      const caller = async (server: ServerProcess) => {
        for (let i = 0; running; i++) {
          const consume = i % 2 === 0;
          if (consume) sent++;
          try {
            const answer = await call(server, consume ? '/v1/consume' : '/v1/check', {
              customer: 'acme',
              feature: 'calls',
            });
            statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
            if (answer.status === 200) {
              if (consume && answer.json.allowed === true) acknowledged++;
            } else if (
              answer.status !== 503 ||
              answer.retryAfter === null ||
              !answer.type?.startsWith('application/problem+json') ||
              answer.json.code !== 'unavailable'
            ) {
              wrong.push(`${answer.status} retry-after=${answer.retryAfter} ${JSON.stringify(answer.json)}`);
            }
          } catch (error) {
            // Refused or reset: the process is gone (or stopped listening).
            wrong.push(`no answer: ${String((error as Error).cause ?? error)}`);
            await sleep(20);
          }
        }
      };
      const [a, b] = servers as [ServerProcess, ServerProcess];
      stream = await openSse({
        url: `${b.url}/v1/stream?customer=acme`,
        headers: { authorization: `Bearer ${adminKey}` },
      });
      const callers = servers.flatMap((server) => Array.from({ length: callersPerProcess }, () => caller(server)));

      for (let round = 0; round < 2; round++) {
        await sleep(300);
        expect(await terminateBackends(applicationName)).toBeGreaterThan(0);
        for (const server of servers) expect(await recovered(server, 5000)).toBeLessThan(5000);
      }
      await sleep(300);
      running = false;
      await Promise.all(callers);

      for (const server of servers) expect(server.child.exitCode, server.output()).toBeNull();
      // Node B's change feed and its open stream kept going: a change made through node A reaches it.
      expect((await call(a, '/v1/features/calls', { name: 'API calls' }, 'PATCH')).status).toBe(200);
      await stream.next((event) => event.event === 'catalog', 3000);
      expect(wrong, JSON.stringify([...statuses])).toEqual([]);
      expect(acknowledged).toBeGreaterThan(0);
      // Every consume answered "allowed" is counted, on both nodes; a consume that failed with the
      // connection may or may not have committed first, so the count may be above but never below.
      await sleep(500);
      for (const server of servers) {
        const { json } = await call(server, '/v1/check', { customer: 'acme', feature: 'calls', quantity: 0 });
        expect(json.usage).toBeGreaterThanOrEqual(acknowledged);
        expect(json.usage).toBeLessThanOrEqual(sent);
      }
    }, 60_000);
  },
);
