import type { CustomerEntitlements, Decision } from '@keymaster/contract';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  catalog,
  check,
  expectStatus,
  featureBody,
  grantBody,
  monthly,
  planBody,
  seedCatalog,
  seedCustomer,
  uniqueKey,
} from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

const day = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const upgradeTo = (...keys: (keyof typeof catalog.prices)[]) => ({
  plans: keys.map((key) => ({
    key: catalog.plans[key],
    name: catalog.names[key],
    kind: key === 'extraSeats' ? 'addon' : 'base',
    price: monthly(catalog.prices[key]),
  })),
});

describeEachDialect('entitlements routes', (dialect) => {
  let server: TestServer;
  const start = Date.parse('2026-01-15T12:00:00.000Z');
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: iso(start) });
    await seedCatalog(server);
  });
  afterAll(() => server.close());
  afterEach(() => server.clock.set(start));

  /** A new feature (and a published plan that grants it) the test may do anything to. */
  const ownFeature = async (overrides: Parameters<typeof featureBody>[0] = {}) => {
    const feature = featureBody(overrides);
    expectStatus(await server.request({ method: 'POST', url: '/v1/features', body: feature }), 201);
    const plan = planBody({ key: uniqueKey('plan'), entitlements: [{ feature: feature.key }] });
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body: plan }), 201);
    expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${plan.key}/publish` }), 200);
    return { feature: feature.key, plan: plan.key };
  };

  describe('POST /v1/check: every reason', () => {
    it('entitled: the full decision for a metered feature', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      expect(await check(server, { customer: id, feature: 'api_calls', quantity: 100 })).toEqual({
        customer: id,
        feature: 'api_calls',
        allowed: true,
        reason: 'entitled',
        type: 'metered',
        limit: 100_000,
        usage: 0,
        balance: 100_000,
        unlimited: false,
        overage: 'block',
        value: null,
        resets_at: '2026-02-01T00:00:00.000Z',
        upgrade: null,
        credit_cost: null,
      } satisfies Decision);
    });

    it('entitled: boolean, gauge, config and unlimited features', async () => {
      const { id } = await seedCustomer(server, { plan: 'enterprise' });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: true,
        type: 'boolean',
        limit: null,
        usage: null,
        balance: null,
        overage: null,
        resets_at: null,
      });
      expect(await check(server, { customer: id, feature: 'seats', quantity: 10_000 })).toMatchObject({
        allowed: true,
        type: 'gauge',
        limit: null,
        unlimited: true,
        resets_at: null,
      });
      expect(await check(server, { customer: id, feature: 'support_tier' })).toMatchObject({
        allowed: true,
        type: 'config',
        value: 'dedicated',
      });
    });

    it('no_entitlement: with the cheapest plans that include it as the upgrade', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      expect(await check(server, { customer: id, feature: 'sso' })).toEqual({
        customer: id,
        feature: 'sso',
        allowed: false,
        reason: 'no_entitlement',
        type: 'boolean',
        limit: null,
        usage: null,
        balance: null,
        unlimited: false,
        overage: null,
        value: null,
        resets_at: null,
        upgrade: upgradeTo('pro', 'enterprise'),
        credit_cost: null,
      });
      // Without any subscription, base plans are offered but add-ons are not.
      const { id: bare } = await seedCustomer(server);
      expect(await check(server, { customer: bare, feature: 'seats' })).toMatchObject({
        reason: 'no_entitlement',
        upgrade: upgradeTo('free', 'pro', 'enterprise'),
      });
    });

    it('limit_reached: a quantity over the limit, with the cheapest plans that allow it', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      expect(await check(server, { customer: id, feature: 'api_calls', quantity: 1000 })).toMatchObject({
        allowed: true,
      });
      expect(await check(server, { customer: id, feature: 'api_calls', quantity: 1001 })).toMatchObject({
        allowed: false,
        reason: 'limit_reached',
        limit: 1000,
        usage: 0,
        balance: 1000,
        upgrade: upgradeTo('pro', 'enterprise'),
      });
      // Pro's 100,000 is not enough for 200,000: only enterprise is suggested.
      expect(await check(server, { customer: id, feature: 'api_calls', quantity: 200_000 })).toMatchObject({
        reason: 'limit_reached',
        upgrade: upgradeTo('enterprise'),
      });
      // An add-on that covers the gap is cheaper than moving up a plan.
      expect(await check(server, { customer: id, feature: 'seats', quantity: 4 })).toMatchObject({
        reason: 'limit_reached',
        limit: 3,
        upgrade: upgradeTo('extraSeats', 'pro', 'enterprise'),
      });
    });

    it('feature_disabled: the kill switch denies everyone from the very next check, with no upsell', async () => {
      const { feature, plan } = await ownFeature();
      const { id } = await seedCustomer(server, { plan });
      expect(await check(server, { customer: id, feature })).toMatchObject({ allowed: true });
      const kill = (status: string) =>
        server.request({ method: 'PATCH', url: `/v1/features/${feature}`, body: { status } });
      expectStatus(await kill('disabled'), 200);
      expect(await check(server, { customer: id, feature })).toMatchObject({
        allowed: false,
        reason: 'feature_disabled',
        upgrade: null,
      });
      // Not even a grant gets past it.
      expectStatus(
        await server.request({
          method: 'POST',
          url: `/v1/customers/${id}/grants`,
          body: grantBody({ feature, enabled: true }),
        }),
        201,
      );
      expect(await check(server, { customer: id, feature })).toMatchObject({ reason: 'feature_disabled' });
      expectStatus(await kill('active'), 200);
      expect(await check(server, { customer: id, feature })).toMatchObject({ allowed: true, reason: 'entitled' });
    });

    it('subscription_inactive: once the subscription is canceled', async () => {
      const { id, subscription } = await seedCustomer(server, { plan: 'pro' });
      expectStatus(await server.request({ method: 'POST', url: `/v1/subscriptions/${subscription!.id}/cancel` }), 200);
      expect(await check(server, { customer: id, feature: 'api_calls' })).toMatchObject({
        allowed: false,
        reason: 'subscription_inactive',
        limit: null,
        balance: null,
      });
    });

    it('unknown_customer and unknown_feature', async () => {
      const blank = {
        allowed: false,
        type: null,
        limit: null,
        usage: null,
        balance: null,
        unlimited: false,
        overage: null,
        value: null,
        resets_at: null,
        upgrade: null,
        credit_cost: null,
      };
      expect(await check(server, { customer: 'nobody', feature: 'sso' })).toEqual({
        customer: 'nobody',
        feature: 'sso',
        reason: 'unknown_customer',
        ...blank,
      });
      const { id } = await seedCustomer(server, { plan: 'pro' });
      expect(await check(server, { customer: id, feature: 'teleportation' })).toEqual({
        customer: id,
        feature: 'teleportation',
        reason: 'unknown_feature',
        ...blank,
      });
    });

    it.each([
      ['no customer', { feature: 'sso' }, '/customer'],
      ['no feature', { customer: 'acme' }, '/feature'],
      ['a negative quantity', { customer: 'acme', feature: 'sso', quantity: -1 }, '/quantity'],
      ['a quantity sent as a string', { customer: 'acme', feature: 'sso', quantity: '5' }, '/quantity'],
      ['a fractional quantity', { customer: 'acme', feature: 'sso', quantity: 0.5 }, '/quantity'],
      ['a context that is a string', { customer: 'acme', feature: 'sso', context: 'DE' }, '/context'],
      ['a customer id with a space', { customer: 'a b', feature: 'sso' }, '/customer'],
      ['a feature key of 65 characters', { customer: 'acme', feature: 'f'.repeat(65) }, '/feature'],
      ['an unknown field', { customer: 'acme', feature: 'sso', amount: 1 }, '/amount'],
    ])('refuses %s with 400', async (_name, body, path) => {
      expectProblem(await server.request({ method: 'POST', url: '/v1/check', body }), {
        status: 400,
        code: 'validation_failed',
        path,
      });
    });
  });

  describe('targeting', () => {
    const rule = { if: [{ in: [{ var: 'country' }, ['DE', 'FR']] }, 'on', 'off'] };

    it('switches a boolean feature on by customer traits, and follows a traits PUT at once', async () => {
      const { feature } = await ownFeature({ targeting: rule });
      const { id } = await seedCustomer(server, { plan: 'free', traits: { country: 'DE' } });
      expect(await check(server, { customer: id, feature })).toMatchObject({ allowed: true, reason: 'entitled' });
      expectStatus(
        await server.request({ method: 'PUT', url: `/v1/customers/${id}`, body: { traits: { country: 'US' } } }),
        200,
      );
      expect(await check(server, { customer: id, feature })).toMatchObject({
        allowed: false,
        reason: 'no_entitlement',
      });
      expectStatus(
        await server.request({ method: 'PUT', url: `/v1/customers/${id}`, body: { traits: { country: 'FR' } } }),
        200,
      );
      expect(await check(server, { customer: id, feature })).toMatchObject({ allowed: true });
      const snapshot = expectStatus<CustomerEntitlements>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/entitlements?feature=${feature}` }),
        200,
      );
      expect(snapshot.entitlements).toEqual([expect.objectContaining({ feature, enabled: true, source: 'targeting' })]);
    });

    it("uses the caller's context, but stored traits win", async () => {
      const { feature } = await ownFeature({ targeting: rule });
      const { id } = await seedCustomer(server, { plan: 'free' });
      expect(await check(server, { customer: id, feature })).toMatchObject({ allowed: false });
      expect(await check(server, { customer: id, feature, context: { country: 'FR' } })).toMatchObject({
        allowed: true,
      });
      expect(await check(server, { customer: id, feature, context: { country: 'US' } })).toMatchObject({
        allowed: false,
      });
      const { id: german } = await seedCustomer(server, { plan: 'free', traits: { country: 'DE' } });
      expect(await check(server, { customer: german, feature, context: { country: 'US' } })).toMatchObject({
        allowed: true,
      });
    });

    it('turns a feature off for a plan that has it (an "off" answer beats the plan)', async () => {
      const { feature, plan } = await ownFeature({ targeting: rule });
      const { id } = await seedCustomer(server, { plan, traits: { country: 'US' } });
      expect(await check(server, { customer: id, feature })).toMatchObject({
        allowed: false,
        reason: 'no_entitlement',
      });
    });
  });

  describe('GET /v1/customers/{id}/entitlements', () => {
    it('answers the full snapshot with exactly the documented fields', async () => {
      const { id } = await seedCustomer(server, {
        plan: 'pro',
        subscription: { trial_days: 14, add_ons: [{ plan: 'extra_seats' }] },
      });
      const snapshot = expectStatus<CustomerEntitlements>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/entitlements` }),
        200,
      );
      expect(snapshot).toEqual({
        customer: id,
        plan: { key: 'pro', version: 1 },
        subscription_status: 'trialing',
        computed_at: iso(start),
        valid_until: iso(start + 14 * day),
        entitlements: expect.any(Array),
      });
      const byFeature = Object.fromEntries(snapshot.entitlements.map((e) => [e.feature, e]));
      expect(byFeature.api_calls).toEqual({
        feature: 'api_calls',
        type: 'metered',
        enabled: true,
        reason: 'entitled',
        limit: 100_000,
        unlimited: false,
        usage: 0,
        balance: 100_000,
        overage: 'block',
        reset: 'month',
        window: null,
        resets_at: '2026-02-01T00:00:00.000Z',
        value: null,
        source: 'plan',
        credit_cost: null,
      });
      expect(byFeature.seats).toMatchObject({ enabled: true, limit: 15, source: 'plan', reset: null });
      expect(byFeature.support_tier).toMatchObject({ enabled: true, value: 'priority', usage: null });
      expect(byFeature.sso).toMatchObject({ enabled: true, reason: 'entitled' });
    });

    it('filters by ?feature= and reports why a feature is off', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      const snapshot = expectStatus<CustomerEntitlements>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/entitlements?feature=sso` }),
        200,
      );
      // The plan's api_calls allowance resets monthly: the snapshot holds until the next reset.
      expect(snapshot.valid_until).toBe('2026-02-01T00:00:00.000Z');
      expect(snapshot.entitlements).toEqual([
        {
          feature: 'sso',
          type: 'boolean',
          enabled: false,
          reason: 'no_entitlement',
          limit: null,
          unlimited: false,
          usage: null,
          balance: null,
          overage: null,
          reset: null,
          window: null,
          resets_at: null,
          value: null,
          source: null,
          credit_cost: null,
        },
      ]);
    });

    it('answers a customer without a subscription, and 404 for an unknown one', async () => {
      const { id } = await seedCustomer(server);
      const snapshot = expectStatus<CustomerEntitlements>(
        await server.request({ method: 'GET', url: `/v1/customers/${id}/entitlements` }),
        200,
      );
      expect(snapshot).toMatchObject({ plan: null, subscription_status: null });
      expect(snapshot.entitlements.every((e) => !e.enabled)).toBe(true);
      expectProblem(await server.request({ method: 'GET', url: '/v1/customers/nobody/entitlements' }), {
        status: 404,
        code: 'customer_not_found',
      });
      expectProblem(await server.request({ method: 'GET', url: `/v1/customers/${id}/entitlements?feature=NO%20PE` }), {
        status: 400,
        code: 'validation_failed',
        path: '/querystring/feature',
      });
    });
  });

  describe('every write that changes an answer shows in the very next check', () => {
    it('subscription create and cancel', async () => {
      const { id } = await seedCustomer(server);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ reason: 'no_entitlement' });
      const subscription = expectStatus<{ id: string }>(
        await server.request({ method: 'POST', url: `/v1/customers/${id}/subscriptions`, body: { plan: 'pro' } }),
        201,
      );
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ reason: 'entitled' });
      expectStatus(await server.request({ method: 'POST', url: `/v1/subscriptions/${subscription.id}/cancel` }), 200);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ reason: 'subscription_inactive' });
    });

    it('grant create and revoke', async () => {
      const { id } = await seedCustomer(server, { plan: 'free' });
      expect(await check(server, { customer: id, feature: 'api_calls', quantity: 1500 })).toMatchObject({
        reason: 'limit_reached',
      });
      const grant = expectStatus<{ id: string }>(
        await server.request({
          method: 'POST',
          url: `/v1/customers/${id}/grants`,
          body: grantBody({ feature: 'api_calls', mode: 'add', limit: 500 }),
        }),
        201,
      );
      expect(await check(server, { customer: id, feature: 'api_calls', quantity: 1500 })).toMatchObject({
        reason: 'entitled',
        limit: 1500,
      });
      expectStatus(await server.request({ method: 'DELETE', url: `/v1/grants/${grant.id}` }), 200);
      expect(await check(server, { customer: id, feature: 'api_calls', quantity: 1500 })).toMatchObject({
        reason: 'limit_reached',
        limit: 1000,
      });
    });

    it('a published plan: new subscribers get it, and it joins the upgrade suggestions', async () => {
      const key = uniqueKey('starter');
      const { id: onFree } = await seedCustomer(server, { plan: 'free' });
      expect(await check(server, { customer: onFree, feature: 'sso' })).toMatchObject({
        upgrade: upgradeTo('pro', 'enterprise'),
      });
      expectStatus(
        await server.request({
          method: 'POST',
          url: '/v1/plans',
          body: planBody({ key, name: 'Starter', price: monthly(900), entitlements: [{ feature: 'sso' }] }),
        }),
        201,
      );
      // A draft is not on sale: nothing changes yet.
      expect(await check(server, { customer: onFree, feature: 'sso' })).toMatchObject({
        upgrade: upgradeTo('pro', 'enterprise'),
      });
      expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${key}/publish` }), 200);
      expect((await check(server, { customer: onFree, feature: 'sso' })).upgrade?.plans.map((p) => p.key)).toEqual([
        key,
        'pro',
        'enterprise',
      ]);
      const { id: onStarter } = await seedCustomer(server, { plan: key });
      expect(await check(server, { customer: onStarter, feature: 'sso' })).toMatchObject({ reason: 'entitled' });
      // Its v2 drops sso: existing subscribers keep v1, new ones get v2 — both on this node at once.
      expectStatus(await server.request({ method: 'PATCH', url: `/v1/plans/${key}`, body: { entitlements: [] } }), 200);
      expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${key}/publish` }), 200);
      const { id: onStarterV2 } = await seedCustomer(server, { plan: key });
      expect(await check(server, { customer: onStarter, feature: 'sso' })).toMatchObject({ reason: 'entitled' });
      expect(await check(server, { customer: onStarterV2, feature: 'sso' })).toMatchObject({
        reason: 'no_entitlement',
      });
    });

    it('a customer erased and created again', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ reason: 'entitled' });
      expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ reason: 'unknown_customer' });
      await seedCustomer(server, { id });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ reason: 'no_entitlement' });
    });
  });
});
