import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../clock.js';
import { loadConfig } from '../../config.js';
import { createKeymaster } from '../../runtime.js';
import { customerBody, expectStatus, nowIso, publishCatalog, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { type ReceivedEmail, startSmtpListener } from '../../test-support/smtp-listener.js';
import { emailRetrySchedule } from './email-sender.js';

interface ApiEmail {
  id: string;
  customer: string;
  notification: string;
  type: string;
  to: string;
  subject: string;
  period_start: string;
  status: 'pending' | 'sent' | 'failed';
  attempts: number;
  last_error: string | null;
  next_attempt_at: string | null;
  sent_at: string | null;
  created_at: string;
}

interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}

interface ApiNotification {
  id: string;
  type: string;
  title: string;
  data: Record<string, unknown>;
}

const catalog = {
  features: [{ key: 'calls', name: 'API calls', type: 'metered' }],
  plans: [{ key: 'solo', name: 'Solo', entitlements: [{ feature: 'calls', limit: 100, reset: 'month' }] }],
};

/** A customer on `solo` with the given name and address (none: no `email`). */
async function subscribed(
  server: TestServer,
  input: { name?: string | null; email: string | null; trialDays?: number },
): Promise<{ id: string; email: string | null }> {
  const id = uniqueKey('cus');
  expectStatus(
    await server.request({
      method: 'PUT',
      url: `/v1/customers/${id}`,
      body: customerBody({ name: input.name ?? null, email: input.email }),
    }),
    201,
  );
  expectStatus(
    await server.request({
      method: 'POST',
      url: `/v1/customers/${id}/subscriptions`,
      body: { plan: 'solo', ...(input.trialDays ? { trial_days: input.trialDays } : {}) },
    }),
    201,
  );
  return { id, email: input.email };
}

