/** Just enough of a client to seed a Keymaster server through its public API. */
export interface KeymasterApi {
  url: string;
  headers: Record<string, string>;
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
}

export function keymasterApi(input: { url: string; adminKey: string }): KeymasterApi {
  const headers = { authorization: `Bearer ${input.adminKey}`, 'content-type': 'application/json' };
  return {
    url: input.url,
    headers,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const response = await fetch(new URL(path, input.url), {
        method,
        headers: body === undefined ? { authorization: headers.authorization } : headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return (text ? JSON.parse(text) : null) as T;
    },
  };
}

/** The catalog every HTTP benchmark runs on: a realistic handful of features and three plans. */
export const benchFeatures = [
  {
    key: 'api_calls',
    name: 'API calls',
    type: 'metered',
    unit: 'calls',
    // Fed by usage events as well as by consume: the ingestion benchmarks count into it.
    meter: { event_type: 'api_call', aggregation: 'count' },
  },
  { key: 'exports', name: 'Exports', type: 'metered', unit: 'exports' },
  { key: 'seats', name: 'Seats', type: 'gauge', unit: 'seats' },
  { key: 'sso', name: 'Single sign-on', type: 'boolean' },
  { key: 'audit_log', name: 'Audit log', type: 'boolean' },
  { key: 'support_tier', name: 'Support tier', type: 'config', options: ['email', 'priority', 'dedicated'] },
] as const;

export const benchPlans = [
  {
    key: 'starter',
    name: 'Starter',
    price: { amount: 900, currency: 'usd', interval: 'month' },
    entitlements: [
      { feature: 'api_calls', limit: 1_000, reset: 'month' },
      { feature: 'exports', limit: 10, reset: 'month' },
      { feature: 'seats', limit: 3 },
      { feature: 'support_tier', value: 'email' },
    ],
  },
  {
    key: 'pro',
    name: 'Pro',
    price: { amount: 4900, currency: 'usd', interval: 'month' },
    entitlements: [
      { feature: 'api_calls', limit: 100_000, reset: 'month' },
      { feature: 'exports', limit: 1_000, reset: 'month' },
      { feature: 'seats', limit: 20 },
      { feature: 'sso' },
      { feature: 'support_tier', value: 'priority' },
    ],
  },
  {
    key: 'business',
    name: 'Business',
    price: { amount: 19900, currency: 'usd', interval: 'month' },
    entitlements: [
      { feature: 'api_calls', limit: null, reset: 'month' },
      { feature: 'exports', limit: null, reset: 'month' },
      { feature: 'seats', limit: null },
      { feature: 'sso' },
      { feature: 'audit_log' },
      { feature: 'support_tier', value: 'dedicated' },
    ],
  },
] as const;

/** Creates the features and publishes the plans. */
export async function seedCatalog(api: KeymasterApi): Promise<void> {
  for (const feature of benchFeatures) await api.call('POST', '/v1/features', feature);
  for (const plan of benchPlans) {
    await api.call('POST', '/v1/plans', plan);
    await api.call('POST', `/v1/plans/${plan.key}/publish`);
  }
}

/** The event type the benchmark catalog's `api_calls` meter counts. */
export const meteredEventType = 'api_call';

/**
 * Creates customers subscribed to `plan` through the API, `concurrency` at a time, each with
 * `grant` (a grant request body) when given.
 */
export async function seedCustomers(input: {
  api: KeymasterApi;
  ids: readonly string[];
  plan: string;
  concurrency: number;
  grant?: Record<string, unknown>;
}): Promise<void> {
  await inParallel(input.ids, input.concurrency, async (id) => {
    await input.api.call('PUT', `/v1/customers/${encodeURIComponent(id)}`, { name: `Customer ${id}` });
    await input.api.call('POST', `/v1/customers/${encodeURIComponent(id)}/subscriptions`, { plan: input.plan });
    if (input.grant) await input.api.call('POST', `/v1/customers/${encodeURIComponent(id)}/grants`, input.grant);
  });
}

/** Runs `work` on every item, `concurrency` at a time (seeding through the API). */
export async function inParallel<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * The value of one series on the server's `GET /metrics`, named as it is written there: a name, or
 * a name and its labels (`keymaster_http_requests_total{method="POST",route="/v1/check",status="200"}`).
 * A series not written yet (a counter with no value yet) reads 0.
 */
export async function readMetric(api: KeymasterApi, name: string): Promise<number> {
  const response = await fetch(new URL('/metrics', api.url), {
    headers: { authorization: api.headers.authorization! },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET /metrics: ${response.status} ${text}`);
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

/** Customer ids the benchmarks use: `cus-000042`. */
export function customerId(index: number): string {
  return `cus-${String(index).padStart(6, '0')}`;
}

/** A check of a metered feature the customer is entitled to: answered `allowed: true`. */
export function checkRequest(customer: string) {
  return checkOf(customer, 'api_calls');
}

/** A check of one unit of `feature`. */
export function checkOf(customer: string, feature: string) {
  return { method: 'POST' as const, path: '/v1/check', body: JSON.stringify({ customer, feature }) };
}

/** A consume of one unit of the metered feature: allowed while the customer's limit lasts. */
export function consumeRequest(customer: string) {
  return { method: 'POST' as const, path: '/v1/consume', body: JSON.stringify({ customer, feature: 'api_calls' }) };
}

/** A grant that lifts `api_calls` far above anything a benchmark consumes, keeping the limit check. */
export const largeLimitGrant = { feature: 'api_calls', limit: 1_000_000_000, reason: 'benchmark' };
