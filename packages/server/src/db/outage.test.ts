import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../clock.js';
import { loadConfig } from '../config.js';
import { createKeymaster, type Keymaster } from '../runtime.js';
import { createTestDatabase, type TestDatabase, testDialects } from '../test-support/databases.js';
import { startTcpProxy, type TcpProxy } from '../test-support/tcp-proxy.js';

const adminKey = 'km_sk_database_outage_key_00001';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!testDialects.includes('postgres'))('a server whose PostgreSQL goes away', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let keymaster: Keymaster;
  let base: string;

  const call = async (path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST', key?: string) => {
    const started = performance.now();
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminKey}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(key !== undefined ? { 'idempotency-key': key } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      type: response.headers.get('content-type'),
      json: (await response.json()) as Record<string, unknown>,
      ms: performance.now() - started,
    };
  };

  /** Asserts the answer a client gets while the database is away. */
  const expectUnavailable = (answer: Awaited<ReturnType<typeof call>>) => {
    expect(answer.status, JSON.stringify(answer.json)).toBe(503);
    expect(answer.retryAfter).toBe('1');
    expect(answer.type).toMatch(/^application\/problem\+json/);
    expect(answer.json.code).toBe('unavailable');
  };

  const readyWithin = async (ms: number) => {
    const started = performance.now();
    while ((await call('/readyz')).status !== 200) {
      if (performance.now() - started > ms) throw new Error(`not ready again within ${ms} ms`);
      await sleep(50);
    }
  };

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    if (database.target.dialect !== 'postgres') throw new Error('a PostgreSQL target');
    const url = new URL(database.target.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.port = String(proxy.port);
    const config = {
      ...loadConfig({ KEYMASTER_ADMIN_KEY: adminKey, KEYMASTER_FEED_POLL_MS: '50' }),
      database: { ...database.target, url: url.toString() },
    };
    keymaster = await createKeymaster({
      config,
      clock: manualClock(Date.parse('2026-01-15T12:00:00Z')),
      logger: false,
    });
    await keymaster.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(keymaster.app.server.address() as AddressInfo).port}`;
    expect((await call('/v1/features', { key: 'calls', name: 'Calls', type: 'metered' })).status).toBe(201);
    const plan = { key: 'team', name: 'Team', entitlements: [{ feature: 'calls', limit: 1000, reset: 'month' }] };
    expect((await call('/v1/plans', plan)).status).toBe(201);
    expect((await call('/v1/plans/team/publish', {})).status).toBe(200);
    expect((await call('/v1/customers/acme', {}, 'PUT')).status).toBe(201);
    expect((await call('/v1/customers/acme/subscriptions', { plan: 'team' })).status).toBe(201);
  });

  afterAll(async () => {
    await keymaster?.close();
    await proxy?.close();
    await database?.drop();
  });

  beforeEach(async () => {
    await readyWithin(5000);
  });

  it('answers 503 with Retry-After on every path while the database is down, and serves again once it is back', async () => {
    const consume = { customer: 'acme', feature: 'calls' };
    expect((await call('/v1/consume', consume)).json.allowed).toBe(true);

    await proxy.cut();
    const ready = await call('/readyz');
    expectUnavailable(ready);
    expect(ready.json.detail).toBe('The database is not reachable.');
    // Checks and consumes (their own fast handler), a consume through the router (it carries an
    // Idempotency-Key), and any other write.
    expectUnavailable(await call('/v1/check', consume));
    expectUnavailable(await call('/v1/consume', consume));
    expectUnavailable(await call('/v1/consume', consume, 'POST', 'outage-1'));
    expectUnavailable(await call('/v1/customers/globex', {}, 'PUT'));
    expectUnavailable(await call('/v1/customers/acme'));

    await proxy.restore();
    await readyWithin(5000);
    expect((await call('/v1/consume', consume)).json.allowed).toBe(true);
    expect((await call('/v1/consume', consume, 'POST', 'outage-1')).json.allowed).toBe(true);
    expect((await call('/v1/customers/globex', {}, 'PUT')).status).toBe(201);
    expect((await call('/v1/check', { ...consume, quantity: 0 })).json.usage).toBe(3);
  });

  it('says not ready within its bounded wait when the database stops answering, and ready once it answers again', async () => {
    proxy.stall();
    try {
      const ready = await call('/readyz');
      expectUnavailable(ready);
      expect(ready.ms).toBeGreaterThanOrEqual(1900);
      expect(ready.ms).toBeLessThan(3500);
    } finally {
      proxy.resume();
    }
    await readyWithin(5000);
  });
});
