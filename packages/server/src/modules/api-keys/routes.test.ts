import type { ApiKey, ApiKeyCreated } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, nowIso } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

describeEachDialect('api keys routes', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
  });
  afterAll(() => server.close());

  const createKey = async (name?: string) =>
    expectStatus<ApiKeyCreated>(
      await server.request({ method: 'POST', url: '/v1/api-keys', body: name === undefined ? {} : { name } }),
      201,
    );
  const as = (secret: string) => ({ authorization: `Bearer ${secret}` });
  const listAll = async () => {
    const keys: Record<string, unknown>[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 50; pages++) {
      const url: string = `/v1/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = expectStatus<{ data: Record<string, unknown>[]; has_more: boolean; next_cursor: string | null }>(
        await server.request({ method: 'GET', url }),
        200,
      );
      expect(page.has_more).toBe(page.next_cursor !== null);
      keys.push(...page.data);
      if (!page.has_more) return keys;
      cursor = page.next_cursor;
    }
    throw new Error('the cursor never ended');
  };

  describe('POST /v1/api-keys', () => {
    it('creates a key: the secret is in this answer, with exactly the documented fields', async () => {
      const key = await createKey('CI deploys');
      expect(key).toEqual({
        id: expect.stringMatching(/^key_[0-9a-z]{26}$/),
        name: 'CI deploys',
        prefix: key.secret.slice(0, 12),
        created_at: nowIso(server),
        last_used_at: null,
        revoked_at: null,
        secret: expect.stringMatching(/^km_sk_[0-9A-Za-z]{32}$/),
      });
      expect(key.prefix).toMatch(/^km_sk_[0-9A-Za-z]{6}$/);
      expect((await createKey()).name).toBeNull();
    });

    it('hands out a secret that works at once', async () => {
      const { secret } = await createKey('works');
      expectStatus(await server.request({ method: 'GET', url: '/v1/features', headers: as(secret) }), 200);
      // A key created with another key can create keys too: every key is an admin key for now.
      const { secret: child } = expectStatus<ApiKeyCreated>(
        await server.request({ method: 'POST', url: '/v1/api-keys', body: {}, headers: as(secret) }),
        201,
      );
      expectStatus(await server.request({ method: 'GET', url: '/v1/features', headers: as(child) }), 200);
    });

    it.each([
      ['an empty name', { name: '' }, '/name'],
      ['a name that is a number', { name: 7 }, '/name'],
      ['an unknown field', { name: 'x', scopes: ['read'] }, '/scopes'],
    ])('refuses %s with 400', async (_name, body, path) => {
      // By id: an earlier test's key may have its last use recorded in between.
      const ids = async () => (await listAll()).map((key) => key.id);
      const before = await ids();
      expectProblem(await server.request({ method: 'POST', url: '/v1/api-keys', body }), {
        status: 400,
        code: 'validation_failed',
        path,
      });
      expect(await ids()).toEqual(before);
    });
  });

  describe('GET /v1/api-keys', () => {
    it('lists every key once, by prefix only: never the secret or its hash', async () => {
      const created = [await createKey('one'), await createKey('two'), await createKey('three')];
      const listed = await listAll();
      for (const key of created) {
        const { secret, ...shown } = key;
        expect(listed.filter((k) => k.id === key.id)).toEqual([shown]);
        expect(JSON.stringify(listed)).not.toContain(secret);
      }
      for (const key of listed) {
        expect(Object.keys(key).sort()).toEqual(['created_at', 'id', 'last_used_at', 'name', 'prefix', 'revoked_at']);
      }
      expect(new Set(listed.map((k) => k.id)).size).toBe(listed.length);
    });
  });

  describe('DELETE /v1/api-keys/{id}', () => {
    it('revokes by id: the key stops working on the very next request', async () => {
      const key = await createKey('to revoke');
      expectStatus(await server.request({ method: 'GET', url: '/v1/features', headers: as(key.secret) }), 200);
      const revoked = expectStatus<ApiKey>(
        await server.request({ method: 'DELETE', url: `/v1/api-keys/${key.id}` }),
        200,
      );
      const { secret: _secret, ...shown } = key;
      // last_used_at is advisory, written in the background: not compared.
      expect({ ...revoked, last_used_at: null }).toEqual({ ...shown, revoked_at: nowIso(server) });
      expectProblem(await server.request({ method: 'GET', url: '/v1/features', headers: as(key.secret) }), {
        status: 401,
        code: 'unauthenticated',
      });
      expect((await listAll()).find((k) => k.id === key.id)).toMatchObject({ revoked_at: nowIso(server) });
    });

    it('revokes by the listed prefix, and a key can revoke itself', async () => {
      const key = await createKey('self');
      expectStatus(
        await server.request({ method: 'DELETE', url: `/v1/api-keys/${key.prefix}`, headers: as(key.secret) }),
        200,
      );
      expectProblem(await server.request({ method: 'GET', url: '/v1/features', headers: as(key.secret) }), {
        status: 401,
        code: 'unauthenticated',
      });
    });

    it('answers 404 api_key_not_found for a key it does not know', async () => {
      expectProblem(await server.request({ method: 'DELETE', url: '/v1/api-keys/key_nope' }), {
        status: 404,
        code: 'api_key_not_found',
      });
    });
  });
});
