import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';
import { expectStatus } from './builders.js';
import type { TestServer } from './server.js';

/**
 * Stripe's objects for tests, built from the real shapes in Stripe's published fixtures
 * (`../shared/conformance/stripe/fixtures3.json` beside the repository, or `STRIPE_FIXTURES`):
 * read from there, never copied in. Signing uses the official package's test helper, and a fake
 * of the few API routes Keymaster calls answers on a local port: nothing reaches Stripe.
 */

type Fields = Record<string, unknown>;

const fixturesFile =
  process.env.STRIPE_FIXTURES ??
  fileURLToPath(new URL('../../../../../shared/conformance/stripe/fixtures3.json', import.meta.url));

let fixtures: Record<string, Fields> | undefined;

/** One resource of Stripe's fixtures (`subscription`, `event`, `invoice`, `checkout.session`…), a fresh copy. */
export function stripeFixture(resource: string): Fields {
  if (fixtures === undefined) {
    let text: string;
    try {
      text = readFileSync(fixturesFile, 'utf8');
    } catch {
      throw new Error(`Stripe's fixtures are not at ${fixturesFile}: set STRIPE_FIXTURES to fixtures3.json`);
    }
    fixtures = (JSON.parse(text) as { resources: Record<string, Fields> }).resources;
  }
  const found = fixtures[resource];
  if (found === undefined) throw new Error(`no Stripe fixture "${resource}"`);
  return structuredClone(found);
}

/** Seconds, as Stripe counts time. */
export const stripeTime = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

/** One subscription item: a price of `product`, with the fixture's shape. */
export function stripeItem(input: {
  id: string;
  product: string;
  quantity?: number;
  period?: { start: string; end: string };
}): Fields {
  const template = (stripeFixture('subscription').items as { data: Fields[] }).data[0]!;
  const price = { ...(template.price as Fields), id: `price_${input.product}`, product: input.product };
  const item: Fields = { ...template, id: input.id, price, quantity: input.quantity ?? 1 };
  item.plan = { ...(template.plan as Fields), product: input.product };
  if (input.period) {
    item.current_period_start = stripeTime(input.period.start);
    item.current_period_end = stripeTime(input.period.end);
  } else {
    delete item.current_period_start;
    delete item.current_period_end;
  }
  return item;
}

/** A subscription with the fixture's shape; times as ISO strings, items as `stripeItem` makes them. */
export function stripeSubscription(input: {
  id: string;
  customer: string;
  status: string;
  items: Fields[];
  metadata?: Record<string, string>;
  trialEnd?: string | null;
  cancelAtPeriodEnd?: boolean;
  cancelAt?: string | null;
  startDate?: string;
  /** The subscription-level period of API versions before 2025-03-31. */
  period?: { start: string; end: string };
}): Fields {
  const subscription = stripeFixture('subscription');
  const time = (iso: string | null | undefined) => (iso ? stripeTime(iso) : null);
  Object.assign(subscription, {
    id: input.id,
    customer: input.customer,
    status: input.status,
    metadata: input.metadata ?? {},
    items: {
      ...(subscription.items as Fields),
      data: input.items,
      url: `/v1/subscription_items?subscription=${input.id}`,
    },
    trial_end: time(input.trialEnd),
    trial_start: input.trialEnd ? time(input.startDate ?? '2026-01-01T00:00:00Z') : null,
    cancel_at_period_end: input.cancelAtPeriodEnd ?? false,
    cancel_at: time(input.cancelAt),
    canceled_at: input.status === 'canceled' ? time(input.cancelAt ?? input.startDate) : null,
    ended_at: input.status === 'canceled' ? time(input.cancelAt ?? input.startDate) : null,
    start_date: time(input.startDate ?? '2026-01-01T00:00:00Z'),
    created: time(input.startDate ?? '2026-01-01T00:00:00Z'),
  });
  if (input.period) {
    subscription.current_period_start = stripeTime(input.period.start);
    subscription.current_period_end = stripeTime(input.period.end);
  }
  return subscription;
}

/** An event with the fixture's envelope around `object`. */
export function stripeEvent(input: { id: string; type: string; created: string; object: unknown }): Fields {
  const event = stripeFixture('event');
  return {
    ...event,
    id: input.id,
    type: input.type,
    created: stripeTime(input.created),
    data: { object: input.object },
  };
}

/** The body and headers of a delivery Stripe would send, signed at `at` (default: now). */
export function signedDelivery(input: { event: unknown; secret: string; at?: number }): {
  body: string;
  headers: Record<string, string>;
} {
  const body = typeof input.event === 'string' ? input.event : JSON.stringify(input.event);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload: body,
    secret: input.secret,
    ...(input.at !== undefined ? { timestamp: Math.floor(input.at / 1000) } : {}),
  });
  return { body, headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature } };
}

