import type { Decision, HistoryEntry, Subscription } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

const day = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The lifecycle played through the API with simulated time: every instant is reached with
 * `POST /v1/test-clock/advance`, which runs what fell due on the way before it answers.
 */
describeEachDialect('subscription lifecycle with the test clock', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      start: '2026-01-31T09:00:00.000Z',
      env: { KEYMASTER_TEST_CLOCK: 'true', KEYMASTER_PAST_DUE_GRACE_DAYS: '3' },
    });
    const features = [
      { key: 'calls', name: 'Calls', type: 'metered' },
      { key: 'seats', name: 'Seats', type: 'gauge' },
      { key: 'sso', name: 'SSO', type: 'boolean' },
    ];
    for (const body of features) expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    const plan = (key: string, amount: number, calls: number, seats: number, extra: object[] = []) => ({
      key,
      name: key,
      price: { amount, currency: 'usd', interval: 'month' },
      entitlements: [
        { feature: 'calls', limit: calls, reset: 'billing_period' },
        { feature: 'seats', limit: seats },
        ...extra,
      ],
    });
    const plans = [
      { ...plan('basic', 1000, 100, 10), trial_days: 14 },
      plan('pro', 5000, 1000, 50, [{ feature: 'sso' }]),
    ];
    for (const body of plans) {
      expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body }), 201);
      expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${body.key}/publish` }), 200);
    }
  });
  afterAll(() => server.close());

  const advance = async (to: number) =>
    expectStatus<{ now: string }>(
      await server.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to: iso(to) } }),
      200,
    );
  const later = (ms: number) => advance(server.clock.now() + ms);
  const post = (url: string, body: unknown = {}) => server.request({ method: 'POST', url, body });
  const act = async (id: string, action: string, body: unknown = {}) =>
    expectStatus<Subscription>(await post(`/v1/subscriptions/${id}/${action}`, body), 200);
  const get = async (id: string) =>
    expectStatus<Subscription>(await server.request({ method: 'GET', url: `/v1/subscriptions/${id}` }), 200);
  const check = async (customer: string, feature: string, quantity = 1) =>
    expectStatus<Decision>(await post('/v1/check', { customer, feature, quantity }), 200);
  const consume = async (customer: string, quantity: number) =>
    expectStatus<Decision>(await post('/v1/consume', { customer, feature: 'calls', quantity }), 200);
  const history = async (id: string) =>
    expectStatus<{ data: HistoryEntry[] }>(
      await server.request({ method: 'GET', url: `/v1/subscriptions/${id}/history?limit=100` }),
      200,
    ).data;
  const events = async (subscriptionId: string) =>
    (
      await server.keymaster.database.db
        .selectFrom('domain_events')
        .select(['type', 'occurred_at'])
        .where('subscription_id', '=', subscriptionId)
        .orderBy('seq')
        .execute()
    ).map((e) => e.type);
  const subscribe = async (plan: string, extra: object = {}) => {
    const { id, subscription } = await seedCustomer(server, { plan, subscription: extra });
    return { customer: id, subscription: subscription! };
  };

  it('trial → convert → twelve renewals, each resetting usage, anchored on the 31st', async () => {
    const { customer, subscription } = await subscribe('basic');
    expect(subscription).toMatchObject({ status: 'trialing', trial_end: iso(server.clock.now() + 14 * day) });
    expect(await consume(customer, 60)).toMatchObject({ allowed: true, usage: 60 });
    // A payment method arrives: the trial converts at its end instead of ending access.
    const patched = expectStatus<Subscription>(
      await server.request({
        method: 'PATCH',
        url: `/v1/subscriptions/${subscription.id}`,
        body: { on_trial_end: 'activate', reason: 'card on file' },
      }),
      200,
    );
    expect(patched.on_trial_end).toBe('activate');
    await advance(Date.parse(subscription.trial_end!) + 1);
    expect(await get(subscription.id)).toMatchObject({ status: 'active' });
    expect(await check(customer, 'calls', 0)).toMatchObject({ usage: 60 }); // same period as the trial

    const ends: string[] = [];
    for (let month = 0; month < 12; month++) {
      const current = await get(subscription.id);
      await advance(Date.parse(current.current_period_end));
      const renewed = await get(subscription.id);
      ends.push(renewed.current_period_start);
      expect(await check(customer, 'calls', 0)).toMatchObject({ usage: 0, limit: 100 });
      expect(await consume(customer, 10 + month)).toMatchObject({ allowed: true, usage: 10 + month });
    }
    // Anchored on Jan 31: February's renewal clamps to the 28th, March's is back on the 31st.
    expect(ends.slice(0, 4)).toEqual([
      '2026-02-28T09:00:00.000Z',
      '2026-03-31T09:00:00.000Z',
      '2026-04-30T09:00:00.000Z',
      '2026-05-31T09:00:00.000Z',
    ]);
    expect(ends.at(-1)).toBe('2027-01-31T09:00:00.000Z');
    const types = await events(subscription.id);
    expect(types.filter((t) => t === 'subscription.renewed')).toHaveLength(12);
    expect(types.slice(0, 3)).toEqual(['subscription.created', 'entitlements.updated', 'subscription.updated']);
    expect(types).toContain('trial.ending');
    expect(types).toContain('trial.ended');
    const steps = (await history(subscription.id)).map((h) => h.action);
    expect(steps.filter((a) => a === 'renewal')).toHaveLength(12);
    expect(steps.at(-1)).toBe('create');
    expect(steps).toContain('trial_end');
  });

  it('rolls what is left of an add grant over at renewal, up to its cap, as credits for the next period', async () => {
    const { customer, subscription } = await subscribe('pro');
    const grant = { feature: 'calls', mode: 'add', limit: 50, rollover_cap: 30, reason: 'launch bonus' };
    expectStatus(await post(`/v1/customers/${customer}/grants`, grant), 201);
    // 1,000 from the plan, then 10 of the grant's 50: 40 left, 30 carry over.
    expect(await consume(customer, 1010)).toMatchObject({ allowed: true, usage: 1010, limit: 1050 });
    await advance(Date.parse(subscription.current_period_end));
    const renewed = await get(subscription.id);
    const grants = expectStatus<{ data: Record<string, unknown>[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/grants` }),
      200,
    ).data;
    const carried = grants.filter((g) => g.mode === 'credit');
    expect(carried).toEqual([
      expect.objectContaining({
        feature: 'calls',
        limit: 30,
        remaining: 30,
        starts_at: renewed.current_period_start,
        expires_at: renewed.current_period_end,
        reason: expect.stringContaining('rollover'),
      }),
    ]);
    expect(await check(customer, 'calls', 0)).toMatchObject({ usage: 0, balance: 1080 });
    // Exactly once: a later run of the scheduler finds nothing more to carry.
    await later(day);
    const again = expectStatus<{ data: Record<string, unknown>[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/grants` }),
      200,
    ).data;
    expect(again.filter((g) => g.mode === 'credit')).toHaveLength(1);
  });

  it('ends an unpaid trial at its end, and gives no second trial of the same plan', async () => {
    const { customer, subscription } = await subscribe('basic');
    await advance(Date.parse(subscription.trial_end!));
    expect(await get(subscription.id)).toMatchObject({ status: 'expired' });
    expect(await check(customer, 'calls')).toMatchObject({ allowed: false, reason: 'subscription_inactive' });

    const again = expectStatus<Subscription>(
      await post(`/v1/customers/${customer}/subscriptions`, { plan: 'basic' }),
      201,
    );
    expect(again).toMatchObject({ status: 'active', trial_end: null });
    await act(again.id, 'cancel');
    expectProblem(await post(`/v1/customers/${customer}/subscriptions`, { plan: 'basic', trial_days: 7 }), {
      status: 409,
      code: 'trial_already_used',
      path: '/trial_days',
    });
    const allowed = { plan: 'basic', trial_days: 7, allow_repeat_trial: true };
    expect(expectStatus<Subscription>(await post(`/v1/customers/${customer}/subscriptions`, allowed), 201).status).toBe(
      'trialing',
    );
  });

  it('resets monthly usage on an annual plan every month, and renews once a year', async () => {
    const key = uniqueKey('annual');
    const annual = {
      key,
      name: 'Annual',
      price: { amount: 100_000, currency: 'usd', interval: 'year' },
      entitlements: [{ feature: 'calls', limit: 100, reset: 'month' }],
    };
    expectStatus(await post('/v1/plans', annual), 201);
    expectStatus(await post(`/v1/plans/${key}/publish`), 200);
    const { customer, subscription } = await subscribe(key);
    const start = Date.parse(subscription.current_period_start);
    expect(Date.parse(subscription.current_period_end)).toBeGreaterThan(start + 364 * day);
    expect(await consume(customer, 60)).toMatchObject({ usage: 60 });
    const nextMonth = new Date(start);
    nextMonth.setUTCMonth(nextMonth.getUTCMonth() + 1, 1);
    nextMonth.setUTCHours(0, 0, 0, 0);
    await advance(nextMonth.getTime());
    expect(await check(customer, 'calls', 0)).toMatchObject({ usage: 0, limit: 100 });
    expect((await get(subscription.id)).current_period_start).toBe(subscription.current_period_start);
    await advance(Date.parse(subscription.current_period_end));
    const renewed = await get(subscription.id);
    expect(renewed.current_period_start).toBe(subscription.current_period_end);
    expect((await history(subscription.id)).filter((h) => h.action === 'renewal')).toHaveLength(1);
  });

  it('upgrades mid-period at once: the usage counted so far carries over', async () => {
    const { customer, subscription } = await subscribe('basic', { trial_days: 0 });
    expect(await consume(customer, 80)).toMatchObject({ usage: 80, balance: 20 });
    await later(5 * day);
    const upgraded = await act(subscription.id, 'change', { plan: 'pro' });
    expect(upgraded).toMatchObject({ plan: 'pro', current_period_start: subscription.current_period_start });
    expect(await check(customer, 'calls', 0)).toMatchObject({ usage: 80, limit: 1000 });
    expect(await check(customer, 'sso')).toMatchObject({ allowed: true });
    expect(await events(subscription.id)).toContain('entitlements.updated');
  });

  it('downgrades at period end, shown as scheduled until then; excess seats are kept and no more are added', async () => {
    const { customer, subscription } = await subscribe('pro');
    const seats = { feature: 'seats', set: 12 };
    expectStatus(await post(`/v1/customers/${customer}/usage`, seats), 200);
    const scheduled = await act(subscription.id, 'change', { plan: 'basic' });
    expect(scheduled).toMatchObject({
      plan: 'pro',
      scheduled_change: { plan: 'basic', plan_version: 1, at: subscription.current_period_end },
    });
    // A second change replaces the scheduled one; changing back to the current plan drops it.
    expect((await act(subscription.id, 'change', { plan: 'pro' })).scheduled_change).toBeNull();
    await act(subscription.id, 'change', { plan: 'basic', when: 'period_end' });
    await advance(Date.parse(subscription.current_period_end) - 1);
    expect(await check(customer, 'sso')).toMatchObject({ allowed: true });

    await later(1);
    expect(await get(subscription.id)).toMatchObject({ plan: 'basic', scheduled_change: null });
    expect(await check(customer, 'sso')).toMatchObject({ allowed: false });
    expect(await check(customer, 'seats', 0)).toMatchObject({ usage: 12, limit: 10, balance: 0 });
    expect(await check(customer, 'seats', 1)).toMatchObject({ allowed: false, reason: 'limit_reached' });
    const steps = (await history(subscription.id)).map((h) => h.action);
    expect(steps.slice(0, 2)).toEqual(['renewal', 'scheduled_change']);
  });

  it('cancels at period end, and an undo before then keeps it renewing', async () => {
    const { customer, subscription } = await subscribe('pro');
    const canceling = await act(subscription.id, 'cancel', { when: 'period_end', reason: 'too expensive' });
    expect(canceling.cancel_at).toBe(subscription.current_period_end);
    const undone = await act(subscription.id, 'undo-cancel', { reason: 'retention offer' });
    expect(undone.cancel_at).toBeNull();
    expectProblem(await post(`/v1/subscriptions/${subscription.id}/undo-cancel`), {
      status: 409,
      code: 'invalid_transition',
    });
    await advance(Date.parse(subscription.current_period_end) + day);
    expect(await get(subscription.id)).toMatchObject({ status: 'active' });
    expect(await check(customer, 'sso')).toMatchObject({ allowed: true });
    const [latest, , cancel] = await history(subscription.id);
    expect(latest).toMatchObject({ action: 'renewal', actor: 'scheduler' });
    expect(cancel).toMatchObject({
      action: 'schedule_cancel',
      reason: 'too expensive',
      actor: expect.stringMatching(/^key:/),
      before: { cancel_at: null },
      after: { cancel_at: subscription.current_period_end },
    });

    await act(subscription.id, 'cancel', { when: 'period_end' });
    const end = Date.parse((await get(subscription.id)).current_period_end);
    await advance(end);
    expect(await get(subscription.id)).toMatchObject({ status: 'canceled', canceled_at: iso(end) });
    expectProblem(await post(`/v1/subscriptions/${subscription.id}/undo-cancel`), {
      status: 409,
      code: 'subscription_not_live',
    });
  });

  it('past due keeps access through the grace period, then suspends until paid', async () => {
    const { customer, subscription } = await subscribe('pro');
    const pastDue = await act(subscription.id, 'past-due');
    expect(pastDue).toMatchObject({ status: 'past_due', grace_ends_at: iso(server.clock.now() + 3 * day) });
    await later(3 * day - 1);
    expect(await check(customer, 'sso')).toMatchObject({ allowed: true });
    await later(1);
    expect(await get(subscription.id)).toMatchObject({ status: 'paused' });
    expect(await check(customer, 'sso')).toMatchObject({ allowed: false, reason: 'subscription_inactive' });
    expectProblem(await post(`/v1/subscriptions/${subscription.id}/activate`), {
      status: 409,
      code: 'invalid_transition',
      detail: /is paused/,
    });
    const resumed = await act(subscription.id, 'resume', { reason: 'paid' });
    expect(resumed).toMatchObject({ status: 'active', current_period_start: iso(server.clock.now()) });
    expect(await check(customer, 'sso')).toMatchObject({ allowed: true });
  });

  it('pauses until a date and resumes by itself', async () => {
    const { customer, subscription } = await subscribe('pro');
    const resumesAt = server.clock.now() + 10 * day;
    expect(await act(subscription.id, 'pause', { resumes_at: iso(resumesAt) })).toMatchObject({
      status: 'paused',
      resumes_at: iso(resumesAt),
    });
    expect(await check(customer, 'sso')).toMatchObject({ allowed: false });
    await advance(resumesAt);
    expect(await get(subscription.id)).toMatchObject({ status: 'active', resumes_at: null });
    expect(await check(customer, 'sso')).toMatchObject({ allowed: true });
  });

  it('attaches, resizes and detaches add-ons', async () => {
    const addOn = uniqueKey('more_seats');
    const body = {
      key: addOn,
      name: 'More seats',
      kind: 'addon',
      entitlements: [{ feature: 'seats', limit: 5 }],
    };
    expectStatus(await post('/v1/plans', body), 201);
    expectStatus(await post(`/v1/plans/${addOn}/publish`), 200);
    const { customer, subscription } = await subscribe('basic', { trial_days: 0 });
    await act(subscription.id, 'add-ons', { plan: addOn, quantity: 2 });
    expect(await check(customer, 'seats', 0)).toMatchObject({ limit: 20 });
    await act(subscription.id, 'add-ons', { plan: addOn, quantity: 1 });
    expect(await check(customer, 'seats', 0)).toMatchObject({ limit: 15 });
    expect((await act(subscription.id, 'add-ons', { plan: addOn, quantity: 0 })).add_ons).toEqual([]);
    expect(await check(customer, 'seats', 0)).toMatchObject({ limit: 10 });
    expectProblem(await post(`/v1/subscriptions/${subscription.id}/add-ons`, { plan: addOn, quantity: 0 }), {
      status: 400,
      code: 'validation_failed',
      path: '/plan',
    });
  });

  it('renews a contract at its end when its terms say so, for the same term', async () => {
    const start = server.clock.now();
    const endsAt = Date.UTC(2030, 0, 1);
    server.clock.set(Math.max(start, Date.UTC(2029, 6, 1)));
    const { subscription } = await subscribe('pro', { ends_at: iso(endsAt), on_ends_at: 'renew' });
    expect(subscription).toMatchObject({ on_ends_at: 'renew', ends_at: iso(endsAt) });
    await advance(endsAt + day);
    expect(await get(subscription.id)).toMatchObject({ status: 'active', ends_at: iso(Date.UTC(2030, 6, 1)) });
    const patched = expectStatus<Subscription>(
      await server.request({
        method: 'PATCH',
        url: `/v1/subscriptions/${subscription.id}`,
        body: { on_ends_at: 'expire' },
      }),
      200,
    );
    expect(patched.on_ends_at).toBe('expire');
    await advance(Date.UTC(2030, 6, 1));
    expect(await get(subscription.id)).toMatchObject({ status: 'expired' });
  });

  it('expires at the contract end date', async () => {
    const endsAt = server.clock.now() + 45 * day;
    const { customer, subscription } = await subscribe('pro', { ends_at: iso(endsAt) });
    await advance(endsAt);
    expect(await get(subscription.id)).toMatchObject({ status: 'expired' });
    expect(await check(customer, 'sso')).toMatchObject({ allowed: false });
    const steps = (await history(subscription.id)).map((h) => h.action);
    expect(steps.slice(0, 2)).toEqual(['contract_end', 'renewal']);
  });

  it('answers what the customer was entitled to at a past instant', async () => {
    const before = server.clock.now();
    await later(day);
    const { customer, subscription } = await subscribe('pro');
    const onPro = server.clock.now();
    await later(day);
    await act(subscription.id, 'change', { plan: 'basic', when: 'now' });
    const onBasic = server.clock.now();
    await later(day);
    const grant = { feature: 'sso', enabled: true, reason: 'pilot' };
    expectStatus(await post(`/v1/customers/${customer}/grants`, grant), 201);
    const granted = server.clock.now();
    await later(day);
    await act(subscription.id, 'cancel');
    const at = async (t: number) =>
      expectStatus<{ plan: { key: string } | null; subscription_status: string | null; entitlements: object[] }>(
        await server.request({
          method: 'GET',
          url: `/v1/customers/${customer}/entitlements?feature=sso&at=${encodeURIComponent(iso(t))}`,
        }),
        200,
      );
    expect(await at(before)).toMatchObject({ plan: null, entitlements: [{ feature: 'sso', enabled: false }] });
    expect(await at(onPro)).toMatchObject({ plan: { key: 'pro' }, entitlements: [{ enabled: true }] });
    expect(await at(onBasic)).toMatchObject({ plan: { key: 'basic' }, entitlements: [{ enabled: false }] });
    expect(await at(granted)).toMatchObject({ plan: { key: 'basic' }, entitlements: [{ enabled: true }] });
    expect(await at(server.clock.now())).toMatchObject({ subscription_status: 'canceled' });
    expectProblem(
      await server.request({
        method: 'GET',
        url: `/v1/customers/${customer}/entitlements?at=${encodeURIComponent(iso(server.clock.now() + day))}`,
      }),
      { status: 400, code: 'validation_failed', path: '/querystring/at' },
    );
  });

  it('migrates grandfathered subscribers to a new version: a dry run first, then at period end', async () => {
    const key = uniqueKey('team');
    const v1 = {
      key,
      name: 'Team',
      price: { amount: 2000, currency: 'usd', interval: 'month' },
      entitlements: [{ feature: 'sso' }, { feature: 'seats', limit: 10 }],
    };
    expectStatus(await post('/v1/plans', v1), 201);
    expectStatus(await post(`/v1/plans/${key}/publish`), 200);
    const a = await subscribe(key);
    const b = await subscribe(key);
    expectStatus(await post(`/v1/customers/${a.customer}/usage`, { feature: 'seats', set: 8 }), 200);
    const v2 = {
      entitlements: [
        { feature: 'seats', limit: 5 },
        { feature: 'calls', limit: 50, reset: 'month' },
      ],
    };
    expectStatus(await server.request({ method: 'PATCH', url: `/v1/plans/${key}`, body: v2 }), 200);
    const migrate = (body: object) => post(`/v1/plans/${key}/migrate`, { from_version: 1, to_version: 2, ...body });
    expectProblem(await migrate({ dry_run: true }), { status: 409, code: 'plan_not_published', path: '/to_version' });
    expectStatus(await post(`/v1/plans/${key}/publish`), 200);

    const dry = expectStatus<{ affected: number; applied: number; customers: Record<string, unknown>[] }>(
      await migrate({ dry_run: true, when: 'now' }),
      200,
    );
    expect(dry).toMatchObject({ affected: 2, applied: 0 });
    const forA = dry.customers.find((c) => c.customer === a.customer);
    expect(forA).toEqual({
      customer: a.customer,
      subscription: a.subscription.id,
      gains: ['calls'],
      losses: ['sso'],
      changes: [
        {
          feature: 'seats',
          from: { enabled: true, limit: 10, value: null },
          to: { enabled: true, limit: 5, value: null },
        },
      ],
      over_limit: [{ feature: 'seats', usage: 8, limit: 5 }],
      skipped: null,
    });
    expect(dry.customers.find((c) => c.customer === b.customer)).toMatchObject({ over_limit: [] });
    expect(await get(a.subscription.id)).toMatchObject({ plan_version: 1, scheduled_change: null });

    const real = expectStatus<{ applied: number }>(await migrate({}), 200);
    expect(real.applied).toBe(2);
    expect(await get(b.subscription.id)).toMatchObject({
      plan_version: 1,
      scheduled_change: { plan: key, plan_version: 2, at: b.subscription.current_period_end },
    });
    expect(await check(b.customer, 'sso')).toMatchObject({ allowed: true }); // still v1 until then
    await advance(Date.parse(b.subscription.current_period_end));
    expect(await get(b.subscription.id)).toMatchObject({ plan_version: 2, scheduled_change: null });
    expect(await check(b.customer, 'sso')).toMatchObject({ allowed: false });
    expect(await check(a.customer, 'seats')).toMatchObject({ allowed: false, usage: 8, limit: 5 });
    const steps = (await history(a.subscription.id)).map((h) => [h.action, h.actor]);
    expect(steps).toContainEqual(['migrate', expect.stringMatching(/^key:/)]);
    expect((await migrate({})).json()).toMatchObject({ affected: 0, applied: 0 });
  });

  describe('refusals', () => {
    it('refuses a transition the state machine does not allow, naming the state', async () => {
      const { subscription } = await subscribe('pro');
      expectProblem(await post(`/v1/subscriptions/${subscription.id}/resume`), {
        status: 409,
        code: 'invalid_transition',
        detail: /is active/,
      });
    });

    it('refuses a migration between the same version, or of a plan that does not exist', async () => {
      expectProblem(await post('/v1/plans/basic/migrate', { from_version: 1, to_version: 1 }), {
        status: 400,
        code: 'validation_failed',
        path: '/to_version',
      });
      expectProblem(await post('/v1/plans/nope/migrate', { from_version: 1, to_version: 2 }), {
        status: 404,
        code: 'plan_not_found',
      });
    });

    it('never moves the clock back', async () => {
      expectProblem(await post('/v1/test-clock/advance', { to: iso(server.clock.now() - 1) }), {
        status: 400,
        code: 'validation_failed',
        path: '/to',
      });
    });

    it('refuses a pause that would resume in the past', async () => {
      const { subscription } = await subscribe('pro');
      expectProblem(await post(`/v1/subscriptions/${subscription.id}/pause`, { resumes_at: iso(server.clock.now()) }), {
        status: 400,
        code: 'validation_failed',
        path: '/resumes_at',
      });
    });
  });
});

describeEachDialect('without KEYMASTER_TEST_CLOCK', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
  });
  afterAll(() => server.close());

  it('has no test-clock routes', async () => {
    const response = await server.request({
      method: 'POST',
      url: '/v1/test-clock/advance',
      body: { to: '2030-01-01T00:00:00Z' },
    });
    expect(response.statusCode).toBe(404);
  });
});

describeEachDialect('with KEYMASTER_FALLBACK_PLAN', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_FALLBACK_PLAN: 'free' } });
    const features = [
      { key: 'calls', name: 'Calls', type: 'metered' },
      { key: 'sso', name: 'SSO', type: 'boolean' },
    ];
    for (const body of features) expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    const plans = [
      { key: 'free', name: 'Free', entitlements: [{ feature: 'calls', limit: 10, reset: 'month' }] },
      {
        key: 'pro',
        name: 'Pro',
        entitlements: [{ feature: 'calls', limit: 1000, reset: 'month' }, { feature: 'sso' }],
      },
    ];
    for (const body of plans) {
      expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body }), 201);
      expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${body.key}/publish` }), 200);
    }
  });
  afterAll(() => server.close());

  const check = async (customer: string, feature: string) =>
    expectStatus<Decision>(
      await server.request({ method: 'POST', url: '/v1/check', body: { customer, feature, quantity: 0 } }),
      200,
    );

  it('gives the fallback plan to customers without a live subscription', async () => {
    const { id, subscription } = await seedCustomer(server, { plan: 'pro' });
    expect(await check(id, 'calls')).toMatchObject({ allowed: true, limit: 1000 });
    expectStatus(
      await server.request({ method: 'POST', url: `/v1/subscriptions/${subscription!.id}/cancel`, body: {} }),
      200,
    );
    expect(await check(id, 'calls')).toMatchObject({ allowed: true, limit: 10 });
    expect(await check(id, 'sso')).toMatchObject({ allowed: false, reason: 'no_entitlement' });
    const unsubscribed = (await seedCustomer(server)).id;
    expect(await check(unsubscribed, 'calls')).toMatchObject({ allowed: true, limit: 10 });
  });
});
