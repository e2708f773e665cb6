import type { WebhookAttempt, WebhookEndpoint, WebhookEndpointWithSecret } from '@keymaster/contract';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { catalog, expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { type ReceivedWebhook, signedWith, startReceiver } from '../../test-support/webhook-receiver.js';
import { retrySchedule } from './outcomes.js';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;
/** One event per new subscription, whatever else its creation emits. */
const created = ['subscription.created'];
type Page<T> = { data: T[]; has_more: boolean; next_cursor: string | null };

describeEachDialect('webhooks', (dialect) => {
  let server: TestServer;
  const receivers: Receiver[] = [];
  beforeAll(async () => {
    // Real time at the start, so `standardwebhooks`' own verify (±5 minutes) accepts the first attempts.
    server = await startTestServer({
      dialect,
      start: new Date().toISOString(),
      env: { KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true', KEYMASTER_WEBHOOK_POLL_MS: '60000' },
    });
    await seedCatalog(server);
  });
  afterAll(() => server.close());
  afterEach(async () => {
    // Each test's endpoints go, so the next test's events reach only its own.
    const page = expectStatus<Page<WebhookEndpoint>>(
      await server.request({ method: 'GET', url: '/v1/webhook-endpoints?limit=100' }),
      200,
    );
    for (const e of page.data) await server.request({ method: 'DELETE', url: `/v1/webhook-endpoints/${e.id}` });
    for (const r of receivers.splice(0)) await r.close();
  });

  const receiver = async (...args: Parameters<typeof startReceiver>) => {
    const r = await startReceiver(...args);
    receivers.push(r);
    return r;
  };
  const register = async (body: Record<string, unknown>) =>
    expectStatus<WebhookEndpointWithSecret>(
      await server.request({ method: 'POST', url: '/v1/webhook-endpoints', body }),
      201,
    );
  const deliver = () => server.keymaster.webhooks.runDue();
  const attempts = async (id: string) =>
    expectStatus<Page<WebhookAttempt>>(
      await server.request({ method: 'GET', url: `/v1/webhook-endpoints/${id}/deliveries?limit=100` }),
      200,
    ).data;
  const body = (r: ReceivedWebhook) =>
    JSON.parse(r.body) as { id: string; type: string; timestamp: string; data: Record<string, unknown> };

  describe('endpoints', () => {
    it('registers an endpoint, shows the secret once, and reads, lists, changes and deletes it', async () => {
      const created = await register({ url: 'http://127.0.0.1:9/hook', description: 'CRM' });
      expect(created).toEqual({
        id: expect.stringMatching(/^whe_/),
        url: 'http://127.0.0.1:9/hook',
        events: null,
        description: 'CRM',
        status: 'enabled',
        secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
        created_at: expect.any(String),
        updated_at: expect.any(String),
      });
      const { secret: _secret, ...shown } = created;
      expect(
        expectStatus(await server.request({ method: 'GET', url: `/v1/webhook-endpoints/${created.id}` }), 200),
      ).toEqual(shown);
      const list = expectStatus<Page<WebhookEndpoint>>(
        await server.request({ method: 'GET', url: '/v1/webhook-endpoints' }),
        200,
      );
      expect(list.data).toEqual([shown]);
      const patched = expectStatus<WebhookEndpoint>(
        await server.request({
          method: 'PATCH',
          url: `/v1/webhook-endpoints/${created.id}`,
          body: { events: ['trial.ending'], status: 'disabled' },
        }),
        200,
      );
      expect(patched).toMatchObject({ events: ['trial.ending'], status: 'disabled', description: 'CRM' });
      expectStatus(await server.request({ method: 'DELETE', url: `/v1/webhook-endpoints/${created.id}` }), 200);
      expectProblem(await server.request({ method: 'GET', url: `/v1/webhook-endpoints/${created.id}` }), {
        status: 404,
        code: 'webhook_endpoint_not_found',
      });
    });

    it.each([
      ['an unknown event type', { url: 'http://127.0.0.1:9/', events: ['subscription.exploded'] }, '/events/0'],
      ['an empty URL', { url: '' }, '/url'],
      ['no URL', { events: [] }, '/url'],
      ['a description too long', { url: 'http://127.0.0.1:9/', description: 'x'.repeat(501) }, '/description'],
      ['an unknown field', { url: 'http://127.0.0.1:9/', secret: 'mine' }, '/secret'],
    ])('refuses %s with 400 naming the field', async (_name, input, path) => {
      expectProblem(await server.request({ method: 'POST', url: '/v1/webhook-endpoints', body: input }), {
        status: 400,
        code: 'validation_failed',
        path,
      });
    });

    it('refuses bad changes and recoveries with 400 naming the field', async () => {
      const { id } = await register({ url: 'http://127.0.0.1:9/' });
      expectProblem(
        await server.request({ method: 'PATCH', url: `/v1/webhook-endpoints/${id}`, body: { status: 'paused' } }),
        { status: 400, code: 'validation_failed', path: '/status' },
      );
      expectProblem(
        await server.request({ method: 'PATCH', url: `/v1/webhook-endpoints/${id}`, body: { url: 'not a url' } }),
        { status: 400, code: 'url_not_allowed', path: '/url' },
      );
      expectProblem(
        await server.request({
          method: 'POST',
          url: `/v1/webhook-endpoints/${id}/recover`,
          body: { since: 'yesterday' },
        }),
        { status: 400, code: 'validation_failed', path: '/since' },
      );
      expectProblem(await server.request({ method: 'POST', url: '/v1/webhook-deliveries/whd_nope/resend' }), {
        status: 404,
        code: 'webhook_delivery_not_found',
      });
    });
  });

  describe('entitlement payloads', () => {
    it("carries the customer's entitlements before and after, feature by feature, for subscriptions and grants", async () => {
      const r = await receiver();
      await register({ url: r.url, events: ['entitlements.updated'] });
      const { id: customer } = await seedCustomer(server, { plan: 'pro' });
      await deliver();
      const subscribed = r.received
        .map(body)
        .filter(
          (b) =>
            b.data.customer === customer ||
            (b.data.subscription as { customer?: string } | undefined)?.customer === customer,
        );
      expect(subscribed).toHaveLength(1);
      expect(subscribed[0]!.data.entitlements).toMatchObject({
        gained: ['api_calls', 'seats', 'sso', 'support_tier'],
        lost: [],
        before: { sso: { enabled: false } },
        after: {
          sso: { enabled: true },
          api_calls: { enabled: true, limit: catalog.limits.pro.apiCalls },
          support_tier: { enabled: true, value: 'priority' },
        },
      });

      const grant = expectStatus<{ id: string }>(
        await server.request({
          method: 'POST',
          url: `/v1/customers/${customer}/grants`,
          body: { feature: 'api_calls', limit: 250_000, reason: 'Pilot' },
        }),
        201,
      );
      expect((await server.request({ method: 'DELETE', url: `/v1/grants/${grant.id}` })).statusCode).toBe(200);
      await deliver();
      const granted = r.received.map(body).filter((b) => b.data.customer === customer && b.data.grant !== undefined);
      expect(granted.map((b) => [b.data.reason, b.data.entitlements])).toEqual([
        [
          'grant.created',
          expect.objectContaining({
            gained: [],
            lost: [],
            changed: [
              {
                feature: 'api_calls',
                before: { enabled: true, limit: catalog.limits.pro.apiCalls, value: null },
                after: { enabled: true, limit: 250_000, value: null },
              },
            ],
          }),
        ],
        [
          'grant.revoked',
          expect.objectContaining({
            changed: [
              {
                feature: 'api_calls',
                before: { enabled: true, limit: 250_000, value: null },
                after: { enabled: true, limit: catalog.limits.pro.apiCalls, value: null },
              },
            ],
          }),
        ],
      ]);
    });
  });

  describe('notification payloads', () => {
    it('tells other systems of each notification a customer gets', async () => {
      const r = await receiver();
      await register({ url: r.url, events: ['notification.created'] });
      const { id: customer } = await seedCustomer(server, { plan: 'pro' });
      const rule = { feature: 'api_calls', type: 'units', value: 5, customer };
      expectStatus(await server.request({ method: 'POST', url: '/v1/alert-rules', body: rule }), 201);
      const consumed = { customer, feature: 'api_calls', quantity: 10 };
      expectStatus(await server.request({ method: 'POST', url: '/v1/consume', body: consumed }), 200);
      await server.keymaster.notifications.runDue();
      await deliver();
      const told = r.received.map(body).filter((b) => b.data.customer === customer);
      expect(told).toHaveLength(1);
      expect(told[0]).toMatchObject({
        type: 'notification.created',
        data: { customer, type: 'usage.threshold_reached', title: 'You have used 10 of API calls', read_at: null },
      });
    });
  });

  describe('delivery', () => {
    it('delivers a signed event that standardwebhooks verifies, with the event id as webhook-id', async () => {
      const r = await receiver();
      const { secret, id } = await register({ url: `${r.url}/hooks`, events: created });
      const customer = await seedCustomer(server, { plan: catalog.plans.pro });
      await deliver();
      expect(r.received).toHaveLength(1);
      const [got] = r.received as [ReceivedWebhook];
      const verified = new Webhook(secret).verify(got.body, got.headers as Record<string, string>) as ReturnType<
        typeof body
      >;
      expect(verified).toEqual(body(got));
      expect(verified).toMatchObject({
        id: got.headers['webhook-id'],
        type: 'subscription.created',
        timestamp: expect.any(String),
        data: { subscription: { customer: customer.id, plan: catalog.plans.pro }, version: expect.any(Number) },
      });
      expect(got.path).toBe('/hooks');
      expect(await attempts(id)).toEqual([
        expect.objectContaining({
          event: verified.id,
          status_code: 200,
          succeeded: true,
          next_retry_at: null,
          response_body: 'ok',
        }),
      ]);
      // Nothing more is due: a delivery is made once.
      await deliver();
      expect(r.received).toHaveLength(1);
    });

    it('delivers only the chosen event types', async () => {
      const r = await receiver();
      await register({ url: r.url, events: ['trial.ending'] });
      await seedCustomer(server, { plan: catalog.plans.pro });
      await deliver();
      expect(r.received).toHaveLength(0);
    });

    it('retries non-2xx answers on the schedule, with the same webhook-id, and never follows a redirect', async () => {
      const answers = [500, 302, 200];
      const r = await receiver((_req, res) => {
        const status = answers.shift() ?? 200;
        if (status === 302) res.writeHead(302, { location: '/elsewhere' }).end();
        else res.writeHead(status).end(status === 500 ? 'boom' : 'ok');
      });
      const { id } = await register({ url: r.url, events: created });
      await seedCustomer(server, { plan: catalog.plans.free });
      await deliver();
      expect(r.received).toHaveLength(1);
      server.clock.advance(retrySchedule[0] - 1000);
      await deliver();
      expect(r.received).toHaveLength(1);
      server.clock.advance(1000 + 50);
      await deliver();
      expect(r.received).toHaveLength(2);
      server.clock.advance(retrySchedule[1] + 50);
      await deliver();
      expect(r.received.map((x) => x.path)).toEqual(['/', '/', '/']);
      expect(new Set(r.received.map((x) => x.headers['webhook-id'])).size).toBe(1);
      const list = await attempts(id);
      expect(list.map((a) => [a.status_code, a.succeeded])).toEqual([
        [500, false],
        [302, false],
        [200, true],
      ]);
      expect(list[0]!.response_body).toBe('boom');
      expect(Date.parse(list[0]!.next_retry_at!) - Date.parse(list[0]!.attempted_at)).toBeGreaterThanOrEqual(
        retrySchedule[0],
      );
      expect(list[2]!.next_retry_at).toBeNull();
      const only = async (succeeded: boolean) =>
        expectStatus<Page<WebhookAttempt>>(
          await server.request({ method: 'GET', url: `/v1/webhook-endpoints/${id}/deliveries?succeeded=${succeeded}` }),
          200,
        ).data.map((a) => a.status_code);
      expect(await only(false)).toEqual([500, 302]);
      expect(await only(true)).toEqual([200]);
      expectProblem(
        await server.request({ method: 'GET', url: `/v1/webhook-endpoints/${id}/deliveries?succeeded=maybe` }),
        { status: 400, code: 'validation_failed' },
      );
    });

    it('signs with the old and the new secret for 24 hours after a rotation', async () => {
      const r = await receiver();
      const { id, secret: old } = await register({ url: r.url, events: created });
      const rotated = expectStatus<WebhookEndpointWithSecret>(
        await server.request({ method: 'POST', url: `/v1/webhook-endpoints/${id}/rotate-secret` }),
        200,
      );
      expect(rotated.secret).not.toBe(old);
      await seedCustomer(server, { plan: catalog.plans.free });
      await deliver();
      const [first] = r.received as [ReceivedWebhook];
      expect(String(first.headers['webhook-signature']).split(' ')).toHaveLength(2);
      expect(signedWith(old, first)).toBe(true);
      expect(signedWith(rotated.secret, first)).toBe(true);
      server.clock.advance(24 * 3_600_000 + 1000);
      await seedCustomer(server, { plan: catalog.plans.free });
      await deliver();
      const second = r.received[1]!;
      expect(signedWith(rotated.secret, second)).toBe(true);
      expect(signedWith(old, second)).toBe(false);
    });

    it('resends any delivery, a successful one too, with the same webhook-id', async () => {
      const r = await receiver();
      const { id } = await register({ url: r.url, events: created });
      await seedCustomer(server, { plan: catalog.plans.free });
      await deliver();
      const [attempt] = await attempts(id);
      const resent = expectStatus(
        await server.request({ method: 'POST', url: `/v1/webhook-deliveries/${attempt!.delivery}/resend` }),
        202,
      );
      expect(resent).toEqual({ id: attempt!.delivery, status: 'pending' });
      await deliver();
      expect(r.received).toHaveLength(2);
      expect(r.received[1]!.headers['webhook-id']).toBe(r.received[0]!.headers['webhook-id']);
    });

    it('gives up after the last retry, and recover sends the failed deliveries again', async () => {
      let up = false;
      const r = await receiver((_req, res) => res.writeHead(up ? 204 : 503).end());
      const { id } = await register({ url: r.url, events: created });
      const since = new Date(server.clock.now()).toISOString();
      await seedCustomer(server, { plan: catalog.plans.free });
      await deliver();
      for (const wait of retrySchedule) {
        server.clock.advance(wait + 1000);
        await deliver();
      }
      expect(r.received).toHaveLength(retrySchedule.length + 1);
      server.clock.advance(100 * 3_600_000);
      await deliver();
      expect(r.received).toHaveLength(retrySchedule.length + 1);
      expect((await attempts(id)).at(-1)).toMatchObject({ succeeded: false, next_retry_at: null });
      up = true;
      const recovered = expectStatus(
        await server.request({ method: 'POST', url: `/v1/webhook-endpoints/${id}/recover`, body: { since } }),
        202,
      );
      expect(recovered).toEqual({ recovered: 1 });
      await deliver();
      expect(r.received).toHaveLength(retrySchedule.length + 2);
      expect((await attempts(id)).at(-1)).toMatchObject({ status_code: 204, succeeded: true });
    });

    it('disables an endpoint failing for 5 days and tells the other endpoints', async () => {
      const failing = await receiver((_req, res) => res.writeHead(500).end());
      const healthy = await receiver();
      const bad = await register({ url: failing.url, events: ['subscription.created'] });
      const good = await register({ url: healthy.url, events: ['endpoint.disabled'] });
      await seedCustomer(server, { plan: catalog.plans.free });
      await deliver();
      server.clock.advance(4 * 86_400_000);
      await seedCustomer(server, { plan: catalog.plans.free });
      await deliver();
      expect(
        expectStatus<WebhookEndpoint>(
          await server.request({ method: 'GET', url: `/v1/webhook-endpoints/${bad.id}` }),
          200,
        ).status,
      ).toBe('enabled');
      server.clock.advance(86_400_000);
      await seedCustomer(server, { plan: catalog.plans.free });
      await deliver();
      expect(
        expectStatus<WebhookEndpoint>(
          await server.request({ method: 'GET', url: `/v1/webhook-endpoints/${bad.id}` }),
          200,
        ).status,
      ).toBe('disabled');
      await deliver();
      expect(healthy.received.map((x) => body(x).type)).toEqual(['endpoint.disabled']);
      expect(body(healthy.received[0]!).data).toMatchObject({ endpoint: { id: bad.id, url: failing.url } });
      expect(signedWith(good.secret, healthy.received[0]!)).toBe(true);
      // Disabled: nothing more goes to it, even when due.
      const before = failing.received.length;
      server.clock.advance(86_400_000);
      await seedCustomer(server, { plan: catalog.plans.free });
      await deliver();
      expect(failing.received).toHaveLength(before);
    });
  });
});

describeEachDialect('webhooks: SSRF at registration', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_WEBHOOK_POLL_MS: '60000' } });
  });
  afterAll(() => server.close());

  it.each([
    'http://127.0.0.1:8080/hook',
    'https://127.0.0.1/hook',
    'https://localhost/hook',
    'https://10.1.2.3/hook',
    'https://172.16.0.1/hook',
    'https://192.168.1.1/hook',
    'https://100.64.0.1/hook',
    'https://169.254.169.254/latest/meta-data',
    'https://0.0.0.0/hook',
    'https://[::1]/hook',
    'https://[::ffff:127.0.0.1]/hook',
    'https://[::ffff:a9fe:a9fe]/hook',
    'https://[fd00::1]/hook',
    'https://[fe80::1]/hook',
    'http://93.184.215.14/hook',
    'ftp://93.184.215.14/hook',
    'https://user:pass@93.184.215.14/hook',
    'https://no-such-host.invalid/hook',
  ])('refuses %s with url_not_allowed', async (url) => {
    expectProblem(await server.request({ method: 'POST', url: '/v1/webhook-endpoints', body: { url } }), {
      status: 400,
      code: 'url_not_allowed',
      path: '/url',
    });
  });

  it('accepts an https URL on a public address', async () => {
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/webhook-endpoints',
        body: { url: 'https://93.184.215.14/hook' },
      }),
      201,
    );
  });
});

