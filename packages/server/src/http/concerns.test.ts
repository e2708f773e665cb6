import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestServer, testAdminKey } from '../test-support/server.js';
import type { Concern } from './concerns.js';

interface OpenApiDocument {
  paths: Record<string, Record<string, { security?: unknown[] }>>;
}

/** What the probe concern saw of one request, by phase. */
interface Seen {
  onRequest: number;
  preHandler: number;
  onSend: number;
  onResponse: number;
  principal: string | undefined;
}

/**
 * Every route the API documents passes every concern, whichever dispatch serves it (the plain
 * handler of the hot routes or the router): a concern registered once (a probe, through the
 * same list an embedding application would use) sees every route, and the built-in ones —
 * authentication, CORS, the request id, metrics and the access log — hold on every route.
 * The routes come from /openapi.json, so a route added later is covered without a change here.
 */
const stripeSecret = 'whsec_concerns_test_secret';

describeEachDialect('cross-cutting concerns', (dialect) => {
  const origin = 'https://app.example.com';
  const seen = new Map<string, Seen>();
  const lines: string[] = [];
  const probe: Concern = {
    name: 'probe',
    onRequest(exchange) {
      figures(exchange.requestId).onRequest++;
      figures(exchange.requestId).principal = exchange.principal?.keyId;
      return undefined;
    },
    preHandler(exchange) {
      figures(exchange.requestId).preHandler++;
      return undefined;
    },
    onSend(exchange) {
      figures(exchange.requestId).onSend++;
    },
    onResponse(exchange) {
      figures(exchange.requestId).onResponse++;
    },
  };
  const figures = (requestId: string): Seen => {
    let entry = seen.get(requestId);
    if (!entry) {
      entry = { onRequest: 0, preHandler: 0, onSend: 0, onResponse: 0, principal: undefined };
      seen.set(requestId, entry);
    }
    return entry;
  };

  let server: TestServer;
  let base: string;
  /**
   * Every documented operation, with its path's parameters filled in. `signed`: an inbound
   * webhook, documented with no security scheme, whose signature is its credential.
   */
  let operations: {
    method: string;
    template: string;
    url: string;
    signed: boolean;
    anonymous: boolean;
    /** A customer portal route: only a portal session opens it, never an API key. */
    portal: boolean;
  }[];
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      concerns: [probe],
      env: {
        LOG_LEVEL: 'info',
        KEYMASTER_CORS_ORIGINS: origin,
        KEYMASTER_CONTRACTS_WEBHOOK_SECRET: `whsec_${Buffer.from('concerns-test-webhook-secret').toString('base64')}`,
        KEYMASTER_STRIPE_WEBHOOK_SECRET: stripeSecret,
      },
      logs: (line) => lines.push(line),
    });
    await seedCatalog(server);
    await seedCustomer(server, { id: 'acme', plan: 'pro' });
    base = await server.listen();
    const doc = (await server.request({ method: 'GET', url: '/openapi.json' })).json<OpenApiDocument>();
    operations = Object.entries(doc.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, operation]) => ({
        method: method.toUpperCase(),
        signed:
          Array.isArray(operation.security) && operation.security.length === 0 && path.startsWith('/v1/integrations/'),
        // The console's sign-in and one-time links: no credential needed, and `{}` is no sign-in (400).
        anonymous:
          Array.isArray(operation.security) && operation.security.length === 0 && !path.startsWith('/v1/integrations/'),
        portal: JSON.stringify(operation.security) === JSON.stringify([{ portalCookie: [] }, { bearerAuth: [] }]),
        // The router's form of the path, as metrics label it.
        template: path.replace(/\{(\w+)\}/g, ':$1'),
        url: path.replace(/\{(\w+)\}/g, 'acme'),
      })),
    );
  });
  afterAll(() => server.close());

  /** The body of each answer that was not a stream, by request id. */
  const bodies = new Map<string, string>();
  /** Sends one request over a real socket; a stream that opens is closed at once. */
  const send = async (input: { method: string; url: string; id: string; credential?: string }) => {
    const abort = new AbortController();
    const response = await fetch(`${base}${input.url}`, {
      method: input.method,
      headers: {
        'x-request-id': input.id,
        origin,
        ...(input.credential ? { authorization: `Bearer ${input.credential}` } : {}),
        ...(input.method === 'GET' || input.method === 'DELETE' ? {} : { 'content-type': 'application/json' }),
      },
      ...(input.method === 'GET' || input.method === 'DELETE' ? {} : { body: '{}' }),
      signal: abort.signal,
    });
    if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
      abort.abort();
      // The stream's answer is over once the client goes.
      await expect.poll(() => seen.get(input.id)?.onResponse, { timeout: 5000 }).toBe(1);
    } else bodies.set(input.id, await response.text());
    return response;
  };

  it('finds the hot routes and the router’s among the documented ones', () => {
    const routes = operations.map((o) => `${o.method} ${o.template}`);
    expect(routes).toContain('POST /v1/check');
    expect(routes).toContain('POST /v1/consume');
    expect(routes).toContain('GET /v1/customers/:id/entitlements');
    expect(routes.length).toBeGreaterThan(40);
  });

  it('finds the signed webhooks among them', () => {
    const signed = operations.filter((o) => o.signed).map((o) => `${o.method} ${o.template}`);
    expect(signed).toContain('POST /v1/integrations/contracts/webhook');
    expect(signed).toContain('POST /v1/integrations/stripe/webhook');
  });

  it('refuses every documented route without a credential, with the Bearer challenge and a request id', async () => {
    for (const [i, { method, url, signed, anonymous }] of operations.entries()) {
      const id = `anonymous-${i}`;
      const response = await send({ method, url, id });
      const route = `${method} ${url}`;
      if (anonymous) {
        // `{}` is no sign-in (400); the list of sign-in providers needs nothing (200).
        expect(response.status, route).toBe(method === 'GET' ? 200 : 400);
        expect(seen.get(id), route).toMatchObject({ onRequest: 1, onSend: 1, onResponse: 1 });
        continue;
      }
      if (signed) {
        // No key needed: the signature is the credential, and an unsigned body has none.
        expect(response.status, route).toBe(400);
        expect(JSON.parse(bodies.get(id) ?? '{}').code, route).toBe('signature_invalid');
        expect(response.headers.get('x-request-id'), route).toBe(id);
        expect(seen.get(id), route).toMatchObject({ onRequest: 1, onSend: 1, onResponse: 1 });
        continue;
      }
      expect(response.status, route).toBe(401);
      expect(response.headers.get('www-authenticate'), route).toBe('Bearer realm="keymaster"');
      expect(response.headers.get('x-request-id'), route).toBe(id);
      expect(response.headers.get('vary'), route).toBe('Origin');
      // Refused before the body: the probe, registered after authentication, saw only the answer.
      expect(seen.get(id), route).toMatchObject({ onRequest: 0, preHandler: 0, onSend: 1, onResponse: 1 });
    }
  });

  it('runs a concern registered once on every documented route, in every phase, after authentication', async () => {
    for (const [i, { method, url, portal }] of operations.entries()) {
      const id = `probe-${i}`;
      const response = await send({ method, url, id, credential: testAdminKey });
      const route = `${method} ${url}`;
      expect(response.status, route).toBeLessThan(500);
      const figures = seen.get(id);
      if (portal) {
        // An API key is no portal session: refused by authentication, before the probe's request phases.
        expect(response.status, route).toBe(401);
        expect(figures, route).toMatchObject({ onRequest: 0, onSend: 1, onResponse: 1 });
        continue;
      }
      expect(figures?.onRequest, route).toBe(1);
      // A key sent to a signed webhook is still checked (and admits its sender).
      expect(figures?.principal, route).toBe('key_env_admin');
      expect(figures?.onSend, route).toBe(1);
      expect(figures?.onResponse, route).toBe(1);
      // Input that fails its schema is answered before `preHandler`; the rest reach it once.
      expect(figures?.preHandler, route).toBeLessThanOrEqual(1);
    }
  });

  it('counts and logs every documented route once per request, under its declared route', async () => {
    const metrics = (await server.request({ method: 'GET', url: '/metrics' })).body;
    for (const [i, { method, template, signed, anonymous }] of operations.entries()) {
      const status = anonymous && method === 'GET' ? 200 : signed || anonymous ? 400 : 401;
      const label = `keymaster_http_requests_total{method="${method}",route="${template}",status="${status}"}`;
      expect(metrics, label).toContain(label);
      for (const id of [`anonymous-${i}`, `probe-${i}`]) {
        const logged = lines.filter((line) => line.includes(`"reqId":"${id}"`) && line.includes('request completed'));
        expect(logged, `${method} ${template} ${id}`).toHaveLength(1);
      }
    }
  });

  it('gives the browser routes CORS headers on both dispatches, and no other route', async () => {
    const check = await send({ method: 'POST', url: '/v1/check', id: 'cors-check', credential: testAdminKey });
    expect(check.headers.get('access-control-allow-origin')).toBe(origin);
    const entitlements = await send({
      method: 'GET',
      url: '/v1/customers/acme/entitlements',
      id: 'cors-entitlements',
      credential: testAdminKey,
    });
    expect(entitlements.headers.get('access-control-allow-origin')).toBe(origin);
    const features = await send({ method: 'GET', url: '/v1/features', id: 'cors-features', credential: testAdminKey });
    expect(features.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('the request listener', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect: 'sqlite' });
    await server.listen();
  });
  afterAll(() => server.close());

  it('is the dispatch the tests send their requests through', () => {
    expect(server.keymaster.app.server.listeners('request')).toEqual([server.keymaster.app.dispatch]);
  });

  it('is what every test reaches: none calls the router directly but the one comparing the two', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const files = (await readdir(root, { recursive: true })).filter((file) => file.endsWith('.test.ts'));
    // Spelled in two parts so that this file does not match itself.
    const routerCall = ['.app', 'inject('].join('.');
    const direct = [];
    for (const file of files) {
      if (file === join('http', 'dispatch.test.ts')) continue;
      if ((await readFile(join(root, file), 'utf8')).includes(routerCall)) direct.push(file);
    }
    expect(direct).toEqual([]);
  });
});