describeEachDialect('notification emails', (dialect) => {
  let smtp: Awaited<ReturnType<typeof startSmtpListener>>;
  let server: TestServer;
  beforeAll(async () => {
    smtp = await startSmtpListener();
    server = await startTestServer({
      dialect,
      start: '2026-06-15T12:00:00.000Z',
      env: {
        KEYMASTER_SMTP_URL: smtp.url,
        KEYMASTER_EMAIL_FROM: '"Acme Billing" <billing@acme.test>',
        KEYMASTER_EMAIL_PRODUCT_NAME: 'Acme <Cloud>',
      },
    });
    await publishCatalog(server, catalog);
  });
  afterAll(async () => {
    await server.close();
    await smtp.close();
  });

  const customer = (input: { name?: string | null; email?: string | null } = {}) => {
    const email = input.email === undefined ? `${uniqueKey('ops')}@customers.test` : input.email;
    return subscribed(server, { name: input.name ?? null, email });
  };
  const alertAt = async (customerId: string, value: number) =>
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/alert-rules',
        body: { feature: 'calls', type: 'percent', value, customer: customerId },
      }),
      201,
    );
  const consume = async (customerId: string, quantity: number) =>
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/consume',
        body: { customer: customerId, feature: 'calls', quantity },
      }),
      200,
    );
  /** Makes the notifications of what happened, then sends the emails due. */
  const deliver = async () => {
    await server.keymaster.notifications.runDue();
    await server.keymaster.emails!.runDue();
  };
  const emails = async (customerId: string) =>
    expectStatus<Page<ApiEmail>>(
      await server.request({ method: 'GET', url: `/v1/customers/${customerId}/emails` }),
      200,
    ).data;
  const notifications = async (customerId: string) =>
    expectStatus<Page<ApiNotification>>(
      await server.request({ method: 'GET', url: `/v1/customers/${customerId}/notifications` }),
      200,
    ).data;
  const mailTo = (address: string | null): ReceivedEmail[] =>
    smtp.received.filter((mail) => address !== null && mail.rcptTo.includes(address));

  it('emails the notice to the customer: recipient, From, subject, and text and HTML bodies', async () => {
    const { id, email } = await customer({ name: 'Ann & Bo <Ops>' });
    await alertAt(id, 80);
    await consume(id, 85);
    await deliver();

    const [mail, ...more] = mailTo(email);
    expect(more).toEqual([]);
    expect(mail!.rcptTo).toEqual([email]);
    expect(mail!.mailFrom).toBe('billing@acme.test');
    expect(mail!.parsed.from?.value).toEqual([{ address: 'billing@acme.test', name: 'Acme Billing' }]);
    expect(mail!.parsed.to).toMatchObject({ value: [{ address: email }] });
    expect(mail!.parsed.subject).toBe('Acme <Cloud>: You have used 80% of API calls');
    expect(mail!.parsed.text?.trim()).toBe(
      [
        'Hello Ann & Bo <Ops>,',
        '',
        'You have used 80% of API calls',
        '',
        'Your usage of API calls is 85 of your 100 this period.',
        '',
        '— Acme <Cloud>',
      ].join('\n'),
    );
    const html = mail!.parsed.html as string;
    // Every value is escaped in HTML: a name or product name cannot inject markup.
    expect(html).toContain('<p>Hello Ann &amp; Bo &lt;Ops&gt;,</p>');
    expect(html).toContain('<h2>You have used 80% of API calls</h2>');
    expect(html).toContain('<p>Your usage of API calls is 85 of your 100 this period.</p>');
    expect(html).toContain('<p>— Acme &lt;Cloud&gt;</p>');
    expect(html).not.toContain('<Ops>');

    const [notification] = await notifications(id);
    expect(await emails(id)).toEqual([
      {
        id: expect.stringMatching(/^eml_/) as unknown,
        customer: id,
        notification: notification!.id,
        type: 'usage.threshold_reached',
        to: email,
        subject: 'Acme <Cloud>: You have used 80% of API calls',
        period_start: notification!.data.period_start,
        status: 'sent',
        attempts: 1,
        last_error: null,
        next_attempt_at: null,
        sent_at: nowIso(server),
        created_at: nowIso(server),
      },
    ]);
    // Sending again finds nothing due.
    const offered = smtp.offered();
    await deliver();
    expect(smtp.offered()).toBe(offered);
  });

  it('emails nobody when the customer has no email, and still makes the notification', async () => {
    const { id } = await customer({ email: null });
    await alertAt(id, 80);
    await consume(id, 90);
    const offered = smtp.offered();
    await deliver();
    expect((await notifications(id)).map((n) => n.type)).toEqual(['usage.threshold_reached']);
    expect(await emails(id)).toEqual([]);
    expect(smtp.offered()).toBe(offered);
  });

  it('retries a refused email after 1 min, then 5 min, until the server takes it', async () => {
    const { id, email } = await customer();
    smtp.answerNext(
      { accept: false, code: 451, message: 'Greylisted, try again later' },
      { accept: false, code: 421, message: 'Too busy' },
    );
    await alertAt(id, 80);
    await consume(id, 80);
    await deliver();
    const start = server.clock.now();
    const [first] = await emails(id);
    expect(first).toMatchObject({ status: 'pending', attempts: 1, sent_at: null });
    expect(first!.last_error).toMatch(/451.*Greylisted/);
    expect(first!.next_attempt_at).toBe(new Date(start + 60_000).toISOString());

    // Not before it is due.
    server.clock.advance(59_999);
    await deliver();
    expect((await emails(id))[0]).toMatchObject({ status: 'pending', attempts: 1 });
    server.clock.advance(1);
    await deliver();
    const [second] = await emails(id);
    expect(second).toMatchObject({ status: 'pending', attempts: 2 });
    expect(second!.last_error).toMatch(/421.*Too busy/);
    expect(second!.next_attempt_at).toBe(new Date(start + 60_000 + 300_000).toISOString());
    expect(mailTo(email)).toEqual([]);

    server.clock.advance(300_000);
    await deliver();
    expect((await emails(id))[0]).toMatchObject({
      status: 'sent',
      attempts: 3,
      last_error: null,
      next_attempt_at: null,
      sent_at: nowIso(server),
    });
    expect(mailTo(email).map((m) => m.parsed.subject)).toEqual(['Acme <Cloud>: You have used 80% of API calls']);
  });

  it('gives up at once on a permanent rejection (5xx)', async () => {
    const { id, email } = await customer();
    smtp.answerNext({ accept: false, code: 550, message: 'No such mailbox' });
    await alertAt(id, 80);
    await consume(id, 80);
    await deliver();
    const [email1] = await emails(id);
    expect(email1).toMatchObject({ status: 'failed', attempts: 1, next_attempt_at: null, sent_at: null });
    expect(email1!.last_error).toMatch(/550.*No such mailbox/);
    const offered = smtp.offered();
    server.clock.advance(86_400_000);
    await deliver();
    expect(smtp.offered()).toBe(offered);
    expect(mailTo(email)).toEqual([]);
  });

  it('fails an email once every retry of the schedule has failed', async () => {
    const { id } = await customer();
    const refusals = emailRetrySchedule.length + 1;
    smtp.answerNext(
      ...Array.from({ length: refusals }, () => ({ accept: false as const, code: 451, message: 'Not now' })),
    );
    await alertAt(id, 80);
    await consume(id, 80);
    const offered = smtp.offered();
    await deliver();
    for (const wait of emailRetrySchedule) {
      expect((await emails(id))[0]).toMatchObject({ status: 'pending' });
      server.clock.advance(wait);
      await deliver();
    }
    expect((await emails(id))[0]).toMatchObject({ status: 'failed', attempts: refusals, next_attempt_at: null });
    expect(smtp.offered() - offered).toBe(refusals);
  });

  it('sends at most one email per customer, notice type and period, and one again the next period', async () => {
    const { id, email } = await customer();
    await alertAt(id, 50);
    await alertAt(id, 80);
    await consume(id, 55);
    await deliver();
    await consume(id, 30);
    await deliver();
    // Two notices of the same type in one period (each rule's own threshold): two notifications, one email.
    expect((await notifications(id)).map((n) => n.title)).toEqual([
      'You have used 80% of API calls',
      'You have used 50% of API calls',
    ]);
    const [once] = await emails(id);
    expect(await emails(id)).toHaveLength(1);
    expect(mailTo(email).map((m) => m.parsed.subject)).toEqual(['Acme <Cloud>: You have used 50% of API calls']);

    // The next usage period (the plan resets monthly) is another period.
    server.clock.advance(31 * 86_400_000);
    await consume(id, 55);
    await deliver();
    const [next, previous] = await emails(id);
    expect(previous).toEqual(once);
    expect(next).toMatchObject({ status: 'sent', type: 'usage.threshold_reached' });
    expect(Date.parse(next!.period_start)).toBeGreaterThan(Date.parse(once!.period_start));
    expect(mailTo(email)).toHaveLength(2);
  });

  it('lists emails for secret keys only, and answers 404 for an unknown customer', async () => {
    const { id } = await customer();
    const { token } = expectStatus<{ token: string }>(
      await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer: id, ttl_seconds: 600 } }),
      201,
    );
    expectProblem(
      await server.request({
        method: 'GET',
        url: `/v1/customers/${id}/emails`,
        headers: { authorization: `Bearer ${token}` },
      }),
      { status: 403, code: 'customer_token_forbidden' },
    );
    expectProblem(await server.request({ method: 'GET', url: '/v1/customers/nobody-here/emails' }), {
      status: 404,
      code: 'customer_not_found',
    });
  });

  it('erasing the customer deletes their emails, sent and queued', async () => {
    const { id } = await customer();
    await alertAt(id, 80);
    await consume(id, 80);
    await deliver();
    expect(await emails(id)).toHaveLength(1);
    expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
    const left = await server.keymaster.database.db
      .selectFrom('notification_emails')
      .select('id')
      .where('customer_id', '=', id)
      .execute();
    expect(left).toEqual([]);
  });

  it('holds neither the API nor the shutdown while a mail server never answers', async () => {
    const sockets: net.Socket[] = [];
    let connected: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => {
      connected = resolve;
    });
    // Accepts connections and never says a word: no greeting, no answer.
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      connected();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const stalled = await startTestServer({
      dialect,
      env: {
        KEYMASTER_SMTP_URL: `smtp://127.0.0.1:${(silent.address() as net.AddressInfo).port}`,
        KEYMASTER_EMAIL_FROM: 'billing@acme.test',
      },
    });
    try {
      await publishCatalog(stalled, catalog);
      const { id } = await subscribed(stalled, { email: `${uniqueKey('stall')}@customers.test` });
      expectStatus(
        await stalled.request({
          method: 'POST',
          url: '/v1/alert-rules',
          body: { feature: 'calls', type: 'percent', value: 80, customer: id },
        }),
        201,
      );
      expectStatus(
        await stalled.request({
          method: 'POST',
          url: '/v1/consume',
          body: { customer: id, feature: 'calls', quantity: 90 },
        }),
        200,
      );
      await stalled.keymaster.notifications.runDue();
      const sending = stalled.keymaster.emails!.runDue();
      await reached;
      // The API answers while the attempt waits on the mail server.
      const [waiting] = expectStatus<Page<ApiEmail>>(
        await stalled.request({ method: 'GET', url: `/v1/customers/${id}/emails` }),
        200,
      ).data;
      expect(waiting).toMatchObject({ status: 'pending', attempts: 0 });
      const started = performance.now();
      await stalled.close();
      await sending;
      // Well inside the transport's 10 s greeting timeout: the stop did not wait for the attempt.
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  describe('with templates from KEYMASTER_EMAIL_TEMPLATES_DIR, on the test clock', () => {
    let dir: string;
    let clocked: TestServer;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'keymaster-templates-'));
      writeFileSync(path.join(dir, 'default.subject'), '[{{product_name}}] {{title}}\n');
      writeFileSync(
        path.join(dir, 'trial.ending.html'),
        '<p>Dear {{customer.name}},</p><p>{{body}}</p><p>{{data.subscription.plan}} ({{type}})</p>',
      );
      writeFileSync(path.join(dir, 'README.md'), 'Not a template: ignored.');
      clocked = await startTestServer({
        dialect,
        start: '2026-06-01T00:00:00.000Z',
        env: {
          KEYMASTER_TEST_CLOCK: 'true',
          KEYMASTER_SMTP_URL: smtp.url,
          KEYMASTER_EMAIL_FROM: 'billing@acme.test',
          KEYMASTER_EMAIL_PRODUCT_NAME: 'Acme',
          KEYMASTER_EMAIL_TEMPLATES_DIR: dir,
        },
      });
      await publishCatalog(clocked, catalog);
    });
    afterAll(async () => {
      await clocked.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('words a trial ending with them, and has sent it once the advance that made it due has answered', async () => {
      const { id, email } = await subscribed(clocked, {
        name: 'Zoë & Co',
        email: `${uniqueKey('trial')}@customers.test`,
        trialDays: 14,
      });
      expectStatus(
        await clocked.request({
          method: 'POST',
          url: '/v1/test-clock/advance',
          body: { to: '2026-06-13T00:00:00.000Z' },
        }),
        200,
      );
      const [mail, ...more] = mailTo(email);
      expect(more).toEqual([]);
      expect(mail!.parsed.from?.value).toEqual([{ address: 'billing@acme.test', name: '' }]);
      // default.subject for every type; the type's own HTML; the built-in text, which no file replaces.
      expect(mail!.parsed.subject).toBe('[Acme] Your trial ends soon');
      expect(mail!.parsed.html).toBe(
        '<p>Dear Zoë &amp; Co,</p><p>Your trial of Solo ends on 2026-06-15.</p><p>solo (trial.ending)</p>',
      );
      expect(mail!.parsed.text).toContain('Hello Zoë & Co,');
      expect(mail!.parsed.text).toContain('Your trial of Solo ends on 2026-06-15.');
      // A lifecycle notice counts in the subscription's current period.
      const [sent] = expectStatus<Page<ApiEmail>>(
        await clocked.request({ method: 'GET', url: `/v1/customers/${id}/emails` }),
        200,
      ).data;
      expect(sent).toMatchObject({ type: 'trial.ending', status: 'sent', period_start: '2026-06-01T00:00:00.000Z' });
    });
  });
});

