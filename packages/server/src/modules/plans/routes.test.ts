import type { Plan } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  check,
  expectStatus,
  monthly,
  nowIso,
  planBody,
  seedCatalog,
  seedCustomer,
  uniqueKey,
} from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { storedState } from '../../test-support/stored-state.js';

describeEachDialect('plans routes', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
  });
  afterAll(() => server.close());

  const create = (body: unknown) => server.request({ method: 'POST', url: '/v1/plans', body });
  const get = (key: string, query = '') => server.request({ method: 'GET', url: `/v1/plans/${key}${query}` });
  const patch = (key: string, body: unknown) => server.request({ method: 'PATCH', url: `/v1/plans/${key}`, body });
  const publish = (key: string, body?: unknown) =>
    server.request({ method: 'POST', url: `/v1/plans/${key}/publish`, body });

  /** A draft plan with one of every kind of entitlement. */
  const teamPlan = () =>
    planBody({
      key: uniqueKey('team'),
      name: 'Team',
      description: 'For small teams',
      price: monthly(2900),
      trial_days: 14,
      stripe_product: 'prod_Team123',
      entitlements: [
        { feature: 'sso' },
        { feature: 'api_calls', limit: 5000, reset: 'month' },
        { feature: 'seats', limit: 5, overage: 'allow' },
        { feature: 'support_tier', value: 'priority' },
      ],
    });

  describe('versions', () => {
    it('creates version 1 as a draft with exactly the documented fields', async () => {
      const body = teamPlan();
      const plan = expectStatus<Plan>(await create(body), 201);
      expect(plan).toEqual({
        id: expect.stringMatching(/^planv_[0-9a-z]{26}$/),
        key: body.key,
        version: 1,
        status: 'draft',
        name: 'Team',
        description: 'For small teams',
        kind: 'base',
        price: { amount: 2900, currency: 'usd', interval: 'month' },
        trial_days: 14,
        stripe_product: 'prod_Team123',
        entitlements: [
          { feature: 'sso', enabled: true, limit: null, reset: null, window: null, overage: 'block', value: null },
          {
            feature: 'api_calls',
            enabled: true,
            limit: 5000,
            reset: 'month',
            window: null,
            overage: 'block',
            value: null,
          },
          { feature: 'seats', enabled: true, limit: 5, reset: null, window: null, overage: 'allow', value: null },
          {
            feature: 'support_tier',
            enabled: true,
            limit: null,
            reset: null,
            window: null,
            overage: 'block',
            value: 'priority',
          },
        ],
        latest_version: 1,
        published_version: null,
        created_at: nowIso(server),
        published_at: null,
        archived_at: null,
      });
      expect(expectStatus<Plan>(await get(body.key), 200)).toEqual(plan);
    });

    it('edits a draft in place: same id, same version', async () => {
      const draft = expectStatus<Plan>(await create(teamPlan()), 201);
      const edited = expectStatus<Plan>(
        await patch(draft.key, { name: 'Team (edited)', entitlements: [{ feature: 'sso' }] }),
        200,
      );
      expect(edited).toMatchObject({ id: draft.id, version: 1, status: 'draft', name: 'Team (edited)' });
      expect(edited.entitlements.map((e) => e.feature)).toEqual(['sso']);
      expect(edited.price).toEqual(draft.price);
      expect(edited.trial_days).toBe(14);
      const versions = expectStatus<{ data: Plan[] }>(
        await server.request({ method: 'GET', url: `/v1/plans/${draft.key}/versions` }),
        200,
      );
      expect(versions.data).toEqual([edited]);
    });

    it('clears optional fields with null', async () => {
      const draft = expectStatus<Plan>(await create(teamPlan()), 201);
      const edited = expectStatus<Plan>(
        await patch(draft.key, { price: null, trial_days: null, description: null, stripe_product: null }),
        200,
      );
      expect(edited).toMatchObject({ price: null, trial_days: null, description: null, stripe_product: null });
    });

    it('publishes the draft, then a PATCH opens v2 while v1 stays published and unchanged', async () => {
      const draft = expectStatus<Plan>(await create(teamPlan()), 201);
      server.clock.advance(1000);
      const publishedAt = nowIso(server);
      const v1 = expectStatus<Plan>(await publish(draft.key), 200);
      expect(v1).toMatchObject({
        id: draft.id,
        version: 1,
        status: 'published',
        published_version: 1,
        latest_version: 1,
        published_at: publishedAt,
      });
      expect(publishedAt).not.toBe(draft.created_at);

      const v2 = expectStatus<Plan>(await patch(draft.key, { name: 'Team v2', price: monthly(3900) }), 200);
      expect(v2).toMatchObject({
        version: 2,
        status: 'draft',
        name: 'Team v2',
        price: monthly(3900),
        latest_version: 2,
        published_version: 1,
        published_at: null,
      });
      expect(v2.id).not.toBe(v1.id);
      expect(v2.entitlements).toEqual(v1.entitlements);

      // v1 is frozen: a second edit changes the v2 draft, never v1.
      expectStatus(await patch(draft.key, { name: 'Team v2 (again)' }), 200);
      expect(expectStatus<Plan>(await get(draft.key, '?version=1'), 200)).toEqual({ ...v1, latest_version: 2 });
      expect(expectStatus<Plan>(await get(draft.key), 200)).toMatchObject({ version: 2, name: 'Team v2 (again)' });

      const v2Published = expectStatus<Plan>(await publish(draft.key), 200);
      expect(v2Published).toMatchObject({ version: 2, status: 'published', published_version: 2 });
      const versions = expectStatus<{ data: Plan[] }>(
        await server.request({ method: 'GET', url: `/v1/plans/${draft.key}/versions` }),
        200,
      );
      expect(versions.data.map((v) => [v.version, v.status, v.published_version])).toEqual([
        [1, 'published', 2],
        [2, 'published', 2],
      ]);
    });

    it('refuses to publish an already-published version: 409 plan_already_published', async () => {
      const { key } = expectStatus<Plan>(await create(teamPlan()), 201);
      expectStatus(await publish(key), 200);
      const before = await storedState(server);
      expectProblem(await publish(key, { version: 1 }), {
        status: 409,
        code: 'plan_already_published',
        path: '/version',
      });
      // Without a version there is no draft left to publish.
      expectProblem(await publish(key), { status: 409, code: 'plan_already_published' });
      expect(await storedState(server)).toEqual(before);
    });

    it('answers 404 for a version that does not exist and for an unknown plan', async () => {
      const { key } = expectStatus<Plan>(await create(teamPlan()), 201);
      expectProblem(await get(key, '?version=7'), { status: 404, code: 'plan_not_found' });
      expectProblem(await publish(key, { version: 7 }), { status: 404, code: 'plan_not_found' });
      expectProblem(await get('nope'), { status: 404, code: 'plan_not_found' });
      expectProblem(await patch('nope', { name: 'X' }), { status: 404, code: 'plan_not_found' });
      expectProblem(await publish('nope'), { status: 404, code: 'plan_not_found' });
      expectProblem(await server.request({ method: 'GET', url: '/v1/plans/nope/versions' }), {
        status: 404,
        code: 'plan_not_found',
      });
    });

    it('archives a published plan; it cannot archive a plan never published', async () => {
      const { key } = expectStatus<Plan>(await create(teamPlan()), 201);
      expectProblem(await server.request({ method: 'POST', url: `/v1/plans/${key}/archive` }), {
        status: 409,
        code: 'plan_not_published',
      });
      expectStatus(await publish(key), 200);
      const archived = expectStatus<Plan>(
        await server.request({ method: 'POST', url: `/v1/plans/${key}/archive` }),
        200,
      );
      expect(archived).toMatchObject({ status: 'archived', archived_at: nowIso(server) });
    });

    it('refuses a plan key that is taken with 409 plan_exists and keeps the first', async () => {
      const body = teamPlan();
      expectStatus(await create(body), 201);
      const before = await storedState(server);
      expectProblem(await create({ ...body, name: 'Other' }), { status: 409, code: 'plan_exists' });
      expect(await storedState(server)).toEqual(before);
    });

    it("refuses to change a plan's kind: 409 plan_kind_mismatch", async () => {
      const { key } = expectStatus<Plan>(await create(teamPlan()), 201);
      expectProblem(await patch(key, { kind: 'addon' }), { status: 409, code: 'plan_kind_mismatch', path: '/kind' });
    });
  });

  describe('bad input', () => {
    const entitlement = (terms: Record<string, unknown>) => planBody({ entitlements: [terms as never] });
    const cases: [string, unknown, string][] = [
      ['an unknown feature', entitlement({ feature: 'teleportation' }), '/entitlements/0/feature'],
      ['a negative limit', entitlement({ feature: 'api_calls', limit: -1 }), '/entitlements/0/limit'],
      ['a limit sent as a string', entitlement({ feature: 'api_calls', limit: '5' }), '/entitlements/0/limit'],
      ['a fractional limit', entitlement({ feature: 'api_calls', limit: 1.5 }), '/entitlements/0/limit'],
      ['a metered feature without a limit', entitlement({ feature: 'api_calls' }), '/entitlements/0/limit'],
      ['a limit on a boolean feature', entitlement({ feature: 'sso', limit: 5 }), '/entitlements/0/limit'],
      ['a reset on a gauge', entitlement({ feature: 'seats', limit: 5, reset: 'month' }), '/entitlements/0/reset'],
      ['an unknown reset', entitlement({ feature: 'api_calls', limit: 5, reset: 'hourly' }), '/entitlements/0/reset'],
      [
        'a malformed window',
        entitlement({ feature: 'api_calls', limit: 5, window: '5 hours' }),
        '/entitlements/0/window',
      ],
      [
        'a window and a reset',
        entitlement({ feature: 'api_calls', limit: 5, window: '5h', reset: 'day' }),
        '/entitlements/0/window',
      ],
      [
        'a config value outside the options',
        entitlement({ feature: 'support_tier', value: 'phone' }),
        '/entitlements/0/value',
      ],
      ['a config feature without a value', entitlement({ feature: 'support_tier' }), '/entitlements/0/value'],
      ['a value on a boolean', entitlement({ feature: 'sso', value: 'yes' }), '/entitlements/0/value'],
      ['an unknown entitlement field', entitlement({ feature: 'sso', colour: 'red' }), '/entitlements/0/colour'],
      ['an unknown overage', entitlement({ feature: 'seats', limit: 1, overage: 'charge' }), '/entitlements/0/overage'],
      [
        'a feature listed twice',
        planBody({ entitlements: [{ feature: 'sso' }, { feature: 'sso' }] }),
        '/entitlements/1/feature',
      ],
      ['a negative price', planBody({ price: { ...monthly(0), amount: -100 } }), '/price/amount'],
      ['a price past 2^53', planBody({ price: { ...monthly(0), amount: 2 ** 53 + 2 } }), '/price/amount'],
      ['an upper-case currency', planBody({ price: { ...monthly(100), currency: 'USD' } }), '/price/currency'],
      ['a weekly price', planBody({ price: { ...monthly(100), interval: 'week' as never } }), '/price/interval'],
      ['a trial of two years and a day', planBody({ trial_days: 731 }), '/trial_days'],
      ['an unknown kind', planBody({ kind: 'bundle' as never }), '/kind'],
      ['a key that is not a slug', planBody({ key: 'Pro Plan' }), '/key'],
      ['entitlements that are not a list', planBody({ entitlements: {} as never }), '/entitlements'],
      ['an unknown field', { ...planBody(), currency: 'usd' }, '/currency'],
    ];

    it.each(cases)('refuses %s with 400, storing nothing', async (_name, body, path) => {
      const before = await storedState(server);
      expectProblem(await create(body), { status: 400, code: 'validation_failed', path });
      expect(await storedState(server)).toEqual(before);
    });

    it.each(cases.filter(([name]) => name !== 'a key that is not a slug'))(
      'refuses a PATCH with %s, leaving draft and published versions exactly as they were',
      async (_name, body, path) => {
        const { key } = expectStatus<Plan>(await create(teamPlan()), 201);
        expectStatus(await publish(key), 200);
        expectStatus(await patch(key, { name: 'Draft v2' }), 200);
        const { key: _key, ...changes } = body as Record<string, unknown>;
        const before = await storedState(server);
        expectProblem(await patch(key, changes), { status: 400, code: 'validation_failed', path });
        expect(await storedState(server)).toEqual(before);
      },
    );

    it('refuses a failed PATCH on a published plan without opening a draft', async () => {
      const { key } = expectStatus<Plan>(await create(teamPlan()), 201);
      const published = expectStatus<Plan>(await publish(key), 200);
      const before = await storedState(server);
      expectProblem(await patch(key, { entitlements: [{ feature: 'api_calls', limit: -5 }] }), {
        status: 400,
        code: 'validation_failed',
        path: '/entitlements/0/limit',
      });
      expect(await storedState(server)).toEqual(before);
      expect(expectStatus<Plan>(await get(key), 200)).toEqual(published);
    });
  });

  describe('grandfathering', () => {
    it('keeps existing subscribers on v1 after v2 is published; new subscribers get v2', async () => {
      const key = uniqueKey('starter');
      expectStatus(
        await create(planBody({ key, entitlements: [{ feature: 'api_calls', limit: 100, reset: 'month' }] })),
        201,
      );
      expectStatus(await publish(key), 200);
      const early = await seedCustomer(server, { plan: key });
      expect(early.subscription?.plan_version).toBe(1);
      expect(await check(server, { customer: early.id, feature: 'api_calls', quantity: 150 })).toMatchObject({
        allowed: false,
        reason: 'limit_reached',
        limit: 100,
      });

      expectStatus(await patch(key, { entitlements: [{ feature: 'api_calls', limit: 200, reset: 'month' }] }), 200);
      // A draft changes nobody's answer.
      const late = await seedCustomer(server, { plan: key });
      expect(late.subscription?.plan_version).toBe(1);

      expectStatus(await publish(key), 200);
      const newest = await seedCustomer(server, { plan: key });
      expect(newest.subscription?.plan_version).toBe(2);

      for (const customer of [early.id, late.id]) {
        expect(await check(server, { customer, feature: 'api_calls', quantity: 150 })).toMatchObject({
          allowed: false,
          reason: 'limit_reached',
          limit: 100,
        });
      }
      expect(await check(server, { customer: newest.id, feature: 'api_calls', quantity: 150 })).toMatchObject({
        allowed: true,
        reason: 'entitled',
        limit: 200,
      });
    });
  });
});

