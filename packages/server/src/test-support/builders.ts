import type {
  CustomerUpsert,
  Decision,
  FeatureCreate,
  GrantCreate,
  PlanCreate,
  Subscription,
  SubscriptionCreate,
} from '@keymaster/contract';
import { expect } from 'vitest';
import type { TestResponse, TestServer } from './server.js';

/**
 * Request bodies with sensible defaults and overrides, Outline style, plus helpers that create
 * things through the public API (never behind its back), so tests exercise what clients do.
 */

let counter = 0;
/** A key no other test in this process uses: `prefix_<n>`. */
export function uniqueKey(prefix: string): string {
  counter += 1;
  return `${prefix}_${counter}`;
}

export function featureBody(overrides: Partial<FeatureCreate> = {}): FeatureCreate {
  return { key: uniqueKey('feature'), name: 'A feature', type: 'boolean', ...overrides };
}

export function planBody(overrides: Partial<PlanCreate> = {}): PlanCreate {
  return { key: uniqueKey('plan'), name: 'A plan', entitlements: [], ...overrides };
}

export function customerBody(overrides: Partial<CustomerUpsert> = {}): CustomerUpsert {
  return { name: 'Acme Inc.', email: 'billing@acme.example', traits: {}, ...overrides };
}

export function subscriptionBody(overrides: Partial<SubscriptionCreate> & { plan: string }): SubscriptionCreate {
  return { ...overrides };
}

export function grantBody(overrides: Partial<GrantCreate> & { feature: string }): GrantCreate {
  return { reason: 'Support ticket #1234', ...overrides };
}

export const monthly = (amount: number) => ({ amount, currency: 'usd', interval: 'month' as const });

/** Asserts the status (showing the body when it differs) and returns the parsed JSON. */
export function expectStatus<T = Record<string, unknown>>(response: TestResponse, status: number): T {
  expect(response.statusCode, response.body).toBe(status);
  return response.json<T>();
}

/** What `seedCatalog` creates, for assertions. */
export const catalog = {
  features: { sso: 'sso', apiCalls: 'api_calls', seats: 'seats', supportTier: 'support_tier' },
  plans: { free: 'free', pro: 'pro', enterprise: 'enterprise', extraSeats: 'extra_seats' },
  names: { free: 'Free', pro: 'Pro', enterprise: 'Enterprise', extraSeats: 'Extra seats' },
  limits: {
    free: { apiCalls: 1000, seats: 3, supportTier: 'email' },
    pro: { apiCalls: 100_000, seats: 10, supportTier: 'priority' },
    enterprise: { apiCalls: null, seats: null, supportTier: 'dedicated' },
    extraSeats: { seats: 5 },
  },
  prices: { free: 0, pro: 4900, enterprise: 19900, extraSeats: 1500 },
} as const;

/**
 * A small published catalog: boolean `sso`, metered `api_calls`, gauge `seats`, config
 * `support_tier` (an enum), base plans free / pro / enterprise at 0 / 49 / 199 a month, and the
 * add-on `extra_seats` (+5 seats). Only free lacks sso; only enterprise is unlimited.
 */
export async function seedCatalog(server: TestServer): Promise<void> {
  const { limits, names, prices } = catalog;
  const features: FeatureCreate[] = [
    featureBody({ key: 'sso', name: 'Single sign-on', type: 'boolean' }),
    featureBody({ key: 'api_calls', name: 'API calls', type: 'metered', unit: 'calls' }),
    featureBody({ key: 'seats', name: 'Seats', type: 'gauge', unit: 'seats' }),
    featureBody({
      key: 'support_tier',
      name: 'Support tier',
      type: 'config',
      options: ['email', 'priority', 'dedicated'],
    }),
  ];
  for (const body of features) {
    expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
  }
  const plans: PlanCreate[] = [
    planBody({
      key: 'free',
      name: names.free,
      price: monthly(prices.free),
      entitlements: [
        { feature: 'api_calls', limit: limits.free.apiCalls, reset: 'month' },
        { feature: 'seats', limit: limits.free.seats },
        { feature: 'support_tier', value: limits.free.supportTier },
      ],
    }),
    planBody({
      key: 'pro',
      name: names.pro,
      price: monthly(prices.pro),
      entitlements: [
        { feature: 'sso' },
        { feature: 'api_calls', limit: limits.pro.apiCalls, reset: 'month' },
        { feature: 'seats', limit: limits.pro.seats },
        { feature: 'support_tier', value: limits.pro.supportTier },
      ],
    }),
    planBody({
      key: 'enterprise',
      name: names.enterprise,
      price: monthly(prices.enterprise),
      entitlements: [
        { feature: 'sso' },
        { feature: 'api_calls', limit: null, reset: 'month' },
        { feature: 'seats', limit: null },
        { feature: 'support_tier', value: limits.enterprise.supportTier },
      ],
    }),
    planBody({
      key: 'extra_seats',
      name: names.extraSeats,
      kind: 'addon',
      price: monthly(prices.extraSeats),
      entitlements: [{ feature: 'seats', limit: limits.extraSeats.seats }],
    }),
  ];
  for (const body of plans) {
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body }), 201);
    expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${body.key}/publish` }), 200);
  }
}

/** Creates each feature, then creates and publishes each plan, through the API. */
export async function publishCatalog(
  server: TestServer,
  input: { features: Record<string, unknown>[]; plans: (Record<string, unknown> & { key: string })[] },
): Promise<void> {
  for (const body of input.features) {
    expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
  }
  for (const body of input.plans) {
    expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body }), 201);
    expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${body.key}/publish` }), 200);
  }
}

/** Creates (PUT) a customer and, with `plan`, subscribes them; returns the subscription if any. */
export async function seedCustomer(
  server: TestServer,
  input: {
    id?: string;
    plan?: string;
    traits?: Record<string, unknown>;
    subscription?: Partial<SubscriptionCreate>;
  } = {},
): Promise<{ id: string; subscription: Subscription | null }> {
  const id = input.id ?? uniqueKey('cus');
  expectStatus(
    await server.request({
      method: 'PUT',
      url: `/v1/customers/${id}`,
      body: customerBody({ traits: input.traits ?? {} }),
    }),
    201,
  );
  if (input.plan === undefined) return { id, subscription: null };
  const subscription = expectStatus<Subscription>(
    await server.request({
      method: 'POST',
      url: `/v1/customers/${id}/subscriptions`,
      body: subscriptionBody({ plan: input.plan, ...input.subscription }),
    }),
    201,
  );
  return { id, subscription };
}

/** POST /v1/check, asserting the 200 every check answers. */
export async function check(
  server: TestServer,
  body: { customer: string; feature: string; quantity?: number; context?: Record<string, unknown> },
): Promise<Decision> {
  return expectStatus<Decision>(await server.request({ method: 'POST', url: '/v1/check', body }), 200);
}

/** The server's (manual) clock as the API writes times. */
export function nowIso(server: TestServer): string {
  return new Date(server.clock.now()).toISOString();
}