describeEachDialect('webhooks: a hanging receiver', (dialect) => {
  let server: TestServer;
  const closers: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: {
        KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true',
        KEYMASTER_WEBHOOK_POLL_MS: '20',
        KEYMASTER_WEBHOOK_CONCURRENCY: '4',
      },
    });
    await seedCatalog(server);
  });
  afterAll(async () => {
    await server.close();
    for (const close of closers) await close();
  });

  it("never blocks another endpoint's deliveries or the API", async () => {
    const hanging = await startReceiver(() => undefined);
    const healthy = await startReceiver();
    closers.push(hanging.close, healthy.close);
    await server.request({ method: 'POST', url: '/v1/webhook-endpoints', body: { url: hanging.url } });
    await server.request({ method: 'POST', url: '/v1/webhook-endpoints', body: { url: healthy.url } });
    for (let i = 0; i < 6; i++) await seedCustomer(server, { plan: catalog.plans.free });
    const started = performance.now();
    // Each customer's subscription emits at least one event; the healthy endpoint gets them all.
    while (healthy.received.length < 6 && performance.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(healthy.received.length).toBeGreaterThanOrEqual(6);
    // The hanging one holds at most half the slots, and the API answers meanwhile.
    expect(hanging.received.length).toBeLessThanOrEqual(2);
    expectStatus(await server.request({ method: 'GET', url: '/v1/webhook-endpoints' }), 200);
  });
});
