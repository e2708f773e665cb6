import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, grantBody, seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestServer, testAdminKey } from '../test-support/server.js';

interface HostileCase {
  name: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** The OFREP `errorCode` the OFREP routes must refuse it with (400). */
  ofrep?: 'PARSE_ERROR' | 'INVALID_CONTEXT';
}

interface Answer {
  status: number;
  type: string;
  body: string;
}

const json = { 'content-type': 'application/json' };
const deep = (depth: number, inner = '') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

/**
 * What an attacker (or a fuzzer generated from /openapi.json) sends. Each goes to every route of
 * the document, over a real socket, so the checks and consumes the fast handler serves before
 * Fastify are covered as well as the routes Fastify serves.
 */
const cases: HostileCase[] = [
  { name: 'truncated JSON', body: '{"customer": "acme", "feat', headers: json, ofrep: 'PARSE_ERROR' },
  { name: 'a lone brace', body: '{', headers: json, ofrep: 'PARSE_ERROR' },
  { name: 'a __proto__ key', body: '{"__proto__":{"admin":true}}', headers: json, ofrep: 'PARSE_ERROR' },
  {
    name: 'a nested __proto__ key',
    body: '{"context":{"__proto__":{"admin":true}}}',
    headers: json,
    ofrep: 'PARSE_ERROR',
  },
  {
    name: 'constructor.prototype',
    body: '{"constructor":{"prototype":{"admin":true}}}',
    headers: json,
    ofrep: 'PARSE_ERROR',
  },
  { name: 'an array body', body: '[]', headers: json, ofrep: 'INVALID_CONTEXT' },
  { name: 'nested empty arrays', body: '[[[[]]]]', headers: json, ofrep: 'INVALID_CONTEXT' },
  { name: 'a string body', body: '"hello"', headers: json, ofrep: 'INVALID_CONTEXT' },
  { name: 'a number body', body: '42', headers: json, ofrep: 'INVALID_CONTEXT' },
  { name: 'a boolean body', body: 'true', headers: json, ofrep: 'INVALID_CONTEXT' },
  { name: 'a null body', body: 'null', headers: json },
  { name: 'a context of nested arrays', body: '{"context":[[[[]]]]}', headers: json, ofrep: 'INVALID_CONTEXT' },
  { name: 'a string context', body: '{"context":"hello"}', headers: json, ofrep: 'INVALID_CONTEXT' },
  { name: 'a null context', body: '{"context":null}', headers: json, ofrep: 'INVALID_CONTEXT' },
  { name: 'plain text', body: 'hello', headers: { 'content-type': 'text/plain' }, ofrep: 'INVALID_CONTEXT' },
  { name: 'XML', body: '<a/>', headers: { 'content-type': 'application/xml' } },
  { name: 'a form', body: 'a=1&b=2', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
  { name: 'multipart', body: '--x\r\n\r\n--x--', headers: { 'content-type': 'multipart/form-data; boundary=x' } },
  { name: 'a nonsense media type', body: '{}', headers: { 'content-type': '%%%' } },
  { name: 'JSON in UTF-16', body: '{}', headers: { 'content-type': 'application/json; charset=utf-16' } },
  { name: 'invalid UTF-8', body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), headers: json },
  { name: 'an empty Idempotency-Key', body: '{}', headers: { ...json, 'idempotency-key': '' } },
  { name: 'a 10 kB Idempotency-Key', body: '{}', headers: { ...json, 'idempotency-key': 'k'.repeat(10_240) } },
  { name: 'an Idempotency-Key on a truncated body', body: '{"a', headers: { ...json, 'idempotency-key': 'k1' } },
  { name: 'a huge number', body: '{"quantity":1e400,"limit":1e400,"amount":1e400}', headers: json },
  { name: 'a long integer', body: `{"quantity":${'9'.repeat(400)},"limit":${'9'.repeat(400)}}`, headers: json },
  { name: 'a negative huge number', body: '{"quantity":-1e400,"version":-1e400}', headers: json },
  // Past the parser's depth limit (64): refused as malformed before any schema sees them.
  { name: 'deeply nested arrays', body: deep(10_000), headers: json, ofrep: 'PARSE_ERROR' },
  {
    name: 'a deeply nested context',
    body: `{"context":{"a":${deep(5_000, '1')}}}`,
    headers: json,
    ofrep: 'PARSE_ERROR',
  },
  // Within it, past a context's own (32): the schema refuses it.
  {
    name: 'a context nested past its schema',
    body: `{"context":{"a":${deep(40, '1')}}}`,
    headers: json,
    ofrep: 'INVALID_CONTEXT',
  },
  { name: 'a NUL character', body: '{"customer":"a\\u0000b","key":"a\\u0000b","name":"\\u0000"}', headers: json },
  { name: 'a lone surrogate', body: '{"customer":"\\ud800","feature":"\\udfff","name":"\\ud800"}', headers: json },
];

