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

  const createKey = async (name?: string, more: { scopes?: string[]; expires_at?: string } = {}) =>
    expectStatus<ApiKeyCreated>(
      await server.request({
        method: 'POST',
        url: '/v1/api-keys',
        body: { ...(name === undefined ? {} : { name }), scopes: ['admin'], ...more },
      }),
      201,
    );
  const later = (ms: number) => new Date(server.clock.now() + ms).toISOString();
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
      const expiresAt = later(86_400_000);
      const key = await createKey('CI deploys', { scopes: ['catalog:write', 'check'], expires_at: expiresAt });
      expect(key).toEqual({
        id: expect.stringMatching(/^key_[0-9a-z]{26}$/),
        name: 'CI deploys',
        prefix: key.secret.slice(0, 12),
        scopes: ['catalog:write', 'check'],
        created_at: nowIso(server),
        last_used_at: null,
        expires_at: expiresAt,
        revoked_at: null,
        secret: expect.stringMatching(/^km_sk_[0-9A-Za-z]{32}$/),
      });
      expect(key.prefix).toMatch(/^km_sk_[0-9A-Za-z]{6}$/);
      expect((await createKey()).name).toBeNull();
    });

    it('hands out a secret that works at once', async () => {
      const { secret } = await createKey('works');
      expectStatus(await server.request({ method: 'GET', url: '/v1/features', headers: as(secret) }), 200);
      // An admin key can create keys.
      const { secret: child } = expectStatus<ApiKeyCreated>(
        await server.request({ method: 'POST', url: '/v1/api-keys', body: { scopes: ['admin'] }, headers: as(secret) }),
        201,
      );
      expectStatus(await server.request({ method: 'GET', url: '/v1/features', headers: as(child) }), 200);
    });

    it.each([
      ['an empty name', { name: '', scopes: ['admin'] }, '/name'],
      ['a name that is a number', { name: 7, scopes: ['admin'] }, '/name'],
      ['no scopes', { name: 'x' }, '/scopes'],
      ['an empty list of scopes', { name: 'x', scopes: [] }, '/scopes'],
      ['an unknown scope', { name: 'x', scopes: ['read'] }, '/scopes/0'],
      ['a scope twice', { name: 'x', scopes: ['check', 'check'] }, '/scopes'],
      ['an expiry that is not a time', { scopes: ['check'], expires_at: 'tomorrow' }, '/expires_at'],
      ['an expiry in the past', { scopes: ['check'], expires_at: '2000-01-01T00:00:00.000Z' }, '/expires_at'],
      ['an unknown field', { name: 'x', scopes: ['admin'], role: 'admin' }, '/role'],
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
        expect(Object.keys(key).sort()).toEqual([
          'created_at',
          'expires_at',
          'id',
          'last_used_at',
          'name',
          'prefix',
          'revoked_at',
          'scopes',
        ]);
      }
      expect(new Set(listed.map((k) => k.id)).size).toBe(listed.length);
    });
  });

  describe('expiry and rolling', () => {
    it('a key with expires_at works until then, and answers 401 from that moment', async () => {
      const key = await createKey('temporary', { scopes: ['catalog:read'], expires_at: later(60_000) });
      expectStatus(await server.request({ method: 'GET', url: '/v1/features', headers: as(key.secret) }), 200);
      server.clock.advance(60_000);
      expectProblem(await server.request({ method: 'GET', url: '/v1/features', headers: as(key.secret) }), {
        status: 401,
        code: 'unauthenticated',
      });
    });

    it('rolls a key: a new secret with the same name and scopes; the old one works until the given time', async () => {
      const old = await createKey('deploys', { scopes: ['catalog:write'] });
      const until = later(10 * 60_000);
      const rolled = expectStatus<ApiKeyCreated & { previous: ApiKey }>(
        await server.request({
          method: 'POST',
          url: `/v1/api-keys/${old.prefix}/roll`,
          body: { previous_expires_at: until },
        }),
        201,
      );
      expect(rolled).toMatchObject({ name: 'deploys', scopes: ['catalog:write'], expires_at: null, revoked_at: null });
      expect(rolled.id).not.toBe(old.id);
      expect(rolled.secret).not.toBe(old.secret);
      expect(rolled.previous).toMatchObject({ id: old.id, expires_at: until, revoked_at: null });
      for (const secret of [old.secret, rolled.secret]) {
        expectStatus(await server.request({ method: 'GET', url: '/v1/features', headers: as(secret) }), 200);
      }
      server.clock.advance(10 * 60_000);
      expectProblem(await server.request({ method: 'GET', url: '/v1/features', headers: as(old.secret) }), {
        status: 401,
        code: 'unauthenticated',
      });
      expectStatus(await server.request({ method: 'GET', url: '/v1/features', headers: as(rolled.secret) }), 200);
      expect((await listAll()).find((k) => k.id === old.id)).toMatchObject({ expires_at: until });
      // The trail says who rolled which key into which, and never a secret.
      const trail = expectStatus<{ data: { action: string; target: { id: string }; data: unknown }[] }>(
        await server.request({ method: 'GET', url: `/v1/audit-events?target_id=${old.id}` }),
        200,
      );
      expect(trail.data.map((e) => e.action)).toContain('api_key.rolled');
      expect(JSON.stringify(trail)).not.toContain(rolled.secret);
    });

    it('rolls with an hour of overlap by default; the current time ends the old key at once', async () => {
      const a = await createKey('a', { scopes: ['check'] });
      const byDefault = expectStatus<{ previous: ApiKey }>(
        await server.request({ method: 'POST', url: `/v1/api-keys/${a.id}/roll` }),
        201,
      );
      expect(byDefault.previous.expires_at).toBe(later(3_600_000));
      const b = await createKey('b', { scopes: ['check'] });
      expectStatus(
        await server.request({
          method: 'POST',
          url: `/v1/api-keys/${b.id}/roll`,
          body: { previous_expires_at: later(0) },
        }),
        201,
      );
      expectProblem(await server.request({ method: 'GET', url: '/v1/features', headers: as(b.secret) }), {
        status: 401,
        code: 'unauthenticated',
      });
    });

    it('refuses to roll a revoked key, an unknown key, or into the past', async () => {
      const key = await createKey('gone', { scopes: ['check'] });
      expectProblem(
        await server.request({
          method: 'POST',
          url: `/v1/api-keys/${key.id}/roll`,
          body: { previous_expires_at: '2000-01-01T00:00:00.000Z' },
        }),
        { status: 400, code: 'validation_failed', path: '/previous_expires_at' },
      );
      expectStatus(await server.request({ method: 'DELETE', url: `/v1/api-keys/${key.id}` }), 200);
      expectProblem(await server.request({ method: 'POST', url: `/v1/api-keys/${key.id}/roll` }), {
        status: 409,
        code: 'conflict',
      });
      expectProblem(await server.request({ method: 'POST', url: '/v1/api-keys/key_nope/roll' }), {
        status: 404,
        code: 'api_key_not_found',
      });
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
