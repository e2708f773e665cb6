import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, grantBody, seedCustomer } from '../../server/src/test-support/builders.js';
import { createKeymaster, type Keymaster } from './index.js';
import { eventually, startLiveServer, testAdminKey } from './test-support/live-server.js';

/** Against the server's `GET /v1/stream` (the polling fallback is tested in client.test.ts). */
const live = await startLiveServer({ dialect: 'sqlite' });

describe('@keymaster/sdk streaming [sqlite]', () => {
  let km: Keymaster;

  beforeAll(() => {
    km = createKeymaster({ baseUrl: live.url, apiKey: testAdminKey, clock: live.server.clock, pollIntervalMs: 60_000 });
  });

  afterAll(async () => {
    await km?.close();
    await live.close();
  });

  it('goes live and applies a grant pushed on the stream', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    await km.load(id);
    await eventually(() => km.status().mode === 'live');
    expect(km.check(id, 'sso').allowed).toBe(false);
    expectStatus(
      await live.server.request({
        method: 'POST',
        url: `/v1/customers/${id}/grants`,
        body: grantBody({ feature: 'sso', enabled: true }),
      }),
      201,
    );
    await eventually(() => km.check(id, 'sso').allowed, 2000);
  });

  it('applies usage pushed on the stream and refetches after a catalog change', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    await km.load(id);
    expectStatus(
      await live.server.request({
        method: 'POST',
        url: '/v1/consume',
        body: { customer: id, feature: 'api_calls', quantity: 400 },
      }),
      200,
    );
    await eventually(() => km.check(id, 'api_calls', 0).usage === 400, 2000);
    expectStatus(
      await live.server.request({ method: 'PATCH', url: '/v1/features/support_tier', body: { status: 'disabled' } }),
      200,
    );
    await eventually(() => km.check(id, 'support_tier').reason === 'feature_disabled', 2000);
  });
});
