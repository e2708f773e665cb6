import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check, expectStatus, seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestResponse, type TestServer } from '../test-support/server.js';
import { version } from '../version.js';

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: { in: string; name: string; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema: object }> }>;
}
interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  components: { securitySchemes: Record<string, unknown> };
  paths: Record<string, Record<string, Operation>>;
}

/** Every /v1 route of SPEC's table that the server has, plus the ones it adds. */
const v1Routes = [
  'POST /v1/features',
  'GET /v1/features',
  'GET /v1/features/{key}',
  'PATCH /v1/features/{key}',
  'POST /v1/plans',
  'GET /v1/plans',
  'GET /v1/plans/{key}',
  'PATCH /v1/plans/{key}',
  'POST /v1/plans/{key}/publish',
  'GET /v1/plans/{key}/versions',
  'POST /v1/plans/{key}/archive',
  'PUT /v1/customers/{id}',
  'GET /v1/customers/{id}',
  'GET /v1/customers',
  'DELETE /v1/customers/{id}',
  'POST /v1/customers/{id}/subscriptions',
  'GET /v1/customers/{id}/subscriptions',
  'GET /v1/subscriptions/{id}',
  'POST /v1/subscriptions/{id}/cancel',
  'POST /v1/customers/{id}/grants',
  'GET /v1/customers/{id}/grants',
  'DELETE /v1/grants/{id}',
  'GET /v1/customers/{id}/entitlements',
  'GET /v1/customers/{id}/usage',
  'POST /v1/check',
  'POST /v1/api-keys',
  'GET /v1/api-keys',
  'POST /v1/api-keys/{id}/roll',
  'DELETE /v1/api-keys/{id}',
  'POST /v1/customer-tokens',
  'GET /v1/stream',
];

