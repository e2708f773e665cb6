import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { expectStatus, seedCustomer } from '../../server/src/test-support/builders.js';
import { createKeymaster, type Keymaster, type SyncStatus } from './index.js';
import { eventually, startLiveServer } from './test-support/live-server.js';

/** A credential the server stops accepting: the SDK says so and stops reconnecting at once. */
const live = await startLiveServer({ dialect: 'sqlite', env: { KEYMASTER_STREAM_HEARTBEAT_MS: '50' } });

describe('@keymaster/sdk stream with a refused credential [sqlite]', () => {
  const clients: Keymaster[] = [];
  /** A client whose stream requests are counted. */
  const connect = (credential: { apiKey: string } | { customerToken: string }) => {
    const requests = { stream: 0 };
    const km = createKeymaster({
      baseUrl: live.url,
      ...credential,
      clock: live.server.clock,
      pollIntervalMs: 60_000,
      fetch: (input, init) => {
        if (String(input).includes('/v1/stream')) requests.stream++;
        return fetch(input, init);
      },
    });
    clients.push(km);
    return { km, requests };
  };
  const tokenFor = async (customer: string) =>
    expectStatus<{ token: string }>(
      await live.server.request({
        method: 'POST',
        url: '/v1/customer-tokens',
        body: { customer, ttl_seconds: 60 },
      }),
      201,
    ).token;

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((km) => km.close()));
  });
  afterAll(async () => {
    await live.close();
  });

  it('reports a token that expired on an open stream, and does not reconnect with it', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    const { km, requests } = connect({ customerToken: await tokenFor(id) });
    const seen: SyncStatus[] = [];
    km.onSync((status) => seen.push(status));
    await km.load(id);
    await eventually(() => km.status().mode === 'live');
    expect(km.status().refused).toBeNull();

    live.server.clock.advance(60_000);
    await eventually(() => km.status().refused !== null, 2000);
    expect(km.status()).toMatchObject({ mode: 'polling', refused: { status: 401, code: 'token_expired' } });
    expect(seen.at(-1)?.refused?.code).toBe('token_expired');
    // The reconnect backoff starts at 500 ms: a second of quiet means it waits much longer.
    const opened = requests.stream;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(requests.stream).toBe(opened);
  });

  it('reports a key the server refuses when the stream connects, and does not retry it soon', async () => {
    const created = expectStatus<{ id: string; secret: string }>(
      await live.server.request({ method: 'POST', url: '/v1/api-keys', body: { name: 'doomed', scopes: ['admin'] } }),
      201,
    );
    expectStatus(await live.server.request({ method: 'DELETE', url: `/v1/api-keys/${created.id}` }), 200);
    const { km, requests } = connect({ apiKey: created.secret });
    await eventually(() => km.status().refused !== null, 2000);
    expect(km.status().refused).toMatchObject({ status: 401, code: 'unauthenticated' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(requests.stream).toBe(1);
  });
});
