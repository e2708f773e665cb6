import type { Subscription } from '@keymaster/contract';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  check,
  expectStatus,
  nowIso,
  planBody,
  seedCatalog,
  seedCustomer,
  subscriptionBody,
  uniqueKey,
} from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { storedState } from '../../test-support/stored-state.js';

const day = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

describeEachDialect('subscriptions routes', (dialect) => {
  let server: TestServer;
  let draftOnly: string;
  let archived: string;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
    draftOnly = uniqueKey('draft_only');
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: planBody({ key: draftOnly }) }), 201);
    archived = uniqueKey('legacy');
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: planBody({ key: archived }) }), 201);
    expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${archived}/publish` }), 200);
    expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${archived}/archive` }), 200);
  });
  afterAll(() => server.close());
  // Every test starts at the same instant, whatever the one before did with the clock.
  const start = Date.parse('2026-01-15T12:00:00.000Z');
  afterEach(() => server.clock.set(start));

  const subscribe = (customer: string, body: unknown) =>
    server.request({ method: 'POST', url: `/v1/customers/${customer}/subscriptions`, body });
  const cancel = (id: string, body?: unknown) =>
    server.request({ method: 'POST', url: `/v1/subscriptions/${id}/cancel`, body });
  const getSubscription = async (id: string) =>
    expectStatus<Subscription>(await server.request({ method: 'GET', url: `/v1/subscriptions/${id}` }), 200);

  describe('POST /v1/customers/{id}/subscriptions', () => {
    it("provisions the plan's published version with exactly the documented fields", async () => {
      const { id } = await seedCustomer(server);
      const now = server.clock.now();
      const subscription = expectStatus<Subscription>(await subscribe(id, subscriptionBody({ plan: 'pro' })), 201);
      expect(subscription).toEqual({
        id: expect.stringMatching(/^sub_[0-9a-z]{26}$/),
        customer: id,
        plan: 'pro',
        plan_version: 1,
        status: 'active',
        current_period_start: iso(now),
        current_period_end: iso(Date.UTC(2026, 1, 15, 12)),
        trial_end: null,
        on_trial_end: 'cancel',
        cancel_at: null,
        canceled_at: null,
        ends_at: null,
        grace_ends_at: null,
        resumes_at: null,
        scheduled_change: null,
        add_ons: [],
        source: 'api',
        created_at: iso(now),
        updated_at: iso(now),
      });
      expect(await getSubscription(subscription.id)).toEqual(subscription);
    });

    it('adds add-ons: their limits add up, times the quantity', async () => {
      const { id, subscription } = await seedCustomer(server, {
        plan: 'pro',
        subscription: { add_ons: [{ plan: 'extra_seats', quantity: 2 }], source: 'crm' },
      });
      expect(subscription).toMatchObject({
        add_ons: [{ plan: 'extra_seats', plan_version: 1, quantity: 2 }],
        source: 'crm',
      });
      expect(await check(server, { customer: id, feature: 'seats', quantity: 20 })).toMatchObject({
        allowed: true,
        limit: 20,
      });
      expect(await check(server, { customer: id, feature: 'seats', quantity: 21 })).toMatchObject({
        allowed: false,
        reason: 'limit_reached',
      });
    });

    it("starts a trial from trial_days, or from the plan's own trial", async () => {
      const trialPlan = uniqueKey('trial');
      expectStatus(
        await server.request({
          method: 'POST',
          url: '/v1/plans',
          body: planBody({ key: trialPlan, trial_days: 30, entitlements: [{ feature: 'sso' }] }),
        }),
        201,
      );
      expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${trialPlan}/publish` }), 200);
      const now = server.clock.now();
      const own = await seedCustomer(server, { plan: trialPlan });
      expect(own.subscription).toMatchObject({ status: 'trialing', trial_end: iso(now + 30 * day) });
      const explicit = await seedCustomer(server, { plan: 'pro', subscription: { trial_days: 7 } });
      expect(explicit.subscription).toMatchObject({ status: 'trialing', trial_end: iso(now + 7 * day) });
      const none = await seedCustomer(server, { plan: trialPlan, subscription: { trial_days: 0 } });
      expect(none.subscription).toMatchObject({ status: 'active', trial_end: null });
    });

    it('keeps one live subscription per customer: 409 subscription_exists', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const before = await storedState(server);
      expectProblem(await subscribe(id, { plan: 'pro' }), { status: 409, code: 'subscription_exists' });
      expect(await storedState(server)).toEqual(before);
    });

    it('refuses a plan with only a draft: 409 plan_not_published naming /plan', async () => {
      const { id } = await seedCustomer(server);
      const before = await storedState(server);
      expectProblem(await subscribe(id, { plan: draftOnly }), {
        status: 409,
        code: 'plan_not_published',
        path: '/plan',
      });
      expect(await storedState(server)).toEqual(before);
    });

    it('refuses an archived plan: 409 plan_archived naming /plan', async () => {
      const { id } = await seedCustomer(server);
      const before = await storedState(server);
      expectProblem(await subscribe(id, { plan: archived }), { status: 409, code: 'plan_archived', path: '/plan' });
      expect(await storedState(server)).toEqual(before);
    });

    it.each([
      ['an unknown plan', { plan: 'platinum' }, 404, 'plan_not_found', '/plan'],
      ['an add-on as the base plan', { plan: 'extra_seats' }, 400, 'validation_failed', '/plan'],
      [
        'a base plan as an add-on',
        { plan: 'pro', add_ons: [{ plan: 'free' }] },
        400,
        'validation_failed',
        '/add_ons/0/plan',
      ],
      [
        'an add-on listed twice',
        { plan: 'pro', add_ons: [{ plan: 'extra_seats' }, { plan: 'extra_seats', quantity: 2 }] },
        400,
        'validation_failed',
        '/add_ons/1/plan',
      ],
      [
        'an add-on quantity of zero',
        { plan: 'pro', add_ons: [{ plan: 'extra_seats', quantity: 0 }] },
        400,
        'validation_failed',
        '/add_ons/0/quantity',
      ],
      [
        'an end in the past',
        { plan: 'pro', ends_at: '2026-01-01T00:00:00.000Z' },
        400,
        'validation_failed',
        '/ends_at',
      ],
      ['an end that is not a time', { plan: 'pro', ends_at: 'next year' }, 400, 'validation_failed', '/ends_at'],
      [
        'an end without a time zone',
        { plan: 'pro', ends_at: '2027-01-01T00:00:00' },
        400,
        'validation_failed',
        '/ends_at',
      ],
      [
        'an end on a leap second',
        { plan: 'pro', ends_at: '2027-06-30T23:59:60Z' },
        400,
        'validation_failed',
        '/ends_at',
      ],
      ['trial days sent as a string', { plan: 'pro', trial_days: '7' }, 400, 'validation_failed', '/trial_days'],
      ['a negative trial', { plan: 'pro', trial_days: -1 }, 400, 'validation_failed', '/trial_days'],
      [
        'an unknown trial end action',
        { plan: 'pro', on_trial_end: 'extend' },
        400,
        'validation_failed',
        '/on_trial_end',
      ],
      ['an unknown field', { plan: 'pro', seats: 5 }, 400, 'validation_failed', '/seats'],
      ['no plan', {}, 400, 'validation_failed', '/plan'],
    ])('refuses %s and leaves no subscription behind', async (_name, body, status, code, path) => {
      const { id } = await seedCustomer(server);
      const before = await storedState(server);
      expectProblem(await subscribe(id, body), { status, code, path });
      expect(await storedState(server)).toEqual(before);
      const list = expectStatus<{ data: Subscription[] }>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/subscriptions` }),
        200,
      );
      expect(list.data).toEqual([]);
    });

    it('answers 404 customer_not_found for a customer never PUT', async () => {
      const before = await storedState(server);
      expectProblem(await subscribe('nobody', { plan: 'pro' }), { status: 404, code: 'customer_not_found' });
      expectProblem(await server.request({ method: 'GET', url: '/v1/customers/nobody/subscriptions' }), {
        status: 404,
        code: 'customer_not_found',
      });
      expect(await storedState(server)).toEqual(before);
    });
  });

  describe('GET /v1/subscriptions/{id}', () => {
    it('answers 404 subscription_not_found for an unknown id', async () => {
      expectProblem(await server.request({ method: 'GET', url: '/v1/subscriptions/sub_nope' }), {
        status: 404,
        code: 'subscription_not_found',
      });
    });
  });

  describe('POST /v1/subscriptions/{id}/cancel', () => {
    it('cancels now by default: access ends on the next check, and the customer can subscribe again', async () => {
      const { id, subscription } = await seedCustomer(server, { plan: 'pro' });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ allowed: true });
      const canceled = expectStatus<Subscription>(await cancel(subscription!.id), 200);
      expect(canceled).toMatchObject({ status: 'canceled', canceled_at: nowIso(server), cancel_at: null });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: false,
        reason: 'subscription_inactive',
      });
      expectProblem(await cancel(subscription!.id, { when: 'now' }), { status: 409, code: 'subscription_not_live' });
      const next = expectStatus<Subscription>(await subscribe(id, { plan: 'free' }), 201);
      expect(await check(server, { customer: id, feature: 'api_calls' })).toMatchObject({ allowed: true, limit: 1000 });
      const list = expectStatus<{ data: Subscription[] }>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/subscriptions` }),
        200,
      );
      expect(list.data.map((s) => [s.id, s.status])).toEqual([
        [next.id, 'active'],
        [subscription!.id, 'canceled'],
      ]);
    });

    it('cancels at period end: access until the end of the period, none after', async () => {
      const { id, subscription } = await seedCustomer(server, { plan: 'pro' });
      const end = Date.parse(subscription!.current_period_end);
      const scheduled = expectStatus<Subscription>(await cancel(subscription!.id, { when: 'period_end' }), 200);
      expect(scheduled).toMatchObject({
        status: 'active',
        cancel_at: subscription!.current_period_end,
        canceled_at: null,
      });

      server.clock.set(end - 1);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: true,
        reason: 'entitled',
      });
      expect((await getSubscription(subscription!.id)).status).toBe('active');

      server.clock.set(end);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: false,
        reason: 'subscription_inactive',
      });
      expect((await getSubscription(subscription!.id)).status).toBe('canceled');
      // Ended on its own: a new subscription is allowed without touching the old one first.
      expectStatus(await subscribe(id, { plan: 'free' }), 201);
    });

    it('ends an unpaid trial (on_trial_end: cancel, the default) when the trial ends', async () => {
      const { id, subscription } = await seedCustomer(server, { plan: 'pro', subscription: { trial_days: 14 } });
      server.clock.set(start + 14 * day - 1);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ allowed: true });
      server.clock.set(start + 14 * day);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: false,
        reason: 'subscription_inactive',
      });
      expect((await getSubscription(subscription!.id)).status).toBe('expired');
    });

    it('keeps access after a trial with on_trial_end: activate', async () => {
      const { id, subscription } = await seedCustomer(server, {
        plan: 'pro',
        subscription: { trial_days: 14, on_trial_end: 'activate' },
      });
      server.clock.set(start + 15 * day);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ allowed: true });
      expect((await getSubscription(subscription!.id)).status).toBe('active');
    });

    it('ends a contract at ends_at and rolls the billing period while live', async () => {
      const endsAt = start + 45 * day;
      const { id, subscription } = await seedCustomer(server, { plan: 'pro', subscription: { ends_at: iso(endsAt) } });
      server.clock.set(start + 40 * day);
      expect(await getSubscription(subscription!.id)).toMatchObject({
        status: 'active',
        current_period_start: iso(Date.UTC(2026, 1, 15, 12)),
        current_period_end: iso(Date.UTC(2026, 2, 15, 12)),
      });
      server.clock.set(endsAt);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ reason: 'subscription_inactive' });
      expect((await getSubscription(subscription!.id)).status).toBe('expired');
    });

    it('refuses an unknown when and an unknown subscription', async () => {
      const { subscription } = await seedCustomer(server, { plan: 'pro' });
      const before = await storedState(server);
      expectProblem(await cancel(subscription!.id, { when: 'tomorrow' }), {
        status: 400,
        code: 'validation_failed',
        path: '/when',
      });
      expectProblem(await cancel(subscription!.id, { when: 'now', refund: true }), {
        status: 400,
        code: 'validation_failed',
        path: '/refund',
      });
      expect(await storedState(server)).toEqual(before);
      expectProblem(await cancel('sub_nope'), { status: 404, code: 'subscription_not_found' });
    });
  });

  describe('GET /v1/customers/{id}/subscriptions', () => {
    it('walks every subscription exactly once, newest first', async () => {
      const { id } = await seedCustomer(server);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const subscription = expectStatus<Subscription>(await subscribe(id, { plan: i % 2 ? 'pro' : 'free' }), 201);
        if (i < 4) expectStatus(await cancel(subscription.id), 200);
        ids.unshift(subscription.id);
      }
      for (const limit of [1, 2, 5, 100]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let pages = 0; pages < 10; pages++) {
          const url: string = `/v1/customers/${id}/subscriptions?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
          const page = expectStatus<{ data: Subscription[]; has_more: boolean; next_cursor: string | null }>(
            await server.request({ method: 'GET', url }),
            200,
          );
          expect(page.has_more).toBe(page.next_cursor !== null);
          seen.push(...page.data.map((s) => s.id));
          if (!page.has_more) break;
          cursor = page.next_cursor;
        }
        expect(seen).toEqual(ids);
      }
      expectProblem(await server.request({ method: 'GET', url: `/v1/customers/${id}/subscriptions?cursor=nope!` }), {
        status: 400,
        code: 'validation_failed',
        path: '/querystring/cursor',
      });
    });
  });
});