describeEachDialect('plans list', (dialect) => {
  let server: TestServer;
  const keys = ['basic', 'business', 'growth', 'hobby', 'scale'];
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    for (const key of [...keys].reverse()) {
      expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: planBody({ key }) }), 201);
    }
    for (const key of ['business', 'hobby']) {
      expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${key}/publish` }), 200);
    }
    // A second version must not list the plan twice.
    expectStatus(await server.request({ method: 'PATCH', url: '/v1/plans/hobby', body: { name: 'Hobby 2' } }), 200);
  });
  afterAll(() => server.close());

  type Page = { data: Plan[]; has_more: boolean; next_cursor: string | null };
  const walk = async (query: string, limit: number) => {
    const seen: Plan[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const url: string = `/v1/plans?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`;
      const page: Page = expectStatus<Page>(await server.request({ method: 'GET', url }), 200);
      expect(page.data.length).toBeLessThanOrEqual(limit);
      expect(page.has_more).toBe(page.next_cursor !== null);
      seen.push(...page.data);
      if (!page.has_more) return seen;
      cursor = page.next_cursor;
    }
    throw new Error('the cursor never ended');
  };

  it.each([1, 2, 5, 20])('walks the latest version of every plan exactly once, %i at a time', async (limit) => {
    const plans = await walk('', limit);
    expect(plans.map((p) => [p.key, p.version, p.status])).toEqual([
      ['basic', 1, 'draft'],
      ['business', 1, 'published'],
      ['growth', 1, 'draft'],
      ['hobby', 2, 'draft'],
      ['scale', 1, 'draft'],
    ]);
    expect(plans.find((p) => p.key === 'hobby')).toMatchObject({ latest_version: 2, published_version: 1 });
  });

  it('filters by the status of the latest version', async () => {
    expect((await walk('&status=published', 1)).map((p) => p.key)).toEqual(['business']);
    expect((await walk('&status=draft', 2)).map((p) => p.key)).toEqual(['basic', 'growth', 'hobby', 'scale']);
    expectProblem(await server.request({ method: 'GET', url: '/v1/plans?status=live' }), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/status',
    });
  });

  it('refuses a forged cursor and an out-of-range limit', async () => {
    expectProblem(await server.request({ method: 'GET', url: '/v1/plans?cursor=Zm9v!' }), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/cursor',
    });
    expectProblem(await server.request({ method: 'GET', url: '/v1/plans?limit=101' }), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/limit',
    });
  });
});
