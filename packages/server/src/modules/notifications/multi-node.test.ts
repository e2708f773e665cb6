import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';
import { startSmtpListener } from '../../test-support/smtp-listener.js';
import { openSse, type SseStream } from '../../test-support/sse-client.js';

const adminKey = 'km_sk_notify_nodes_admin_key_01';

async function call(server: ServerProcess, method: string, path: string, body?: unknown) {
  return server.call(method, path, body);
}

/**
 * Both nodes run the notifications consumer; whichever takes the event makes the one notification,
 * and a stream on either node hears of it through the change feed. Both run the email sender too,
 * and each email is sent by one of them, once.
 */
describeEachDialect('notifications across two server processes', (dialect) => {
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  let smtp: Awaited<ReturnType<typeof startSmtpListener>>;
  const streams: SseStream[] = [];

  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
    smtp = await startSmtpListener();
    const env = {
      KEYMASTER_NOTIFICATIONS_POLL_MS: '50',
      KEYMASTER_SMTP_URL: smtp.url,
      KEYMASTER_EMAIL_FROM: 'billing@acme.test',
      KEYMASTER_EMAIL_POLL_MS: '10',
    };
    [a, b] = await Promise.all([
      startServerProcess({ target: database.target, adminKey, env }),
      startServerProcess({ target: database.target, adminKey, env }),
    ]);
    expect((await call(a, 'POST', '/v1/features', { key: 'calls', name: 'API calls', type: 'metered' })).status).toBe(
      201,
    );
    expect(
      (
        await call(a, 'POST', '/v1/plans', {
          key: 'solo',
          name: 'Solo',
          entitlements: [{ feature: 'calls', limit: 100, reset: 'month' }],
        })
      ).status,
    ).toBe(201);
    expect((await call(a, 'POST', '/v1/plans/solo/publish')).status).toBe(200);
    expect((await call(a, 'PUT', '/v1/customers/acme', {})).status).toBe(201);
    expect((await call(a, 'POST', '/v1/customers/acme/subscriptions', { plan: 'solo' })).status).toBe(201);
    expect(
      (await call(a, 'POST', '/v1/alert-rules', { feature: 'calls', type: 'percent', value: 80, customer: 'acme' }))
        .status,
    ).toBe(201);
  }, 60_000);

  afterAll(async () => {
    for (const sse of streams) sse.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
    await smtp?.close();
  });

  it('makes one notification, and a stream on the other node hears of it', async () => {
    const sse = await openSse({
      url: `${b.url}/v1/stream?customer=acme`,
      headers: { authorization: `Bearer ${adminKey}` },
    });
    streams.push(sse);
    expect(sse.status).toBe(200);
    expect((await call(a, 'POST', '/v1/consume', { customer: 'acme', feature: 'calls', quantity: 90 })).status).toBe(
      200,
    );
    const event = await sse.next((e) => e.event === 'notification', 5000);
    expect(event.data).toMatchObject({
      customer: 'acme',
      notifications: [{ type: 'usage.threshold_reached', title: 'You have used 80% of API calls' }],
    });
    // Give the other node's consumer time to run too: it must find nothing left to make.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const node of [a, b]) {
      const page = await call(node, 'GET', '/v1/customers/acme/notifications');
      expect((page.json.data as unknown[]).length).toBe(1);
    }
  });

  it('sends each email once, whichever node claims it', async () => {
    const customers = Array.from({ length: 12 }, (_, i) => `mailed-${i}`);
    for (const [i, customer] of customers.entries()) {
      const node = i % 2 === 0 ? a : b;
      expect(
        (await call(node, 'PUT', `/v1/customers/${customer}`, { email: `${customer}@customers.test` })).status,
      ).toBe(201);
      expect((await call(node, 'POST', `/v1/customers/${customer}/subscriptions`, { plan: 'solo' })).status).toBe(201);
      const rule = { feature: 'calls', type: 'percent', value: 80, customer };
      expect((await call(node, 'POST', '/v1/alert-rules', rule)).status).toBe(201);
    }
    await Promise.all(
      customers.map((customer, i) =>
        call(i % 2 === 0 ? b : a, 'POST', '/v1/consume', { customer, feature: 'calls', quantity: 90 }),
      ),
    );
    const deadline = Date.now() + 10_000;
    while (smtp.received.length < customers.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Both senders keep polling meanwhile: none may send one again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(smtp.received.flatMap((mail) => mail.rcptTo).sort()).toEqual(
      customers.map((customer) => `${customer}@customers.test`).sort(),
    );
    for (const customer of customers) {
      const page = await call(a, 'GET', `/v1/customers/${customer}/emails`);
      expect(page.json.data).toMatchObject([{ status: 'sent', attempts: 1 }]);
    }
  });
});
