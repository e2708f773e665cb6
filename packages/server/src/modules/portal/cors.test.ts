import type { PortalLink, PortalView } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

const origin = 'https://app.example.com';

/**
 * The portal routes a page on another origin calls with a portal token (@keymaster/react's
 * embedded `PlanPicker` and `UsageMeters`) are CORS browser routes; the cookie exchange and
 * the admin's link route are not, and no answer allows credentials.
 */
describeEachDialect('customer portal CORS', (dialect) => {
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_CORS_ORIGINS: origin } });
    await seedCatalog(server);
    const { id } = await seedCustomer(server, { plan: 'free' });
    ({ token } = expectStatus<PortalLink>(
      await server.request({ method: 'POST', url: '/v1/portal-sessions', body: { customer: id } }),
      201,
    ));
  });
  afterAll(() => server.close());

  const preflight = (url: string) =>
    server.request({
      method: 'OPTIONS',
      url,
      headers: {
        authorization: undefined,
        origin,
        'access-control-request-method': url === '/v1/portal' ? 'GET' : 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });

  it('answers preflights for the portal view and its changes, for the allowed origin', async () => {
    for (const url of [
      '/v1/portal',
      '/v1/portal/preview',
      '/v1/portal/change',
      '/v1/portal/add-ons',
      '/v1/portal/cancel',
      '/v1/portal/undo-cancel',
    ]) {
      const response = await preflight(url);
      expect(response.statusCode, url).toBe(204);
      expect(response.headers['access-control-allow-origin'], url).toBe(origin);
      expect(String(response.headers['access-control-allow-headers']).toLowerCase()).toContain('authorization');
      expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    }
  });

  it('is no browser route for the cookie exchange or the admin link route', async () => {
    for (const url of ['/v1/portal/session', '/v1/portal-sessions']) {
      const response = await preflight(url);
      expect(response.statusCode, url).toBe(404);
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
    }
  });

  it('lets the page read the view it asked for with the portal token', async () => {
    const response = await server.request({
      method: 'GET',
      url: '/v1/portal',
      headers: { authorization: `Bearer ${token}`, origin },
    });
    expect(expectStatus<PortalView>(response, 200).plans.length).toBeGreaterThan(0);
    expect(response.headers['access-control-allow-origin']).toBe(origin);
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });
});
