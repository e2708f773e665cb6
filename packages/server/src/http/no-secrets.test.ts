import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { dispatch, startTestServer, type TestResponse, type TestServer, testAdminKey } from '../test-support/server.js';
import {
  type FakeStripe,
  sellOnStripe,
  signedDelivery,
  startFakeStripe,
  stripeEvent,
  stripeItem,
  stripeSubscription,
} from '../test-support/stripe.js';
import { startReceiver } from '../test-support/webhook-receiver.js';
import { redactUrl } from './request-log.js';

describe('URLs as logged', () => {
  it.each([
    ['/v1/features?api_key=km_sk_abc&x=1', '/v1/features?api_key=[redacted]&x=1'],
    [
      '/v1/features?Token=abc&password=p&client_secret=s',
      '/v1/features?Token=[redacted]&password=[redacted]&client_secret=[redacted]',
    ],
    ['/v1/customers/km_sk_K1Yw3x_Gw-F4/entitlements', '/v1/customers/km_sk_[redacted]/entitlements'],
    ['/v1/features?q=eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl', '/v1/features?q=[redacted]'],
    ['/v1/customers?q=acme&limit=5', '/v1/customers?q=acme&limit=5'],
  ])('%s', (url, logged) => expect(redactUrl(url)).toBe(logged));
});

/** A secret of `bytes` random bytes as base64url: nothing else in a run can contain it by chance. */
const random = (bytes = 24) => randomBytes(bytes).toString('base64url');

/**
 * A log line or an answer as text, with every byte buffer in it decoded: pino writes a Buffer (an
 * error's `rawPacket`, say) as its list of byte values, where a plain search would not find a secret.
 */
function readable(text: string): string {
  const buffers: string[] = [];
  try {
    JSON.parse(text, (_key, value: unknown) => {
      const buffer = value as { type?: unknown; data?: unknown };
      if (buffer?.type === 'Buffer' && Array.isArray(buffer.data)) {
        buffers.push(Buffer.from(buffer.data as number[]).toString('latin1'));
      }
      return value;
    });
  } catch {
    // Not JSON (a Prometheus page, say): searched as it is.
  }
  return [text, ...buffers].join('\n');
}

/**
 * Every secret Keymaster is configured with or hands out, used on the routes that handle them —
 * right and wrong — with every feature on and logs at trace: none may appear in a log line, an
 * error answer, the metrics or `/readyz`.
 */
