import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { StripeWebhookResult, Subscription } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCatalog } from '../../../test-support/builders.js';
import { describeEachDialect } from '../../../test-support/databases.js';
import { databaseUrl } from '../../../test-support/processes.js';
import { startTestServer, type TestServer } from '../../../test-support/server.js';
import {
  type FakeStripe,
  sellOnStripe,
  signedDelivery,
  startFakeStripe,
  stripeEvent,
  stripeItem,
  stripeSubscription,
} from '../../../test-support/stripe.js';

const cli = fileURLToPath(new URL('../../../../dist/cli.js', import.meta.url));
const secret = 'whsec_cli_test_secret';
const period = { start: '2026-01-01T00:00:00Z', end: '2026-02-01T00:00:00Z' };

describeEachDialect('command line: stripe replay and sync', (dialect) => {
  let server: TestServer;
  let stripe: FakeStripe;
  beforeAll(async () => {
    stripe = await startFakeStripe();
    server = await startTestServer({ dialect, env: { KEYMASTER_STRIPE_WEBHOOK_SECRET: secret } });
    await seedCatalog(server);
  });
  afterAll(async () => {
    await server.close();
    await stripe.close();
  });

  /** The real command line, from the build, on the test server's database. */
  const keymaster = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [cli, ...args],
        { env: { ...process.env, DATABASE_URL: databaseUrl(server.target), LOG_LEVEL: 'warn', ...env } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  const subscriptionsOf = async (customer: string) =>
    expectStatus<{ data: Subscription[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/subscriptions` }),
      200,
    ).data;
  const subscription = (id: string) =>
    stripeSubscription({
      id,
      customer: `cus_${id}`,
      status: 'active',
      items: [stripeItem({ id: `si_${id}`, product: 'prod_pro', period })],
      startDate: period.start,
    });

  it('replays an event ignored before its product was sold as a plan', async () => {
    const event = stripeEvent({
      id: 'evt_early',
      type: 'customer.subscription.created',
      created: '2026-01-02T00:00:00Z',
      object: subscription('sub_early'),
    });
    const { body, headers } = signedDelivery({ event, secret, at: server.clock.now() });
    const delivered = await server.request({
      method: 'POST',
      url: '/v1/integrations/stripe/webhook',
      body,
      headers,
    });
    expect(expectStatus<StripeWebhookResult>(delivered, 200).outcome).toBe('ignored');
    await sellOnStripe(server);
    const replayed = await keymaster(['stripe', 'replay', 'evt_early']);
    expect(replayed, replayed.stderr).toMatchObject({ code: 0, stdout: 'evt_early: applied\n' });
    expect((await subscriptionsOf('cus_sub_early'))[0]).toMatchObject({ plan: 'pro', source: 'stripe' });
    expect((await keymaster(['stripe', 'replay', 'evt_never'])).code).not.toBe(0);
  });

  it('syncs every Stripe subscription, printing first what it would do', async () => {
    stripe.subscriptions.set('sub_a', subscription('sub_a'));
    stripe.subscriptions.set('sub_b', subscription('sub_b'));
    const env = { KEYMASTER_STRIPE_API_KEY: 'sk_test_fake', KEYMASTER_STRIPE_API_BASE: stripe.base };
    expect((await keymaster(['stripe', 'sync'])).code).toBe(1);
    const dry = await keymaster(['stripe', 'sync', '--dry-run'], env);
    expect(dry, dry.stderr).toMatchObject({ code: 0 });
    expect(dry.stdout).toContain('sub_a → cus_sub_a: would apply');
    expect(dry.stdout).toContain('2 would apply. (dry run: nothing written)');
    expect((await server.request({ method: 'GET', url: '/v1/customers/cus_sub_a' })).statusCode).toBe(404);
    const synced = await keymaster(['stripe', 'sync'], env);
    expect(synced, synced.stderr).toMatchObject({ code: 0 });
    expect(synced.stdout).toContain('2 applied.');
    expect((await subscriptionsOf('cus_sub_b'))[0]).toMatchObject({ plan: 'pro', status: 'active' });
  });
});