describe('email configuration', () => {
  const smtpEnv = { KEYMASTER_SMTP_URL: 'smtp://127.0.0.1:2525', KEYMASTER_EMAIL_FROM: 'billing@acme.test' };

  it('refuses an SMTP URL without a From address, and a URL that is not SMTP', () => {
    expect(() => loadConfig({ KEYMASTER_SMTP_URL: 'smtp://127.0.0.1:2525' })).toThrow(
      /KEYMASTER_EMAIL_FROM must be set when KEYMASTER_SMTP_URL is/,
    );
    expect(() => loadConfig({ ...smtpEnv, KEYMASTER_SMTP_URL: 'https://mail.example.com' })).toThrow(
      /KEYMASTER_SMTP_URL must be an smtp:\/\/ or smtps:\/\/ URL/,
    );
    expect(() => loadConfig({ ...smtpEnv, KEYMASTER_EMAIL_FROM: 'nobody' })).toThrow(/KEYMASTER_EMAIL_FROM must be/);
    expect(loadConfig({}).email).toBeUndefined();
    expect(loadConfig(smtpEnv).email).toMatchObject({ smtpUrl: smtpEnv.KEYMASTER_SMTP_URL, from: 'billing@acme.test' });
  });

  describe('a bad template directory fails the start', () => {
    let dataDir: string;
    let dir: string;
    beforeAll(() => {
      dataDir = mkdtempSync(path.join(tmpdir(), 'keymaster-data-'));
      dir = mkdtempSync(path.join(tmpdir(), 'keymaster-templates-'));
    });
    afterAll(() => {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    });
    const start = (templatesDir: string) =>
      createKeymaster({
        config: loadConfig({ ...smtpEnv, KEYMASTER_DATA_DIR: dataDir, KEYMASTER_EMAIL_TEMPLATES_DIR: templatesDir }),
        clock: manualClock(0),
        logger: false,
      });

    it('one that cannot be read', async () => {
      await expect(start(path.join(dir, 'missing'))).rejects.toThrow(
        /KEYMASTER_EMAIL_TEMPLATES_DIR \(.*missing\): cannot be read: ENOENT/,
      );
    });

    it('a template that does not parse', async () => {
      writeFileSync(path.join(dir, 'default.html'), '<p>{{#customer.name}}Hello</p>');
      await expect(start(dir)).rejects.toThrow(/"default\.html": Unclosed section "customer\.name"/);
      rmSync(path.join(dir, 'default.html'));
    });

    it('a template named after no notice type', async () => {
      writeFileSync(path.join(dir, 'trial.endng.txt'), '{{title}}');
      await expect(start(dir)).rejects.toThrow(/"trial\.endng\.txt" is named after no notice type/);
    });
  });
});
