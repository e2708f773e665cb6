import type { Grant } from '@keymaster/contract';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { check, expectStatus, grantBody, nowIso, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { storedState } from '../../test-support/stored-state.js';

const hour = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

describeEachDialect('grants routes', (dialect) => {
  let server: TestServer;
  const start = Date.parse('2026-01-15T12:00:00.000Z');
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: iso(start) });
    await seedCatalog(server);
  });
  afterAll(() => server.close());
  // Every test starts at the same instant, whatever the one before did with the clock.
  afterEach(() => server.clock.set(start));

  const grant = (customer: string, body: unknown) =>
    server.request({ method: 'POST', url: `/v1/customers/${customer}/grants`, body });
  const revoke = (id: string) => server.request({ method: 'DELETE', url: `/v1/grants/${id}` });
  const list = async (customer: string, query = '') =>
    expectStatus<{ data: Grant[]; has_more: boolean; next_cursor: string | null }>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/grants${query}` }),
      200,
    );

  describe('POST /v1/customers/{id}/grants', () => {
    it('creates an override with exactly the documented fields, and the next check follows it', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ allowed: false });
      const created = expectStatus<Grant>(
        await grant(id, grantBody({ feature: 'sso', enabled: true, reason: 'Pilot for the security team' })),
        201,
      );
      expect(created).toEqual({
        id: expect.stringMatching(/^grt_[0-9a-z]{26}$/),
        customer: id,
        feature: 'sso',
        mode: 'override',
        enabled: true,
        limit: null,
        unlimited: false,
        value: null,
        starts_at: null,
        expires_at: null,
        reason: 'Pilot for the security team',
        active: true,
        created_at: nowIso(server),
        revoked_at: null,
        remaining: null,
        rollover_cap: null,
      });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: true,
        reason: 'entitled',
      });
      expect((await list(id)).data).toEqual([created]);
    });

    it('replaces a limit (override), adds to it (add), and grants unlimited with null', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      expectStatus(await grant(id, grantBody({ feature: 'api_calls', limit: 5000 })), 201);
      expect(await check(server, { customer: id, feature: 'api_calls', quantity: 5000 })).toMatchObject({
        allowed: true,
        limit: 5000,
      });
      expectStatus(await grant(id, grantBody({ feature: 'api_calls', mode: 'add', limit: 250 })), 201);
      expectStatus(await grant(id, grantBody({ feature: 'api_calls', mode: 'add', limit: 250 })), 201);
      expect(await check(server, { customer: id, feature: 'api_calls', quantity: 5501 })).toMatchObject({
        allowed: false,
        reason: 'limit_reached',
        limit: 5500,
      });
      const unlimited = expectStatus<Grant>(await grant(id, grantBody({ feature: 'seats', limit: null })), 201);
      expect(unlimited).toMatchObject({ limit: null, unlimited: true });
      expect(await check(server, { customer: id, feature: 'seats', quantity: 1_000_000 })).toMatchObject({
        allowed: true,
        unlimited: true,
        limit: null,
      });
    });

    it('sets a config value and takes a feature away', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      expectStatus(await grant(id, grantBody({ feature: 'support_tier', value: 'dedicated' })), 201);
      expect(await check(server, { customer: id, feature: 'support_tier' })).toMatchObject({
        allowed: true,
        value: 'dedicated',
      });
      expectStatus(await grant(id, grantBody({ feature: 'sso', enabled: false, reason: 'Abuse' })), 201);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: false,
        reason: 'no_entitlement',
      });
    });

    it('applies from starts_at until expires_at, by the clock alone', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const created = expectStatus<Grant>(
        await grant(
          id,
          grantBody({ feature: 'sso', enabled: true, starts_at: iso(start + hour), expires_at: iso(start + 3 * hour) }),
        ),
        201,
      );
      expect(created.active).toBe(false);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ allowed: false });
      server.clock.set(start + hour);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ allowed: true });
      server.clock.set(start + 3 * hour - 1);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ allowed: true });
      server.clock.set(start + 3 * hour);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: false,
        reason: 'no_entitlement',
      });
      // An expired grant is still listed, as no longer active.
      expect((await list(id)).data).toEqual([{ ...created, active: false }]);
    });

    const invalidGrants: [string, unknown, string][] = [
      ['an unknown feature', { feature: 'teleportation', enabled: true }, '/feature'],
      ['a config value outside the options', { feature: 'support_tier', value: 'phone' }, '/value'],
      ['a config grant without a value', { feature: 'support_tier' }, '/value'],
      ['a limit on a boolean', { feature: 'sso', limit: 5 }, '/limit'],
      ['a value on a metered feature', { feature: 'api_calls', limit: 5, value: 'x' }, '/value'],
      ['an add grant on a boolean', { feature: 'sso', mode: 'add', limit: 5 }, '/mode'],
      ['an add grant without units', { feature: 'api_calls', mode: 'add' }, '/limit'],
      ['an add grant that disables', { feature: 'api_calls', mode: 'add', limit: 5, enabled: false }, '/enabled'],
      ['an override of a metered feature without a limit', { feature: 'api_calls' }, '/limit'],
      ['a negative limit', { feature: 'api_calls', limit: -1 }, '/limit'],
      ['a limit sent as a string', { feature: 'api_calls', limit: '5' }, '/limit'],
      ['an unknown mode', { feature: 'api_calls', mode: 'replace', limit: 5 }, '/mode'],
      ['an expiry in the past', { feature: 'sso', enabled: true, expires_at: '2026-01-01T00:00:00Z' }, '/expires_at'],
      [
        'an expiry before the start',
        { feature: 'sso', enabled: true, starts_at: iso(start + 2 * hour), expires_at: iso(start + hour) },
        '/expires_at',
      ],
      [
        'an expiry on a leap second',
        { feature: 'sso', enabled: true, expires_at: '2026-06-30T23:59:60Z' },
        '/expires_at',
      ],
      ['a start on a leap second', { feature: 'sso', enabled: true, starts_at: '2026-06-30T23:59:60Z' }, '/starts_at'],
      [
        'a start without a time zone',
        { feature: 'sso', enabled: true, starts_at: '2026-02-01T00:00:00' },
        '/starts_at',
      ],
      ['an empty reason', { feature: 'sso', enabled: true, reason: '' }, '/reason'],
      ['an unknown field', { feature: 'sso', enabled: true, note: 'hi' }, '/note'],
    ];
    it.each(invalidGrants)('refuses %s with 400, storing nothing', async (_name, body, path) => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const before = await storedState(server);
      expectProblem(await grant(id, { reason: 'Support', ...(body as object) }), {
        status: 400,
        code: 'validation_failed',
        path,
      });
      expect(await storedState(server)).toEqual(before);
    });

    it('refuses a grant without a reason', async () => {
      const { id } = await seedCustomer(server);
      expectProblem(await grant(id, { feature: 'sso', enabled: true }), {
        status: 400,
        code: 'validation_failed',
        path: '/reason',
      });
    });

    it('answers 404 customer_not_found for a customer never PUT', async () => {
      const before = await storedState(server);
      expectProblem(await grant('nobody', grantBody({ feature: 'sso', enabled: true })), {
        status: 404,
        code: 'customer_not_found',
      });
      expectProblem(await server.request({ method: 'GET', url: '/v1/customers/nobody/grants' }), {
        status: 404,
        code: 'customer_not_found',
      });
      expect(await storedState(server)).toEqual(before);
    });
  });

  describe('DELETE /v1/grants/{id}', () => {
    it('revokes: the very next check loses it; it stays listed with include_revoked', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const created = expectStatus<Grant>(await grant(id, grantBody({ feature: 'sso', enabled: true })), 201);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ allowed: true });
      server.clock.advance(1000);
      const revoked = expectStatus<Grant>(await revoke(created.id), 200);
      expect(revoked).toEqual({ ...created, active: false, revoked_at: nowIso(server) });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: false,
        reason: 'no_entitlement',
      });
      expect((await list(id)).data).toEqual([]);
      expect((await list(id, '?include_revoked=true')).data).toEqual([revoked]);
      // Revoking twice answers the same grant: DELETE is idempotent.
      server.clock.advance(1000);
      expect(expectStatus<Grant>(await revoke(created.id), 200)).toEqual(revoked);
    });

    it('answers 404 grant_not_found for an unknown grant', async () => {
      expectProblem(await revoke('grt_nope'), { status: 404, code: 'grant_not_found' });
    });
  });

  describe('GET /v1/customers/{id}/grants', () => {
    it('walks every grant exactly once, oldest first', async () => {
      const { id } = await seedCustomer(server);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(expectStatus<Grant>(await grant(id, grantBody({ feature: 'api_calls', limit: i })), 201).id);
      }
      for (const limit of [1, 2, 5]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let pages = 0; pages < 10; pages++) {
          const page = await list(id, `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
          expect(page.has_more).toBe(page.next_cursor !== null);
          seen.push(...page.data.map((g) => g.id));
          if (!page.has_more) break;
          cursor = page.next_cursor;
        }
        expect(seen).toEqual(ids);
      }
      expectProblem(await server.request({ method: 'GET', url: `/v1/customers/${id}/grants?cursor=x!` }), {
        status: 400,
        code: 'validation_failed',
        path: '/querystring/cursor',
      });
      expectProblem(await server.request({ method: 'GET', url: `/v1/customers/${id}/grants?include_revoked=maybe` }), {
        status: 400,
        code: 'validation_failed',
        path: '/querystring/include_revoked',
      });
    });
  });
});