describeEachDialect('no secret in logs, error answers, metrics or readiness', (dialect) => {
  const lines: string[] = [];
  const answers: { what: string; response: TestResponse }[] = [];
  const secrets = new Map<string, string>();
  let server: TestServer;
  let stripe: FakeStripe;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  /** A secret's part worth searching for (the random part, not a well-known prefix like `whsec_`). */
  const keep = (name: string, value: string) => {
    secrets.set(name, value);
    return value;
  };
  const configured = {
    adminPassword: keep('KEYMASTER_ADMIN_PASSWORD', `pw-${random()}`),
    tokenSecret: keep('KEYMASTER_TOKEN_SECRET', random(32)),
    encryptionKey: keep('KEYMASTER_ENCRYPTION_KEY', randomBytes(32).toString('base64')),
    stripeWebhookSecret: `whsec_${keep('KEYMASTER_STRIPE_WEBHOOK_SECRET', random())}`,
    stripeApiKey: `sk_test_${keep('KEYMASTER_STRIPE_API_KEY', random())}`,
    contractsSecret: `whsec_${keep('KEYMASTER_CONTRACTS_WEBHOOK_SECRET', Buffer.from(random()).toString('base64'))}`,
    smtpPassword: keep('SMTP password', random()),
    oidcClientSecret: keep('KEYMASTER_OIDC_CLIENT_SECRET', random()),
  };
  keep('admin key', testAdminKey.slice('km_sk_'.length));

  beforeAll(async () => {
    stripe = await startFakeStripe();
    receiver = await startReceiver();
    server = await startTestServer({
      dialect,
      start: new Date().toISOString(),
      logs: (line) => lines.push(line),
      env: {
        LOG_LEVEL: 'trace',
        KEYMASTER_ADMIN_EMAIL: 'owner@example.com',
        KEYMASTER_ADMIN_PASSWORD: configured.adminPassword,
        KEYMASTER_TOKEN_SECRET: configured.tokenSecret,
        KEYMASTER_ENCRYPTION_KEY: configured.encryptionKey,
        KEYMASTER_STRIPE_WEBHOOK_SECRET: configured.stripeWebhookSecret,
        KEYMASTER_STRIPE_API_KEY: configured.stripeApiKey,
        KEYMASTER_STRIPE_API_BASE: stripe.base,
        KEYMASTER_CONTRACTS_WEBHOOK_SECRET: configured.contractsSecret,
        // Nothing listens there: every email fails, and its failure is what is logged.
        KEYMASTER_SMTP_URL: `smtp://keymaster:${configured.smtpPassword}@127.0.0.1:9`,
        KEYMASTER_EMAIL_FROM: 'billing@example.com',
        KEYMASTER_PUBLIC_URL: 'http://127.0.0.1:9',
        KEYMASTER_OIDC_ISSUER: 'http://127.0.0.1:9/oidc',
        KEYMASTER_OIDC_CLIENT_ID: 'keymaster',
        KEYMASTER_OIDC_CLIENT_SECRET: configured.oidcClientSecret,
        KEYMASTER_CORS_ORIGINS: 'https://app.example.com',
        KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true',
        KEYMASTER_WEBHOOK_POLL_MS: '60000',
      },
    });
    await seedCatalog(server);
    await sellOnStripe(server);
  });
  afterAll(async () => {
    await server?.close();
    await stripe?.close();
    await receiver?.close();
  });

  /** A request through the app's listener, answered whatever it is (5xx too), and kept. */
  const call = async (
    what: string,
    input: { method: string; url: string; body?: unknown; headers?: Record<string, string | undefined> },
  ) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries({ authorization: `Bearer ${testAdminKey}`, ...input.headers })) {
      if (value !== undefined) headers[name] = value;
    }
    const response = await dispatch(server.keymaster.app, {
      method: input.method as 'GET',
      url: input.url,
      headers,
      ...(input.body !== undefined ? { payload: input.body as string } : {}),
    });
    answers.push({ what, response });
    return response;
  };

  it('never shows one', async () => {
    // API keys: made (the answer shows it, once), used, used wrongly.
    const apiKey = expectStatus<{ secret: string }>(
      await call('create key', { method: 'POST', url: '/v1/api-keys', body: { name: 'logged', scopes: ['admin'] } }),
      201,
    ).secret;
    keep('API key', apiKey.slice('km_sk_'.length));
    await call('wrong key', { method: 'GET', url: '/v1/features', headers: { authorization: `Bearer ${apiKey}x` } });
    await call('key in a query', { method: 'GET', url: `/v1/features?api_key=${apiKey}&access_token=${apiKey}` });
    await call('key as a body field', { method: 'POST', url: '/v1/check', body: { customer: apiKey, feature: 1 } });

    // Webhook endpoints: made, rotated, delivered to, and a body that names a secret.
    const endpoint = expectStatus<{ id: string; secret: string }>(
      await call('create endpoint', { method: 'POST', url: '/v1/webhook-endpoints', body: { url: receiver.url } }),
      201,
    );
    keep('webhook secret', endpoint.secret.slice('whsec_'.length));
    const rotated = expectStatus<{ secret: string }>(
      await call('rotate', { method: 'POST', url: `/v1/webhook-endpoints/${endpoint.id}/rotate-secret` }),
      200,
    );
    keep('rotated webhook secret', rotated.secret.slice('whsec_'.length));
    await call('endpoint with a secret', {
      method: 'POST',
      url: '/v1/webhook-endpoints',
      body: { url: receiver.url, secret: rotated.secret },
    });

    // Customer tokens and portal links: minted, used, exchanged, used wrongly.
    const { id: customer } = await seedCustomer(server, { plan: 'pro' });
    await server.keymaster.webhooks.runDue();
    expect(receiver.received.length).toBeGreaterThan(0);
    const token = expectStatus<{ token: string }>(
      await call('customer token', { method: 'POST', url: '/v1/customer-tokens', body: { customer } }),
      201,
    ).token;
    keep('customer token', token.split('.')[2]!);
    await call('token used', {
      method: 'GET',
      url: `/v1/customers/${customer}/entitlements`,
      headers: { authorization: `Bearer ${token}`, origin: 'https://app.example.com' },
    });
    await call('token for another', {
      method: 'POST',
      url: '/v1/check',
      body: { customer: 'someone_else', feature: 'sso' },
      headers: { authorization: `Bearer ${token}` },
    });
    await call('token altered', {
      method: 'GET',
      url: `/v1/customers/${customer}/entitlements`,
      headers: { authorization: `Bearer ${token}x` },
    });
    const portal = expectStatus<{ token: string }>(
      await call('portal link', { method: 'POST', url: '/v1/portal-sessions', body: { customer } }),
      201,
    );
    keep('portal token', portal.token.split('.')[2]!);
    const exchanged = await call('portal exchange', {
      method: 'POST',
      url: '/v1/portal/session',
      body: { token: portal.token },
      headers: { authorization: undefined },
    });
    expect(exchanged.statusCode).toBe(201);
    keep('portal CSRF token', exchanged.json<{ csrf_token: string }>().csrf_token);
    const portalCookie = String(exchanged.headers['set-cookie']).split(';')[0]!;
    await call('portal read', {
      method: 'GET',
      url: '/v1/portal',
      headers: { authorization: undefined, cookie: portalCookie },
    });
    await call('portal bad exchange', {
      method: 'POST',
      url: '/v1/portal/session',
      body: { token: `${portal.token}x` },
      headers: { authorization: undefined },
    });

    // The console: sign-in with the password, wrong and right; a bad body carrying it; invitations
    // and resets (emailed, and the email fails); OpenID Connect (the provider is not there).
    const anonymous = { authorization: undefined, 'content-type': 'application/json' };
    await call('wrong password', {
      method: 'POST',
      url: '/v1/sessions',
      body: { email: 'owner@example.com', password: `${configured.adminPassword}x` },
      headers: anonymous,
    });
    await call('password in broken JSON', {
      method: 'POST',
      url: '/v1/sessions',
      body: `{"email":"owner@example.com","password":"${configured.adminPassword}"`,
      headers: anonymous,
    });
    await call('password in JSON the parser quotes', {
      method: 'POST',
      url: '/v1/sessions',
      body: `{"email":"owner@example.com","password":${configured.adminPassword}}`,
      headers: anonymous,
    });
    await call('password as the email', {
      method: 'POST',
      url: '/v1/sessions',
      body: { email: configured.adminPassword, password: 1 },
      headers: anonymous,
    });
    const signedIn = await call('sign in', {
      method: 'POST',
      url: '/v1/sessions',
      body: { email: 'owner@example.com', password: configured.adminPassword },
      headers: anonymous,
    });
    expect(signedIn.statusCode).toBe(201);
    const sessionCookie = String(signedIn.headers['set-cookie']).split(';')[0]!;
    keep('session cookie', sessionCookie.split('=')[1]!);
    const csrf = signedIn.json<{ csrf_token: string }>().csrf_token;
    keep('CSRF token', csrf);
    await call('session used', {
      method: 'GET',
      url: '/v1/users',
      headers: { authorization: undefined, cookie: sessionCookie },
    });
    await call('invitation (email fails)', {
      method: 'POST',
      url: '/v1/users/invitations',
      body: { email: 'new@example.com', role: 'viewer' },
      headers: { authorization: undefined, cookie: sessionCookie, 'x-csrf-token': csrf },
    });
    await call('invitation without CSRF', {
      method: 'POST',
      url: '/v1/users/invitations',
      body: { email: 'new@example.com', role: 'viewer' },
      headers: { authorization: undefined, cookie: sessionCookie },
    });
    await call('accept with a bad token', {
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: csrf, password: configured.adminPassword },
      headers: anonymous,
    });
    // The provider is unreachable: an outage to retry (503), not a server fault.
    const oidc = await call('oidc', { method: 'GET', url: '/v1/sessions/oidc', headers: { authorization: undefined } });
    expect(oidc.statusCode).toBe(503);
    expect(oidc.json()).toMatchObject({ code: 'unavailable' });

    // Stripe in: signed right (the subscription is then fetched with the API key, and the fake
    // has none of it), signed wrongly.
    const subscription = stripeSubscription({
      id: 'sub_logged',
      customer: 'cus_logged',
      status: 'active',
      items: [
        stripeItem({
          id: 'si_logged',
          product: 'prod_pro',
          period: { start: '2026-01-01T00:00:00Z', end: '2026-02-01T00:00:00Z' },
        }),
      ],
      trialEnd: null,
      cancelAtPeriodEnd: false,
      startDate: '2026-01-01T00:00:00Z',
    });
    const event = stripeEvent({
      id: 'evt_logged',
      type: 'customer.subscription.updated',
      created: new Date(server.clock.now()).toISOString(),
      object: subscription,
    });
    for (const secret of [configured.stripeWebhookSecret, `${configured.stripeWebhookSecret}x`]) {
      const { body, headers } = signedDelivery({ event, secret, at: server.clock.now() });
      await call('stripe webhook', {
        method: 'POST',
        url: '/v1/integrations/stripe/webhook',
        body,
        headers: { authorization: undefined, ...headers },
      });
    }
    expect(stripe.requests.some((path) => path.startsWith('/v1/subscriptions'))).toBe(true);

    // Contracts in: signed right (an invalid contract), and signed with another secret.
    const contract = JSON.stringify({ customer, plan: 'nope' });
    for (const secret of [configured.contractsSecret, `whsec_${Buffer.from(random()).toString('base64')}`]) {
      const id = `msg_${random(6)}`;
      const at = new Date(server.clock.now());
      await call('contracts webhook', {
        method: 'POST',
        url: '/v1/integrations/contracts/webhook',
        body: contract,
        headers: {
          authorization: undefined,
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': new Webhook(secret).sign(id, at, contract),
        },
      });
    }

    // What an operator or a probe reads.
    await call('metrics', { method: 'GET', url: '/metrics' });
    await call('readyz', { method: 'GET', url: '/readyz', headers: { authorization: undefined } });
    await call('healthz', { method: 'GET', url: '/healthz', headers: { authorization: undefined } });

    // Every request is logged once complete.
    const completed = () => lines.filter((line) => line.includes('"request completed"')).length;
    for (let waited = 0; completed() < answers.length && waited < 3000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(completed()).toBeGreaterThanOrEqual(answers.length);

    const searched = [
      ...lines.map((line) => ({ where: 'log', text: readable(line) })),
      ...answers
        .filter(({ response, what }) => response.statusCode >= 400 || ['metrics', 'readyz', 'healthz'].includes(what))
        .map(({ what, response }) => ({
          where: `${what} → ${response.statusCode}`,
          text: `${JSON.stringify(response.headers)}\n${readable(response.body)}`,
        })),
    ];
    // Any 8 characters of a secret in a row (48 random bits: never there by chance): an excerpt
    // of one, as a parser's message quotes, is a leak too.
    const fragments = [...secrets].flatMap(([name, value]) =>
      Array.from({ length: value.length - 7 }, (_, i) => ({ name, fragment: value.slice(i, i + 8) })),
    );
    const leaks = searched.flatMap(({ where, text }) => {
      const found = new Set(fragments.filter(({ fragment }) => text.includes(fragment)).map(({ name }) => name));
      return [...found].map((name) => `${name} in ${where}: ${text}`);
    });
    expect(leaks).toEqual([]);
    // The run did reach the failures it meant to.
    const statuses = new Map(answers.map(({ what, response }) => [what, response.statusCode]));
    expect(Object.fromEntries(statuses)).toMatchObject({
      'wrong key': 401,
      'wrong password': 401,
      'password in broken JSON': 400,
      'password in JSON the parser quotes': 400,
      'password as the email': 400,
      'portal bad exchange': 401,
      'endpoint with a secret': 400,
      metrics: 200,
      readyz: 200,
    });
  });
});