describeEachDialect('OpenAPI document', (dialect) => {
  let server: TestServer;
  let doc: OpenApiDocument;
  let operations: { route: string; operation: Operation }[];
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    const response = await server.request({
      method: 'GET',
      url: '/openapi.json',
      headers: { authorization: undefined },
    });
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    doc = expectStatus<OpenApiDocument>(response, 200);
    operations = Object.entries(doc.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, operation]) => ({ route: `${method.toUpperCase()} ${path}`, operation })),
    );
  });
  afterAll(() => server.close());

  it('is OpenAPI 3.1 describing this build, with a bearer security scheme', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: 'Keymaster API', version });
    expect(doc.components.securitySchemes.bearerAuth).toEqual({ type: 'http', scheme: 'bearer' });
  });

  it('contains every /v1 route', () => {
    const documented = operations.map((o) => o.route);
    for (const route of v1Routes) expect(documented, route).toContain(route);
  });

  it('gives every /v1 operation a summary, tags and the bearer requirement with its scope', () => {
    // The console's sign-in and its one-time links need no credential: the password or the link's token is.
    const anonymous = [
      'POST /v1/sessions',
      'POST /v1/invitations/accept',
      'POST /v1/password-resets/accept',
      'POST /v1/setup',
      // The portal link's token opens the portal session.
      'POST /v1/portal/session',
      'GET /v1/sessions/providers',
    ];
    for (const route of anonymous) {
      expect(operations.find((o) => o.route === route)?.operation.security, route).toEqual([]);
    }
    // The customer portal's routes take a portal session: its cookie, or its token as a bearer.
    const portal = (route: string) => /^\w+ \/v1\/portal(\/|$)/.test(route);
    const v1 = operations.filter((o) => o.route.split(' ')[1]?.startsWith('/v1/') && !anonymous.includes(o.route));
    expect(v1.length).toBeGreaterThanOrEqual(v1Routes.length);
    expect(v1.filter((o) => portal(o.route)).length).toBeGreaterThan(5);
    for (const { route, operation } of v1) {
      expect(operation.summary?.trim(), route).toBeTruthy();
      expect(operation.tags?.length, route).toBeGreaterThan(0);
      // An API key's route names the one scope it needs (modules/api-keys/scopes.test.ts holds the server to it).
      expect(operation.security, route).toEqual(
        portal(route) ? [{ portalCookie: [] }, { bearerAuth: [] }] : [{ bearerAuth: [expect.any(String)] }],
      );
    }
  });

  it('documents every path parameter, a success answer and the problem answers of each /v1 operation', () => {
    for (const { route, operation } of operations.filter((o) => o.route.includes(' /v1/'))) {
      const names = [...route.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      const declared = (operation.parameters ?? []).filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), route).toEqual(names.sort());
      expect(
        declared.every((p) => p.required),
        route,
      ).toBe(true);
      expect(
        Object.keys(operation.responses).some((status) => status.startsWith('2')),
        route,
      ).toBe(true);
      for (const status of ['400', '401']) {
        expect(Object.keys(operation.responses[status]?.content ?? {}), `${route} ${status}`).toEqual([
          'application/problem+json',
        ]);
      }
    }
  });

  it('leaves operational routes out', () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) expect(doc.paths[path]).toBeUndefined();
  });

  describe('matches what the server answers', () => {
    const ajv = addFormats.default(new Ajv.default({ strict: false, allErrors: true }));
    const expectDocumented = (response: TestResponse, route: string) => {
      const [method = '', path = ''] = route.split(' ');
      const documented = doc.paths[path]?.[method.toLowerCase()]?.responses[String(response.statusCode)];
      expect(documented, `${route} ${response.statusCode} is documented`).toBeDefined();
      const type = String(response.headers['content-type']).split(';')[0] ?? '';
      const schema = documented?.content?.[type]?.schema;
      expect(schema, `${route} ${response.statusCode} ${type} has a schema`).toBeDefined();
      const validate = ajv.compile(schema as object);
      expect(validate(response.json()), `${route}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    };

    it('for successes and problems alike', async () => {
      await seedCatalog(server);
      const { id, subscription } = await seedCustomer(server, { plan: 'pro' });
      await check(server, { customer: id, feature: 'sso' });
      const get = (url: string) => server.request({ method: 'GET', url });
      expectDocumented(await get('/v1/features/sso'), 'GET /v1/features/{key}');
      expectDocumented(await get('/v1/features?limit=2'), 'GET /v1/features');
      expectDocumented(await get('/v1/plans/pro'), 'GET /v1/plans/{key}');
      expectDocumented(await get(`/v1/customers/${id}`), 'GET /v1/customers/{id}');
      expectDocumented(await get(`/v1/customers/${id}/subscriptions`), 'GET /v1/customers/{id}/subscriptions');
      expectDocumented(await get(`/v1/subscriptions/${subscription!.id}`), 'GET /v1/subscriptions/{id}');
      expectDocumented(await get(`/v1/customers/${id}/entitlements`), 'GET /v1/customers/{id}/entitlements');
      expectDocumented(await get(`/v1/customers/${id}/usage?feature=api_calls`), 'GET /v1/customers/{id}/usage');
      expectDocumented(await get(`/v1/customers/${id}/usage?feature=seats`), 'GET /v1/customers/{id}/usage');
      expectDocumented(
        await server.request({ method: 'POST', url: '/v1/check', body: { customer: id, feature: 'api_calls' } }),
        'POST /v1/check',
      );
      expectDocumented(
        await server.request({
          method: 'POST',
          url: '/v1/check',
          body: { customer: id, feature: 'sso', quantity: -1 },
        }),
        'POST /v1/check',
      );
      expectDocumented(await get('/v1/features/nope'), 'GET /v1/features/{key}');
      expectDocumented(
        await server.request({ method: 'GET', url: '/v1/features', headers: { authorization: undefined } }),
        'GET /v1/features',
      );
      expectDocumented(
        await server.request({ method: 'POST', url: '/v1/plans/pro/publish', body: { version: 1 } }),
        'POST /v1/plans/{key}/publish',
      );
    });
  });

  it('serves the interactive docs as HTML at /docs, without a key', async () => {
    const response = await server.request({ method: 'GET', url: '/docs', headers: { authorization: undefined } });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.body).toMatch(/<html/i);
    expect(response.body).toMatch(/swagger/i);
  });
});
