import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';
import { openSse, type SseEvent, type SseStream } from '../../test-support/sse-client.js';

const adminKey = 'km_sk_stream_nodes_admin_key_01';

async function call(server: ServerProcess, method: string, path: string, body?: unknown) {
  return server.call(method, path, body);
}

const customerEvent = (customer: string) => (event: SseEvent) =>
  event.event === 'customer' && (event.data as { customer: string }).customer === customer;

describeEachDialect('GET /v1/stream across two server processes', (dialect) => {
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  const streams: SseStream[] = [];

  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
    [a, b] = await Promise.all([
      startServerProcess({ target: database.target, adminKey }),
      startServerProcess({ target: database.target, adminKey }),
    ]);
    expect((await call(a, 'POST', '/v1/features', { key: 'sso', name: 'SSO', type: 'boolean' })).status).toBe(201);
    expect((await call(a, 'PUT', '/v1/customers/acme', {})).status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    for (const sse of streams) sse.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
  });

  it('delivers a change made through node A to a stream on node B within one second', async () => {
    const sse = await openSse({
      url: `${b.url}/v1/stream?customer=acme`,
      headers: { authorization: `Bearer ${adminKey}` },
    });
    streams.push(sse);
    const started = performance.now();
    expect(
      (await call(a, 'POST', '/v1/customers/acme/grants', { feature: 'sso', enabled: true, reason: 'nodes' })).status,
    ).toBe(201);
    const event = await sse.next(customerEvent('acme'), 3000);
    expect(performance.now() - started).toBeLessThan(1000);
    const snapshot = (event.data as { entitlements: { entitlements: { feature: string; enabled: boolean }[] } })
      .entitlements;
    expect(snapshot.entitlements.find((e) => e.feature === 'sso')?.enabled).toBe(true);
  });

  it('resumes on node B from an id node A handed out, with a token node A minted', async () => {
    const minted = await call(a, 'POST', '/v1/customer-tokens', { customer: 'acme' });
    expect(minted.status).toBe(201);
    const token = minted.json.token as string;
    const onA = await openSse({ url: `${a.url}/v1/stream?customer=acme&access_token=${token}` });
    streams.push(onA);
    expect(onA.status).toBe(200);
    await call(a, 'PATCH', '/v1/features/sso', { name: 'Single sign-on' });
    const seen = await onA.next((e) => e.event === 'catalog');
    onA.close();

    await call(a, 'PUT', '/v1/customers/acme', { name: 'Acme' });
    const onB = await openSse({
      url: `${b.url}/v1/stream?customer=acme&access_token=${token}`,
      headers: { 'last-event-id': seen.id! },
    });
    streams.push(onB);
    expect(onB.status).toBe(200);
    const missed = await onB.next();
    expect(missed.event).toBe('customer');
    expect(Number(missed.id)).toBeGreaterThan(Number(seen.id));
  });

  it('ends a stream on node B within one second when its API key is revoked through node A', async () => {
    const created = await call(a, 'POST', '/v1/api-keys', { name: 'nodes', scopes: ['admin'] });
    expect(created.status).toBe(201);
    const secret = created.json.secret as string;
    // Node B learns of the new key through the feed.
    let sse: SseStream | undefined;
    await expect
      .poll(async () => {
        sse = await openSse({ url: `${b.url}/v1/stream`, headers: { authorization: `Bearer ${secret}` } });
        streams.push(sse);
        return sse.status;
      })
      .toBe(200);
    const started = performance.now();
    expect((await call(a, 'DELETE', `/v1/api-keys/${created.json.id as string}`)).status).toBe(200);
    expect(await endedWithin(sse!, 3000)).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(sse!.events.at(-1)).toMatchObject({ event: 'revoked', data: { code: 'api_key_revoked' } });
  });

  it("ends a customer token's stream on node B when node A erases and re-creates the customer, showing it nothing of the new one", async () => {
    expect((await call(a, 'PUT', '/v1/customers/globex', {})).status).toBe(201);
    const minted = await call(a, 'POST', '/v1/customer-tokens', { customer: 'globex' });
    const sse = await openSse({
      url: `${b.url}/v1/stream?customer=globex&access_token=${minted.json.token as string}`,
    });
    streams.push(sse);
    expect(sse.status).toBe(200);
    // Back to back: node B may well read all three changes in one poll.
    expect((await call(a, 'DELETE', '/v1/customers/globex')).status).toBe(204);
    expect((await call(a, 'PUT', '/v1/customers/globex', {})).status).toBe(201);
    expect(
      (await call(a, 'POST', '/v1/customers/globex/grants', { feature: 'sso', enabled: true, reason: 'new' })).status,
    ).toBe(201);
    expect(await endedWithin(sse, 3000)).toBe(true);
    expect(sse.events.at(-1)).toMatchObject({ event: 'revoked', data: { code: 'token_revoked' } });
    expect(sse.events.filter((e) => (e.data as { entitlements?: unknown }).entitlements)).toEqual([]);
  });
});

/** Whether the server ended the stream within `ms`. */
async function endedWithin(sse: SseStream, ms: number): Promise<boolean> {
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), ms));
  return Promise.race([sse.ended, timeout]);
}
