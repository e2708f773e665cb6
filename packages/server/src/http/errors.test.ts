import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, featureBody, grantBody, planBody, seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { expectProblem } from '../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../test-support/server.js';
import { storedState } from '../test-support/stored-state.js';

const json = { 'content-type': 'application/json' };

describeEachDialect('bad input', (dialect) => {
  let server: TestServer;
  let customer: string;
  let subscription: string;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
    const seeded = await seedCustomer(server, { plan: 'pro' });
    customer = seeded.id;
    subscription = seeded.subscription!.id;
  });
  afterAll(() => server.close());

  describe('bodies that are not what the route takes', () => {
    it('malformed JSON: 400 malformed_request, nothing stored', async () => {
      const before = await storedState(server);
      for (const body of ['{bad', '{"key": "x",}', "{'key': 'x'}", '{"key": "x"', '\u0000']) {
        expectProblem(await server.request({ method: 'POST', url: '/v1/features', body, headers: json }), {
          status: 400,
          code: 'malformed_request',
        });
      }
      expect(await storedState(server)).toEqual(before);
    });

    it.each(['[]', '"feature"', '42', 'true', '[{"key":"x","name":"X","type":"boolean"}]'])(
      'JSON that is not an object (%s): 400 naming the whole body',
      async (body) => {
        expectProblem(await server.request({ method: 'POST', url: '/v1/features', body, headers: json }), {
          status: 400,
          code: 'validation_failed',
          path: '/',
        });
      },
    );

    it('an empty body where one is required: 400 naming every required field', async () => {
      const problem = expectProblem(
        await server.request({ method: 'POST', url: '/v1/features', body: '', headers: json }),
        {
          status: 400,
          code: 'validation_failed',
        },
      );
      expect(problem.errors?.map((e) => e.path).sort()).toEqual(['/key', '/name', '/type']);
    });

    it('a media type other than JSON: 415 unsupported_media_type', async () => {
      for (const type of ['application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']) {
        expectProblem(
          await server.request({
            method: 'POST',
            url: '/v1/features',
            body: 'key=x',
            headers: { 'content-type': type },
          }),
          { status: 415, code: 'unsupported_media_type' },
        );
      }
    });

    it('plain text: refused, never stored', async () => {
      const before = await storedState(server);
      const response = await server.request({
        method: 'POST',
        url: '/v1/features',
        body: 'sso',
        headers: { 'content-type': 'text/plain' },
      });
      expect([400, 415]).toContain(response.statusCode);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(await storedState(server)).toEqual(before);
    });

    it('a body over 1 MiB: 413 payload_too_large, nothing stored; just under the limit is fine', async () => {
      const before = await storedState(server);
      const oversized = JSON.stringify({ traits: { blob: 'x'.repeat(1024 * 1024) } });
      expectProblem(await server.request({ method: 'PUT', url: '/v1/customers/big', body: oversized, headers: json }), {
        status: 413,
        code: 'payload_too_large',
      });
      expect(await storedState(server)).toEqual(before);
      const justUnder = JSON.stringify({ traits: { blob: 'x'.repeat(1024 * 1024 - 100) } });
      expect(Buffer.byteLength(justUnder)).toBeLessThan(1024 * 1024);
      expectStatus(
        await server.request({ method: 'PUT', url: '/v1/customers/big', body: justUnder, headers: json }),
        201,
      );
    });

    it('prototype pollution attempts: 400, never stored', async () => {
      const before = await storedState(server);
      for (const body of [
        '{"traits":{"__proto__":{"admin":true}}}',
        '{"traits":{"constructor":{"prototype":{"a":1}}}}',
      ]) {
        const response = await server.request({ method: 'PUT', url: '/v1/customers/proto', body, headers: json });
        expect(response.statusCode, response.body).toBe(400);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
      expect(await storedState(server)).toEqual(before);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    });
  });

  describe('fields', () => {
    it.each([
      ['POST', '/v1/features', { ...featureBody(), colour: 'red' }, '/colour'],
      [
        'POST',
        '/v1/plans',
        planBody({ entitlements: [{ feature: 'sso', colour: 'red' } as never] }),
        '/entitlements/0/colour',
      ],
      [
        'POST',
        '/v1/plans',
        { ...planBody(), price: { amount: 1, currency: 'usd', interval: 'month', tax: 1 } },
        '/price/tax',
      ],
      ['PUT', '/v1/customers/fields', { name: 'A', plan: 'pro' }, '/plan'],
      ['POST', '/v1/check', { customer: 'a', feature: 'sso', user: 'u' }, '/user'],
      ['PATCH', '/v1/plans/pro', { status: 'archived' }, '/status'],
    ] as const)('an unknown field: %s %s answers 400 naming %s', async (method, url, body, path) => {
      const before = await storedState(server);
      expectProblem(await server.request({ method, url, body }), { status: 400, code: 'validation_failed', path });
      expect(await storedState(server)).toEqual(before);
    });

    it.each([
      [
        'POST',
        '/v1/plans',
        planBody({ entitlements: [{ feature: 'api_calls', limit: '5' as never }] }),
        '/entitlements/0/limit',
      ],
      ['POST', '/v1/plans', planBody({ trial_days: '14' as never }), '/trial_days'],
      [
        'POST',
        '/v1/plans',
        planBody({ price: { amount: '4900' as never, currency: 'usd', interval: 'month' } }),
        '/price/amount',
      ],
      ['POST', '/v1/check', { customer: 'a', feature: 'sso', quantity: '5' }, '/quantity'],
      ['POST', '/v1/features', featureBody({ name: 5 as never }), '/name'],
      ['POST', '/v1/features', featureBody({ status: true as never }), '/status'],
      ['PUT', '/v1/customers/types', { name: ['A'] }, '/name'],
      ['POST', '/v1/plans/pro/publish', { version: '1' }, '/version'],
    ] as const)('a wrong type: %s %s answers 400 naming %s', async (method, url, body, path) => {
      const before = await storedState(server);
      expectProblem(await server.request({ method, url, body }), { status: 400, code: 'validation_failed', path });
      expect(await storedState(server)).toEqual(before);
    });

    it('names every offending field at once', async () => {
      const problem = expectProblem(
        await server.request({
          method: 'POST',
          url: '/v1/plans',
          body: { key: 'Bad Key', name: '', entitlements: [{ feature: 'sso', limit: 'x' }], extra: 1 },
        }),
        { status: 400, code: 'validation_failed' },
      );
      expect(problem.errors?.map((e) => e.path).sort()).toEqual(['/entitlements/0/limit', '/extra', '/key', '/name']);
      for (const error of problem.errors ?? []) expect(problem.detail).toContain(error.path);
    });

    it('a NUL character anywhere: 400 naming where (PostgreSQL cannot store one)', async () => {
      const before = await storedState(server);
      const cases: [string, string, unknown, string][] = [
        ['POST', '/v1/features', featureBody({ name: 'Single\u0000sign-on' }), '/name'],
        ['PUT', '/v1/customers/nul', { traits: { plan: 'a\u0000' } }, '/traits/plan'],
        ['PUT', '/v1/customers/nul', { traits: { 'a\u0000': 1 } }, '/traits'],
        ['POST', '/v1/check', { customer: 'a\u0000', feature: 'sso' }, '/customer'],
        [
          'POST',
          `/v1/customers/${customer}/grants`,
          grantBody({ feature: 'sso', enabled: true, reason: '\u0000' }),
          '/reason',
        ],
        ['GET', '/v1/customers/a%00', undefined, '/params/id'],
        ['GET', '/v1/features?cursor=%00', undefined, '/querystring/cursor'],
      ];
      for (const [method, url, body, path] of cases) {
        expectProblem(await server.request({ method: method as 'GET', url, body }), {
          status: 400,
          code: 'validation_failed',
          path,
        });
      }
      expect(await storedState(server)).toEqual(before);
    });

    it('nesting deeper than 32 levels: 400, where a deep enough body would overflow the stack', async () => {
      const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
      // Past a field's 32 levels its schema refuses it; past the body's 64, the parser does.
      for (const [depth, code] of [
        [40, 'validation_failed'],
        [100_000, 'malformed_request'],
      ] as const) {
        for (const [method, url, body] of [
          ['PUT', '/v1/customers/deep', `{"traits":{"a":${nested(depth)}}}`],
          ['POST', '/v1/check', `{"customer":"a","feature":"sso","context":{"a":${nested(depth)}}}`],
          ['POST', '/v1/features', `{"key":"deep","name":"Deep","type":"boolean","targeting":${nested(depth)}}`],
        ] as const) {
          expectProblem(await server.request({ method, url, body, headers: json }), { status: 400, code });
        }
      }
      // A realistic rule is nowhere near the limit.
      const rule = {
        if: [{ and: [{ in: [{ var: 'country' }, ['DE']] }, { '>=': [{ var: 'seats' }, 5] }] }, 'on', 'off'],
      };
      expectStatus(
        await server.request({ method: 'POST', url: '/v1/features', body: featureBody({ targeting: rule }) }),
        201,
      );
    });
  });

  describe('routes and URLs', () => {
    it('an unknown route or method: 404 not_found as a problem', async () => {
      for (const [method, url] of [
        ['GET', '/v1/nothing'],
        ['DELETE', '/v1/features'],
        ['POST', '/v1/features/sso'],
        ['GET', '/v2/features'],
      ] as const) {
        expectProblem(await server.request({ method, url }), { status: 404, code: 'not_found' });
      }
    });

    it('a path that is not valid percent-encoding: a 400 problem', async () => {
      expectProblem(await server.request({ method: 'GET', url: '/v1/customers/%ZZ' }), {
        status: 400,
        code: 'malformed_request',
      });
    });
  });

  describe('nothing a client sends is answered with a 5xx', () => {
    const hostile: unknown[] = [
      null,
      true,
      0,
      -1,
      1.5,
      1e308,
      '',
      'x'.repeat(5000),
      '2026-06-30T23:59:60Z',
      [],
      [null],
      {},
      { $ref: '#' },
    ];

    /** Every field of a valid body, replaced by every hostile value in turn. */
    const mutations = (valid: Record<string, unknown>) =>
      Object.keys(valid).flatMap((field) =>
        hostile.map((value) => ({ ...valid, [field]: value }) as Record<string, unknown>),
      );

    const writeRoutes: [string, string, Record<string, unknown>][] = [
      [
        'POST',
        '/v1/features',
        { ...featureBody({ type: 'metered', unit: 'calls' }), meter: { event_type: 'x', aggregation: 'count' } },
      ],
      ['PATCH', '/v1/features/api_calls', { name: 'API calls', unit: 'calls', status: 'active' }],
      [
        'POST',
        '/v1/plans',
        {
          ...planBody({ price: { amount: 1, currency: 'usd', interval: 'month' }, trial_days: 3 }),
          entitlements: [{ feature: 'api_calls', limit: 5, reset: 'day' }],
        },
      ],
      ['PATCH', '/v1/plans/free', { name: 'Free', trial_days: 1, entitlements: [{ feature: 'seats', limit: 1 }] }],
      ['POST', '/v1/plans/free/publish', { version: 1 }],
      ['PUT', '/v1/customers/{customer}', { name: 'Acme', email: 'a@b.example', traits: { country: 'DE' } }],
      [
        'POST',
        '/v1/customers/{customer}/subscriptions',
        {
          plan: 'pro',
          trial_days: 1,
          on_trial_end: 'cancel',
          add_ons: [{ plan: 'extra_seats', quantity: 1 }],
          ends_at: '2027-01-01T00:00:00Z',
          source: 'api',
        },
      ],
      ['POST', '/v1/subscriptions/{subscription}/cancel', { when: 'period_end' }],
      [
        'POST',
        '/v1/customers/{customer}/grants',
        {
          feature: 'api_calls',
          mode: 'add',
          limit: 5,
          starts_at: '2026-02-01T00:00:00Z',
          expires_at: '2026-03-01T00:00:00Z',
          reason: 'x',
        },
      ],
      ['POST', '/v1/check', { customer: 'fuzz', feature: 'api_calls', quantity: 1, context: { country: 'DE' } }],
      ['POST', '/v1/api-keys', { name: 'fuzz', scopes: ['admin'] }],
    ];

    it.each(writeRoutes)('%s %s, with every field replaced by hostile values', async (method, template, valid) => {
      const url = template.replace('{customer}', customer).replace('{subscription}', subscription);
      const answers = new Map<number, number>();
      for (const body of [...mutations(valid), ...hostile]) {
        // The harness throws on any 5xx, naming the request.
        const response = await server.request({ method: method as 'POST', url, body: body ?? 'null', headers: json });
        answers.set(response.statusCode, (answers.get(response.statusCode) ?? 0) + 1);
        if (response.statusCode >= 400) {
          expect(response.headers['content-type'], response.body).toMatch(/^application\/problem\+json/);
        }
      }
      expect([...answers.keys()].every((status) => status < 500)).toBe(true);
      expect(answers.get(400) ?? 0).toBeGreaterThan(0);
    });

    it('hostile path parameters and query strings', async () => {
      const ids = [
        '%20',
        '%C0%AF',
        '..',
        '%2e%2e',
        'x'.repeat(100),
        '%F0%9F%92%A9',
        "'; drop table customers; --",
        '*',
        '%25',
      ];
      for (const id of ids) {
        for (const url of [
          `/v1/customers/${id}`,
          `/v1/customers/${id}/entitlements`,
          `/v1/customers/${id}/grants?limit=1`,
          `/v1/customers/${id}/subscriptions?cursor=${id}`,
          `/v1/features/${id}`,
          `/v1/plans/${id}?version=1`,
          `/v1/subscriptions/${id}`,
        ]) {
          const response = await server.request({ method: 'GET', url });
          expect(response.statusCode, url).toBeLessThan(500);
        }
        expect((await server.request({ method: 'DELETE', url: `/v1/grants/${id}` })).statusCode).toBeLessThan(500);
      }
      // The injection-looking id was only ever data.
      expectStatus(await server.request({ method: 'GET', url: `/v1/customers/${customer}` }), 200);
    });
  });
});
