import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { catalog, seedCatalog, seedCustomer } from '../../server/src/test-support/builders.js';
import { startReceiver } from '../../server/src/test-support/webhook-receiver.js';
import { type ConsoleTest, describeConsole, expectAccessible, screenshot, startConsoleTest } from './support.js';

describeConsole('console webhooks and alerts in Chromium', (dialect) => {
  let test: ConsoleTest;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    // The receiver listens on 127.0.0.1, which endpoints may only reach with this setting.
    test = await startConsoleTest({ dialect, env: { KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true' } });
    receiver = await startReceiver();
    await seedCatalog(test.server);
    await test.signIn();
  });
  afterAll(async () => {
    await receiver?.close();
    await test?.close();
  });

  it('adds an endpoint through the form, naming a bad URL next to its field, and shows the secret once', async () => {
    const { page, url } = test;
    await page.goto(`${url}/webhooks`);
    await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
    await page.getByText('No endpoints yet.').waitFor();
    await expectAccessible(page);

    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add a webhook endpoint' });
    await dialog.getByLabel('URL').fill('ftp://example.com/hook');
    await dialog.getByRole('button', { name: 'Add endpoint' }).click();
    // The API's message for /url, under the URL field.
    await expect.poll(() => dialog.getByLabel('URL').getAttribute('aria-invalid')).toBe('true');
    await dialog
      .locator('.field', { has: page.getByLabel('URL') })
      .getByRole('alert')
      .waitFor();

    await dialog.getByLabel('URL').fill(`${receiver.url}/hook`);
    await dialog.getByLabel('Description').fill('CRM sync');
    await dialog.getByLabel('Every event type (also types added later)').uncheck();
    await dialog.getByLabel('subscription.created').check();
    await expectAccessible(page);
    await dialog.getByRole('button', { name: 'Add endpoint' }).click();
    await dialog.waitFor({ state: 'detached' });

    const secret = page.getByRole('status').filter({ hasText: 'The signing secret' });
    await expect.poll(async () => (await secret.textContent()) ?? '').toMatch(/whsec_[A-Za-z0-9+/]{43}=/);
    const row = page.getByRole('row').filter({ hasText: `${receiver.url}/hook` });
    await row.getByText('subscription.created').waitFor();
    await row.getByText('Enabled').waitFor();
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await secret.waitFor({ state: 'detached' });
  });

  it('logs the delivery of an event and resends it to the receiver', async () => {
    const { page, server } = test;
    // An event the endpoint takes: a new subscription.
    await seedCustomer(server, { id: 'acme', plan: catalog.plans.pro });
    await vi.waitFor(() => expect(receiver.received).toHaveLength(1), { timeout: 15_000 });
    const first = JSON.parse(receiver.received[0]!.body) as { type: string };
    expect(first.type).toBe('subscription.created');

    const log = page.getByRole('table', { name: 'Delivery attempts, oldest first' });
    await page.getByRole('button', { name: 'Refresh' }).click();
    await log.getByText('Delivered · 200').waitFor();
    await expect.poll(() => log.getByRole('row').count()).toBe(2);

    await log.getByRole('button', { name: /^Resend subscription\.created/ }).click();
    await log.getByRole('status').getByText('Queued: sent again within seconds.').waitFor();
    await vi.waitFor(() => expect(receiver.received).toHaveLength(2), { timeout: 15_000 });
    // The same event again: receivers deduplicate by webhook-id.
    expect(receiver.received[1]!.headers['webhook-id']).toBe(receiver.received[0]!.headers['webhook-id']);
    // The receiver has it; the attempt is recorded a moment later: refresh until the log shows it.
    await expect
      .poll(async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        return log.getByText('Delivered · 200').count();
      })
      .toBe(2);
    await expectAccessible(page);
    await screenshot(page, 'webhooks');

    // Only the failed attempts: none.
    await page.getByLabel('Status').selectOption('failed');
    await page.getByText('No delivery attempts that failed yet.').waitFor();
    expect(new URL(page.url()).searchParams.get('status')).toBe('failed');
    await page.getByLabel('Status').selectOption('succeeded');
    await expect.poll(() => log.getByText('Delivered · 200').count()).toBe(2);
  });

  it('disables an endpoint, and deletes it after a confirmation', async () => {
    const { page, server } = test;
    await page.getByRole('button', { name: 'Disable CRM sync' }).click();
    const row = page.getByRole('row').filter({ hasText: `${receiver.url}/hook` });
    await row.getByText('Disabled').waitFor();
    const stored = (await server.request({ method: 'GET', url: '/v1/webhook-endpoints' })).json<{
      data: { status: string }[];
    }>();
    expect(stored.data.map((e) => e.status)).toEqual(['disabled']);

    await page.getByRole('button', { name: 'Delete CRM sync' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Delete the webhook endpoint?' });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await row.waitFor();
    await page.getByRole('button', { name: 'Delete CRM sync' }).click();
    await confirm.getByRole('button', { name: 'Delete endpoint' }).click();
    await page.getByText('No endpoints yet.').waitFor();
  });

  it('creates an alert rule through the form, names a wrong field next to it, changes and deletes the rule', async () => {
    const { page, url, server } = test;
    await page.goto(`${url}/alerts`);
    await page.getByRole('heading', { name: 'Alerts', level: 1 }).waitFor();
    await page.getByText('No alert rules.').waitFor();
    await expectAccessible(page);

    await page.getByRole('button', { name: 'Add rule' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add an alert rule' });
    await dialog.getByLabel('Feature').fill('sso');
    await dialog.getByLabel('Threshold').fill('80');
    await dialog.getByRole('button', { name: 'Add rule' }).click();
    // sso is a boolean feature: the API refuses it, under the Feature field.
    const featureField = dialog.locator('.field', { has: page.getByLabel('Feature') });
    await featureField.getByRole('alert').getByText('only metered features and gauges have usage').waitFor();
    expect(await dialog.getByLabel('Feature').getAttribute('aria-invalid')).toBe('true');
    await expectAccessible(page);

    await dialog.getByLabel('Feature').fill(catalog.features.apiCalls);
    await dialog.getByLabel('Plan').fill(catalog.plans.pro);
    await dialog.getByRole('button', { name: 'Add rule' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = page.getByRole('row').filter({ hasText: 'api_calls' });
    await row.getByText('80 % of the limit').waitFor();
    await row.getByText('Subscribers of pro').waitFor();

    await row.getByRole('button', { name: /^Edit/ }).click();
    const edit = page.getByRole('dialog', { name: 'Change the alert rule' });
    await edit.getByLabel('Threshold').fill('90');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'detached' });
    await page.getByRole('row').filter({ hasText: '90 % of the limit' }).waitFor();
    const rules = (await server.request({ method: 'GET', url: '/v1/alert-rules' })).json<{
      data: { feature: string; value: number; plan: string | null }[];
    }>();
    expect(rules.data).toEqual([expect.objectContaining({ feature: 'api_calls', value: 90, plan: 'pro' })]);

    await page.getByRole('button', { name: /^Delete the rule on api_calls/ }).click();
    await page
      .getByRole('alertdialog', { name: 'Delete the alert rule?' })
      .getByRole('button', { name: 'Delete rule' })
      .click();
    await page.getByText('No alert rules.').waitFor();
  });
});
