import { type ApiKeyCreated, type ApiKeyScope, ApiKeyScopes } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

/**
 * The route table of scopes, generated from `/openapi.json`: every operation a key opens declares
 * the scope it needs, and the server holds every key to it — a key with only that scope (or one
 * that includes it) gets through, every other single-scope key is refused with 403 `forbidden`
 * naming the scope. A new route gets its scope from the same table the server enforces, so it is
 * tested here the moment it is documented.
 */

/** What each scope includes besides itself, as docs/security.md says. `admin` includes everything. */
const includes: Partial<Record<ApiKeyScope, readonly ApiKeyScope[]>> = {
  'catalog:write': ['catalog:read'],
  'customers:read': ['usage:read'],
  'customers:write': ['customers:read', 'usage:read'],
  'usage:write': ['usage:read'],
  'reports:write': ['reports:read'],
  'webhooks:write': ['webhooks:read'],
};
const grants = (held: ApiKeyScope, needed: ApiKeyScope) =>
  held === 'admin' || held === needed || (includes[held] ?? []).includes(needed);

interface Operation {
  security?: Record<string, string[]>[];
}

describeEachDialect('API key scopes, route by route', (dialect) => {
  let server: TestServer;
  let base: string;
  const keys = new Map<ApiKeyScope, string>();
  let operations: { method: string; path: string; scope: string }[] = [];

  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_TEST_CLOCK: 'true' } });
    base = await server.listen();
    for (const scope of ApiKeyScopes) {
      const key = expectStatus<ApiKeyCreated>(
        await server.request({ method: 'POST', url: '/v1/api-keys', body: { name: scope, scopes: [scope] } }),
        201,
      );
      keys.set(scope, key.secret);
    }
    const doc = expectStatus<{ paths: Record<string, Record<string, Operation>> }>(
      await server.request({ method: 'GET', url: '/openapi.json' }),
      200,
    );
    operations = Object.entries(doc.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).flatMap(([method, operation]) => {
        const bearer = operation.security?.find((requirement) => 'bearerAuth' in requirement)?.bearerAuth;
        // Portal routes take the portal session's token as their bearer, never a key.
        if (bearer === undefined || path.startsWith('/v1/portal/') || path === '/v1/portal') return [];
        expect(bearer, `${method} ${path}`).toHaveLength(1);
        return [{ method: method.toUpperCase(), path, scope: bearer[0]! }];
      }),
    );
  });
  afterAll(() => server.close());

  /** The status a key gets: path parameters filled with an id nothing has, writes with an empty body. */
  async function statusOf(
    op: { method: string; path: string },
    secret: string,
  ): Promise<{ status: number; body: string }> {
    const url = op.path.replace(/\{[^}]+\}/g, 'nothing-here');
    const headers = { authorization: `Bearer ${secret}` };
    if (op.path === '/v1/stream') {
      // A stream that is let in stays open: read its status over a real socket, then hang up.
      const aborted = new AbortController();
      const response = await fetch(`${base}${url}`, { headers, signal: aborted.signal });
      const body = response.status === 200 ? '' : await response.text();
      aborted.abort();
      return { status: response.status, body };
    }
    const writes = op.method === 'POST' || op.method === 'PUT' || op.method === 'PATCH';
    const response = await server.request({
      method: op.method as 'GET',
      url,
      ...(writes ? { body: {} } : {}),
      headers,
    });
    return { status: response.statusCode, body: response.body };
  }

  it('declares a known scope for every operation a key opens, the check path included', () => {
    expect(operations.length).toBeGreaterThan(80);
    for (const op of operations) expect(ApiKeyScopes, `${op.method} ${op.path}`).toContain(op.scope);
    const scopeOf = (method: string, path: string) =>
      operations.find((o) => o.method === method && o.path === path)?.scope;
    expect(scopeOf('POST', '/v1/check')).toBe('check');
    expect(scopeOf('POST', '/v1/consume')).toBe('usage:write');
    expect(scopeOf('POST', '/ofrep/v1/evaluate/flags/{key}')).toBe('check');
    expect(scopeOf('POST', '/v1/customer-tokens')).toBe('check');
    expect(scopeOf('GET', '/v1/api-keys')).toBe('admin');
  });

  it('lets in exactly the keys whose scopes include the declared one, and refuses the rest naming it', async () => {
    const wrong: string[] = [];
    for (const op of operations) {
      for (const held of ApiKeyScopes) {
        const { status, body } = await statusOf(op, keys.get(held)!);
        const allowed = grants(held, op.scope as ApiKeyScope);
        const refused = status === 403 && body.includes('"code":"forbidden"');
        if (allowed && (refused || status === 401))
          wrong.push(`${op.method} ${op.path}: ${held} was refused (${status})`);
        if (!allowed && !(refused && body.includes(`\\"${op.scope}\\" scope`))) {
          wrong.push(`${op.method} ${op.path}: ${held} got ${status}, not 403 forbidden naming "${op.scope}"`);
        }
      }
    }
    expect(wrong).toEqual([]);
  }, 120_000);

  it('opens the Prometheus metrics (not in the document) to metrics:read and admin only', async () => {
    for (const held of ApiKeyScopes) {
      const response = await server.request({
        method: 'GET',
        url: '/metrics',
        headers: { authorization: `Bearer ${keys.get(held)}` },
      });
      expect(response.statusCode, held).toBe(held === 'admin' || held === 'metrics:read' ? 200 : 403);
    }
  });
});