/** Sends one request over a fresh connection; a stream that opens is closed once its head arrived. */
function send(input: { port: number; method: string; path: string; test: HostileCase }): Promise<Answer> {
  const { test } = input;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${testAdminKey}`, ...test.headers };
    if (test.body !== undefined) headers['content-length'] = Buffer.byteLength(test.body);
    const req = httpRequest(
      { host: '127.0.0.1', port: input.port, method: input.method, path: input.path, headers, agent: false },
      (res) => {
        const type = String(res.headers['content-type'] ?? '');
        if (type.startsWith('text/event-stream')) {
          res.destroy();
          resolve({ status: res.statusCode ?? 0, type, body: '' });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${input.method} ${input.path}: no answer in 10 s`)));
    req.end(test.body);
  });
}

/** Why an answer breaks the rules (a 5xx, or an error body not in the route's format), or null. */
function violation(input: {
  route: string;
  path: string;
  answer: Answer;
  expected: HostileCase['ofrep'];
}): string | null {
  const { route, answer } = input;
  if (answer.status >= 500) return `answered ${answer.status}: ${answer.body.slice(0, 300)}`;
  if (answer.status < 400 && !(route.includes('/ofrep/') && input.expected)) return null;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    return `answered ${answer.status} with a body that is not JSON: ${answer.body.slice(0, 300)}`;
  }
  // OFREP answers malformed input in its own shape; authentication failures are problems there too.
  const ofrep = route.includes('/ofrep/') && answer.status !== 401 && answer.status !== 403;
  if (ofrep) {
    if (input.expected !== undefined && (answer.status !== 400 || body.errorCode !== input.expected))
      return `answered ${answer.status} ${answer.body.slice(0, 300)}, not 400 ${input.expected}`;
    if (!answer.type.startsWith('application/json')) return `answered ${answer.status} as ${answer.type}`;
    if (typeof body.errorCode !== 'string') return `answered ${answer.status} without errorCode: ${answer.body}`;
    if (typeof body.errorDetails !== 'string') return `answered ${answer.status} without errorDetails: ${answer.body}`;
    if (route.includes('{key}') && body.key !== input.path.split('/').at(-1))
      return `answered ${answer.status} without the flag's key: ${answer.body}`;
    return null;
  }
  if (!answer.type.startsWith('application/problem+json')) return `answered ${answer.status} as ${answer.type}`;
  if (typeof body.code !== 'string' || body.status !== answer.status || typeof body.request_id !== 'string')
    return `answered ${answer.status} with a body that is not a problem document: ${answer.body.slice(0, 300)}`;
  return null;
}

describeEachDialect('hostile input to every route of /openapi.json, over a socket', (dialect) => {
  let server: TestServer;
  let port: number;
  let routes: { method: string; route: string; path: string }[];
  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_TEST_CLOCK: 'true' } });
    await seedCatalog(server);
    const { id: customer, subscription } = await seedCustomer(server, { plan: 'pro' });
    const grant = expectStatus<{ id: string }>(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${customer}/grants`,
        body: grantBody({ feature: 'api_calls', mode: 'add', limit: 5 }),
      }),
      201,
    );
    // Real ids, so a request that gets past the input checks reaches the service.
    const ids: [RegExp, string][] = [
      [/^\/ofrep\/.*\{key\}/, 'sso'],
      [/^\/v1\/features\/\{key\}/, 'sso'],
      [/^\/v1\/plans\/\{key\}/, 'pro'],
      [/^\/v1\/customers\/\{id\}/, customer],
      [/^\/v1\/subscriptions\/\{id\}/, subscription!.id],
      [/^\/v1\/grants\/\{id\}/, grant.id],
      [/^\/v1\/api-keys\/\{id\}/, 'key_nope'],
      [/^\/v1\/reservations\/\{id\}/, 'rsv_nope'],
    ];
    const doc = expectStatus<{ paths: Record<string, Record<string, unknown>> }>(
      await server.request({ method: 'GET', url: '/openapi.json' }),
      200,
    );
    routes = Object.entries(doc.paths).flatMap(([route, methods]) =>
      Object.keys(methods).map((method) => {
        const value = ids.find(([pattern]) => pattern.test(route))?.[1] ?? 'x';
        // Erasing the seeded customer would leave every later request a 404: erase another.
        const id = method === 'delete' && route === '/v1/customers/{id}' ? 'cus_hostile' : value;
        return { method: method.toUpperCase(), route, path: route.replace(/\{\w+\}/g, id) };
      }),
    );
    port = Number(new URL(await server.listen()).port);
  });
  afterAll(() => server.close());

  it('walks the whole document, the fast-path routes included', () => {
    const names = routes.map((r) => `${r.method} ${r.route}`);
    expect(names.length).toBeGreaterThanOrEqual(45);
    for (const route of [
      'POST /v1/check',
      'POST /v1/consume',
      'POST /v1/features',
      'POST /ofrep/v1/evaluate/flags/{key}',
      'POST /ofrep/v1/evaluate/flags',
    ]) {
      expect(names).toContain(route);
    }
  });

  it.each(cases)('$name: never a 5xx, and errors in the format of the route', async (test) => {
    const broken: string[] = [];
    for (const { method, route, path } of routes) {
      const answer = await send({ port, method, path, test });
      const problem = violation({ route, path, answer, expected: test.ofrep });
      if (problem) broken.push(`${method} ${route} ${problem}`);
    }
    expect(broken).toEqual([]);
  });
});
