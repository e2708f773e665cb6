import type { StripeWebhookResult } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../../test-support/processes.js';
import { signedDelivery, stripeEvent, stripeItem, stripeSubscription } from '../../../test-support/stripe.js';

const adminKey = 'km_sk_stripe_processes_key_0001';
const secret = 'whsec_processes_secret';
const period = { start: '2026-01-01T00:00:00Z', end: '2026-02-01T00:00:00Z' };

async function call(server: ServerProcess, input: { method: string; path: string; body?: unknown }) {
  return server.call(input.method, input.path, input.body);
}

/** Stripe delivering one event to two nodes behind a load balancer at the same moment. */
describeEachDialect('Stripe events delivered to two server processes on one database', (dialect) => {
  let database: TestDatabase;
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
    servers = await Promise.all(
      [0, 1].map(() =>
        startServerProcess({ target: database.target, adminKey, env: { KEYMASTER_STRIPE_WEBHOOK_SECRET: secret } }),
      ),
    );
    const plan = { key: 'pro', name: 'Pro', stripe_product: 'prod_pro', entitlements: [] };
    expect((await call(servers[0]!, { method: 'POST', path: '/v1/plans', body: plan })).status).toBe(201);
    expect((await call(servers[0]!, { method: 'POST', path: '/v1/plans/pro/publish' })).status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
  });

  it('applies each event once, however many copies reach the two nodes at once', async () => {
    const deliveries = 4;
    for (const n of [1, 2, 3, 4, 5]) {
      const object = stripeSubscription({
        id: `sub_nodes_${n}`,
        customer: `cus_nodes_${n}`,
        status: 'active',
        items: [stripeItem({ id: `si_nodes_${n}`, product: 'prod_pro', period })],
        startDate: period.start,
      });
      const event = stripeEvent({
        id: `evt_nodes_${n}`,
        type: 'customer.subscription.created',
        created: '2026-01-02T00:00:00Z',
        object,
      });
      const { body, headers } = signedDelivery({ event, secret });
      const answers = await Promise.all(
        Array.from({ length: deliveries }, (_, i) =>
          fetch(`${servers[i % 2]!.url}/v1/integrations/stripe/webhook`, { method: 'POST', headers, body }).then(
            async (r) => ({ status: r.status, json: (await r.json()) as StripeWebhookResult }),
          ),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(deliveries).fill(200));
      const outcomes = answers.map((a) => a.json.outcome);
      expect(outcomes.filter((o) => o === 'applied')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'duplicate')).toHaveLength(deliveries - 1);
      const listed = await call(servers[1]!, { method: 'GET', path: `/v1/customers/cus_nodes_${n}/subscriptions` });
      const subscriptions = listed.json.data as { id: string }[];
      expect(subscriptions).toHaveLength(1);
      const history = await call(servers[0]!, {
        method: 'GET',
        path: `/v1/subscriptions/${subscriptions[0]!.id}/history`,
      });
      // Renewals since January (this runs on real time) are the scheduler's; Stripe's change is one.
      const stripeChanges = (history.json.data as { actor: string }[]).filter((h) => h.actor === 'integration:stripe');
      expect(stripeChanges).toHaveLength(1);
    }
  });
});
