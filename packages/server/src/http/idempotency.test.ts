import type { ApiKeyCreated, Grant } from '@keymaster/contract';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, grantBody, planBody, seedCatalog, seedCustomer, uniqueKey } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { expectProblem } from '../test-support/expect-problem.js';
import { startTestServer, type TestResponse, type TestServer } from '../test-support/server.js';
import { storedState } from '../test-support/stored-state.js';

const hour = 3_600_000;

describeEachDialect('Idempotency-Key', (dialect) => {
  let server: TestServer;
  const start = Date.parse('2026-01-15T12:00:00.000Z');
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: new Date(start).toISOString() });
    await seedCatalog(server);
  });
  afterAll(() => server.close());
  afterEach(() => server.clock.set(start));

  const post = (url: string, body: unknown, key: string, headers: Record<string, string> = {}) =>
    server.request({ method: 'POST', url, body, headers: { 'idempotency-key': key, ...headers } });
  const grantsOf = async (customer: string) =>
    expectStatus<{ data: Grant[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/grants?include_revoked=true` }),
      200,
    ).data;
  /** A grant made with a key, its record then set back to `state` with no answer, as of `start`. */
  const grantLeftAs = async (state: 'in_progress' | 'applied') => {
    const { id } = await seedCustomer(server);
    const key = uniqueKey('idem');
    const body = grantBody({ feature: 'sso', enabled: true });
    expectStatus(await post(`/v1/customers/${id}/grants`, body, key), 201);
    await server.keymaster.database.db
      .updateTable('idempotency_keys')
      .set({ state, response_status: null, response_body: null, created_at: start })
      .where('key', '=', key)
      .execute();
    return { id, body, key };
  };
  const expectReplay = (first: TestResponse, again: TestResponse) => {
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.statusCode).toBe(first.statusCode);
    expect(again.body).toBe(first.body);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
  };

  describe('the same key with the same body', () => {
    it('answers the first response again and creates nothing more', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const key = uniqueKey('idem');
      const body = grantBody({ feature: 'api_calls', mode: 'add', limit: 100 });
      const first = await post(`/v1/customers/${id}/grants`, body, key);
      expect(first.statusCode, first.body).toBe(201);
      const state = await storedState(server);
      server.clock.advance(5000);
      const again = await post(`/v1/customers/${id}/grants`, body, key);
      expectReplay(first, again);
      expect(await storedState(server)).toEqual(state);
      expect(await grantsOf(id)).toHaveLength(1);
    });

    it('replays a subscription instead of refusing the second as a duplicate', async () => {
      const { id } = await seedCustomer(server);
      const key = uniqueKey('idem');
      const first = await post(`/v1/customers/${id}/subscriptions`, { plan: 'pro' }, key);
      expect(first.statusCode, first.body).toBe(201);
      const again = await post(`/v1/customers/${id}/subscriptions`, { plan: 'pro' }, key);
      expectReplay(first, again);
      const list = expectStatus<{ data: unknown[] }>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/subscriptions` }),
        200,
      );
      expect(list.data).toHaveLength(1);
    });

    it('ignores the order of fields in the body', async () => {
      const { id } = await seedCustomer(server);
      const key = uniqueKey('idem');
      const first = await post(`/v1/customers/${id}/grants`, { feature: 'sso', enabled: true, reason: 'x' }, key);
      const again = await post(`/v1/customers/${id}/grants`, { reason: 'x', enabled: true, feature: 'sso' }, key);
      expectReplay(first, again);
    });

    it('replays an answered conflict too: the outcome of a request that ran is kept', async () => {
      const plan = planBody();
      expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: plan }), 201);
      expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${plan.key}/publish` }), 200);
      const key = uniqueKey('idem');
      const first = await post(`/v1/plans/${plan.key}/publish`, {}, key);
      expectProblem(first, { status: 409, code: 'plan_already_published' });
      const again = await post(`/v1/plans/${plan.key}/publish`, {}, key);
      expectReplay(first, again);
    });

    it('keeps the answer for 24 hours, then runs the request again', async () => {
      const { id } = await seedCustomer(server);
      const key = uniqueKey('idem');
      const body = grantBody({ feature: 'sso', enabled: true });
      const first = await post(`/v1/customers/${id}/grants`, body, key);
      server.clock.set(start + 24 * hour - 1);
      expectReplay(first, await post(`/v1/customers/${id}/grants`, body, key));
      server.clock.set(start + 24 * hour);
      const later = await post(`/v1/customers/${id}/grants`, body, key);
      expect(later.statusCode, later.body).toBe(201);
      expect(later.headers['idempotent-replayed']).toBeUndefined();
      expect(await grantsOf(id)).toHaveLength(2);
    });
  });

  describe('the same key with a different request', () => {
    it('is a 409 idempotency_conflict that changes nothing', async () => {
      const { id } = await seedCustomer(server);
      const key = uniqueKey('idem');
      expectStatus(await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'api_calls', limit: 10 }), key), 201);
      const state = await storedState(server);
      const conflict = await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'api_calls', limit: 20 }), key);
      expectProblem(conflict, { status: 409, code: 'idempotency_conflict' });
      expect(conflict.headers['idempotent-replayed']).toBeUndefined();
      // Another path with the same body is a different request as well.
      const { id: other } = await seedCustomer(server);
      const before = await storedState(server);
      expectProblem(await post(`/v1/customers/${other}/grants`, grantBody({ feature: 'api_calls', limit: 10 }), key), {
        status: 409,
        code: 'idempotency_conflict',
      });
      expect(await storedState(server)).toEqual(before);
      expect(before.grants).toEqual(state.grants);
    });
  });

  describe('what is not recorded', () => {
    it('a body that fails schema validation: the corrected retry with the same key runs', async () => {
      const { id } = await seedCustomer(server);
      const key = uniqueKey('idem');
      expectProblem(await post(`/v1/customers/${id}/grants`, { feature: 'sso', enabled: 'yes', reason: 'x' }, key), {
        status: 400,
        code: 'validation_failed',
        path: '/enabled',
      });
      const fixed = await post(`/v1/customers/${id}/grants`, { feature: 'sso', enabled: true, reason: 'x' }, key);
      expect(fixed.statusCode, fixed.body).toBe(201);
      expect(fixed.headers['idempotent-replayed']).toBeUndefined();
    });

    it('a body that fails domain validation: the corrected retry with the same key runs', async () => {
      const key = uniqueKey('idem');
      const body = planBody({ entitlements: [{ feature: 'teleportation' }] });
      expectProblem(await post('/v1/plans', body, key), {
        status: 400,
        code: 'validation_failed',
        path: '/entitlements/0/feature',
      });
      const fixed = await post('/v1/plans', { ...body, entitlements: [{ feature: 'sso' }] }, key);
      expect(fixed.statusCode, fixed.body).toBe(201);
    });

    it('a request refused for authentication', async () => {
      const { id } = await seedCustomer(server);
      const key = uniqueKey('idem');
      const body = grantBody({ feature: 'sso', enabled: true });
      expectProblem(await post(`/v1/customers/${id}/grants`, body, key, { authorization: 'Bearer nope' }), {
        status: 401,
        code: 'unauthenticated',
      });
      expectStatus(await post(`/v1/customers/${id}/grants`, body, key), 201);
    });

    it('requests other than POST: the header is ignored', async () => {
      const key = uniqueKey('idem');
      const first = await server.request({
        method: 'PUT',
        url: '/v1/customers/idem-put',
        body: { name: 'One' },
        headers: { 'idempotency-key': key },
      });
      const second = await server.request({
        method: 'PUT',
        url: '/v1/customers/idem-put',
        body: { name: 'Two' },
        headers: { 'idempotency-key': key },
      });
      expect([first.statusCode, second.statusCode]).toEqual([201, 200]);
      expect(second.headers['idempotent-replayed']).toBeUndefined();
      expect(second.json()).toMatchObject({ name: 'Two' });
    });
  });

  describe('scope and lifecycle', () => {
    it('never stores a new API key secret, and a replay does not pretend to show it: 409', async () => {
      const key = uniqueKey('idem');
      const first = await post('/v1/api-keys', { name: 'ci', scopes: ['admin'] }, key);
      const created = expectStatus<ApiKeyCreated>(first, 201);
      expect(created.secret).toMatch(/^km_sk_/);
      const stored = await server.keymaster.database.db
        .selectFrom('idempotency_keys')
        .select('response_body')
        .where('key', '=', key)
        .executeTakeFirstOrThrow();
      expect(stored.response_body).not.toContain(created.secret);
      const keysBefore = await server.keymaster.database.db.selectFrom('api_keys').select('id').execute();
      const again = await post('/v1/api-keys', { name: 'ci', scopes: ['admin'] }, key);
      expectProblem(again, { status: 409, code: 'idempotency_secret_not_replayable', detail: new RegExp(created.id) });
      expect(again.body).not.toContain(created.secret);
      expect(await server.keymaster.database.db.selectFrom('api_keys').select('id').execute()).toEqual(keysBefore);
    });

    it('a customer token is not replayed either: its token is shown once', async () => {
      const { id } = await seedCustomer(server);
      const key = uniqueKey('idem');
      expectStatus(await post('/v1/customer-tokens', { customer: id }, key), 201);
      expectProblem(await post('/v1/customer-tokens', { customer: id }, key), {
        status: 409,
        code: 'idempotency_secret_not_replayable',
      });
    });

    it('a read-only POST ignores the key: a check answers as of now, and nothing is stored', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const key = uniqueKey('idem');
      const check = { customer: id, feature: 'seats', quantity: 0 };
      expect(expectStatus(await post('/v1/check', check, key), 200)).toMatchObject({ usage: 0 });
      expectStatus(await post(`/v1/customers/${id}/usage`, { feature: 'seats', set: 2 }, uniqueKey('idem')), 200);
      const again = await post('/v1/check', check, key);
      expect(again.headers['idempotent-replayed']).toBeUndefined();
      expect(expectStatus(again, 200)).toMatchObject({ usage: 2 });
      const { db } = server.keymaster.database;
      expect(await db.selectFrom('idempotency_keys').select('key').where('key', '=', key).execute()).toEqual([]);
    });

    it('belongs to the API key that sent it: another key with the same Idempotency-Key runs afresh', async () => {
      const { id } = await seedCustomer(server);
      const other = expectStatus<ApiKeyCreated>(
        await server.request({ method: 'POST', url: '/v1/api-keys', body: { scopes: ['admin'] } }),
        201,
      );
      const key = uniqueKey('idem');
      const body = grantBody({ feature: 'sso', enabled: true });
      const mine = await post(`/v1/customers/${id}/grants`, body, key);
      const theirs = await post(`/v1/customers/${id}/grants`, body, key, { authorization: `Bearer ${other.secret}` });
      expect([mine.statusCode, theirs.statusCode]).toEqual([201, 201]);
      expect(theirs.json<Grant>().id).not.toBe(mine.json<Grant>().id);
      expect(await grantsOf(id)).toHaveLength(2);
    });

    it('answers 409 idempotency_in_progress while the first is running, and takes over an abandoned one', async () => {
      // The record the way it is while its request runs (or after its process died before the write).
      const { id, body, key } = await grantLeftAs('in_progress');
      expectProblem(await post(`/v1/customers/${id}/grants`, body, key), {
        status: 409,
        code: 'idempotency_in_progress',
      });
      server.clock.set(start + 61_000);
      const takenOver = await post(`/v1/customers/${id}/grants`, body, key);
      expect(takenOver.statusCode, takenOver.body).toBe(201);
      expect(takenOver.headers['idempotent-replayed']).toBeUndefined();
      expect(await grantsOf(id)).toHaveLength(2);
    });

    it('never runs again a request whose write committed but whose answer was not stored', async () => {
      // The record as a process killed between the write's commit and storing its answer leaves it.
      const { id, body, key } = await grantLeftAs('applied');
      expectProblem(await post(`/v1/customers/${id}/grants`, body, key), {
        status: 409,
        code: 'idempotency_in_progress',
      });
      server.clock.set(start + 61_000);
      expectProblem(await post(`/v1/customers/${id}/grants`, body, key), {
        status: 409,
        code: 'idempotency_replay_unavailable',
      });
      expect(await grantsOf(id)).toHaveLength(1);
    });

    it('records that a write took effect in the write itself: a failed write leaves the key free', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const key = uniqueKey('idem');
      // Refused by the service after the claim ran in its transaction: both roll back.
      expectProblem(await post(`/v1/customers/${id}/usage`, { feature: 'seats', delta: -1 }, key), {
        status: 400,
        code: 'validation_failed',
      });
      const { db } = server.keymaster.database;
      expect(await db.selectFrom('idempotency_keys').select('key').where('key', '=', key).execute()).toEqual([]);
      expectStatus(await post(`/v1/customers/${id}/usage`, { feature: 'seats', delta: 1 }, key), 200);
      const stored = await db
        .selectFrom('idempotency_keys')
        .select(['state', 'customer_id'])
        .where('key', '=', key)
        .executeTakeFirstOrThrow();
      expect(stored).toEqual({ state: 'done', customer_id: id });
    });

    it('forgets the stored answers about a customer when the customer is erased', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const grantKey = uniqueKey('idem');
      const body = grantBody({ feature: 'sso', enabled: true, reason: 'for jane@acme.example' });
      expectStatus(await post(`/v1/customers/${id}/grants`, body, grantKey), 201);
      // A route that names no customer: the answer does (the subscription's).
      const subscription = expectStatus<{ data: { id: string }[] }>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/subscriptions` }),
        200,
      ).data[0]!;
      const cancelKey = uniqueKey('idem');
      expectStatus(await post(`/v1/subscriptions/${subscription.id}/cancel`, { when: 'period_end' }, cancelKey), 200);
      const consumeKey = uniqueKey('idem');
      expectStatus(await post('/v1/consume', { customer: id, feature: 'api_calls' }, consumeKey), 200);
      const { db } = server.keymaster.database;
      const about = () => db.selectFrom('idempotency_keys').select('key').where('customer_id', '=', id).execute();
      expect((await about()).map((row) => row.key).sort()).toEqual([grantKey, cancelKey, consumeKey].sort());

      expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
      expect(await about()).toEqual([]);
      // The replay that would hand back the deleted grant (and its reason) runs afresh instead.
      const again = await post(`/v1/customers/${id}/grants`, body, grantKey);
      expect(again.headers['idempotent-replayed']).toBeUndefined();
      expectProblem(again, { status: 404, code: 'customer_not_found' });
      expect(again.body).not.toContain('jane@acme.example');
    });

    it.each([
      ['empty', ''],
      ['longer than 255 characters', 'k'.repeat(256)],
    ])('refuses a key that is %s, naming the header', async (_name, key) => {
      const { id } = await seedCustomer(server);
      const before = await storedState(server);
      expectProblem(await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'sso', enabled: true }), key), {
        status: 400,
        code: 'validation_failed',
        path: '/headers/idempotency-key',
      });
      expect(await storedState(server)).toEqual(before);
    });
  });
});