export interface FakeStripe {
  /** Where to point KEYMASTER_STRIPE_API_BASE. */
  base: string;
  /** What the fake answers for each subscription id; tests change it as Stripe's state changes. */
  subscriptions: Map<string, Fields>;
  /** The paths asked, in order. */
  requests: string[];
  /** Products by id (`{id, default_price}`), for Checkout. */
  products: Map<string, Fields>;
  /** The Checkout and billing-portal sessions made, with the form Stripe's client sent. */
  sessions: { kind: 'checkout' | 'billing_portal'; form: URLSearchParams; url: string }[];
  close(): Promise<void>;
}

/**
 * A fake of the routes of Stripe's API Keymaster calls, answering objects and errors in Stripe's
 * shapes: `GET /v1/subscriptions/:id`, the paginated `GET /v1/subscriptions`, `GET
 * /v1/products/:id`, and the portal's `POST /v1/checkout/sessions` and `POST
 * /v1/billing_portal/sessions` (recorded in `sessions`, answering a URL on the fake).
 */
export async function startFakeStripe(input: { base?: string } = {}): Promise<FakeStripe> {
  const subscriptions = new Map<string, Fields>();
  const products = new Map<string, Fields>();
  const sessions: FakeStripe['sessions'] = [];
  const requests: string[] = [];
  let base = '';
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://fake');
    requests.push(url.pathname);
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_fake_${requests.length}` });
      response.end(JSON.stringify(body));
    };
    const missing = (what: string, id: string) =>
      send(404, {
        error: {
          type: 'invalid_request_error',
          code: 'resource_missing',
          message: `No such ${what}: '${id}'`,
          param: 'id',
        },
      });
    if (request.method === 'POST') {
      let text = '';
      request.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      request.on('end', () => {
        const form = new URLSearchParams(text);
        const kind =
          url.pathname === '/v1/checkout/sessions'
            ? 'checkout'
            : url.pathname === '/v1/billing_portal/sessions'
              ? 'billing_portal'
              : undefined;
        if (!kind)
          return send(404, {
            error: { type: 'invalid_request_error', message: `Unrecognized request URL (POST: ${url.pathname})` },
          });
        const id = `${kind === 'checkout' ? 'cs_test' : 'bps_test'}_${sessions.length + 1}`;
        const sessionUrl = `${base}/${kind}/${id}`;
        sessions.push({ kind, form, url: sessionUrl });
        return send(200, {
          id,
          object: kind === 'checkout' ? 'checkout.session' : 'billing_portal.session',
          url: sessionUrl,
        });
      });
      return;
    }
    if (request.method !== 'GET') return send(405, { error: { type: 'invalid_request_error', message: 'GET only' } });
    const product = /^\/v1\/products\/([^/]+)$/.exec(url.pathname);
    if (product) {
      const found = products.get(decodeURIComponent(product[1]!));
      return found ? send(200, { object: 'product', ...found }) : missing('product', product[1]!);
    }
    const one = /^\/v1\/subscriptions\/([^/]+)$/.exec(url.pathname);
    if (one) {
      const found = subscriptions.get(decodeURIComponent(one[1]!));
      return found
        ? send(200, found)
        : send(404, {
            error: {
              type: 'invalid_request_error',
              code: 'resource_missing',
              message: `No such subscription: '${one[1]}'`,
              param: 'id',
            },
          });
    }
    if (url.pathname === '/v1/subscriptions') {
      const all = [...subscriptions.values()];
      const after = url.searchParams.get('starting_after');
      const limit = Number(url.searchParams.get('limit') ?? 10);
      const from = after === null ? 0 : all.findIndex((s) => s.id === after) + 1;
      const data = all.slice(from, from + limit);
      return send(200, { object: 'list', data, has_more: from + limit < all.length, url: '/v1/subscriptions' });
    }
    return send(404, {
      error: { type: 'invalid_request_error', message: `Unrecognized request URL (GET: ${url.pathname})` },
    });
  });
  // Again at the same address (`base`): Stripe's API back after an outage.
  const wanted = input.base === undefined ? 0 : Number(new URL(input.base).port);
  await new Promise<void>((resolve) => server.listen(wanted, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  return {
    base,
    subscriptions,
    products,
    sessions,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Sells the seeded plans on Stripe: each names its product, published again. */
export async function sellOnStripe(server: TestServer): Promise<void> {
  for (const [plan, product] of [
    ['pro', 'prod_pro'],
    ['enterprise', 'prod_enterprise'],
    ['extra_seats', 'prod_seats'],
  ]) {
    expectStatus(
      await server.request({ method: 'PATCH', url: `/v1/plans/${plan}`, body: { stripe_product: product } }),
      200,
    );
    expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${plan}/publish` }), 200);
  }
}
