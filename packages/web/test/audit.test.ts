import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type ConsoleTest,
  describeConsole,
  expectAccessible,
  expectStatus,
  screenshot,
  startConsoleTest,
} from './support.js';

interface AuditPage {
  data: { seq: number; action: string; customer: string | null }[];
}

describeConsole('console audit log in Chromium', (dialect) => {
  let test: ConsoleTest;

  beforeAll(async () => {
    test = await startConsoleTest({ dialect });
    // Changes for the trail: two customers made and one changed, through the API.
    for (const id of ['acme', 'globex']) {
      expectStatus(
        await test.server.request({ method: 'PUT', url: `/v1/customers/${id}`, body: { name: `${id} Inc.` } }),
        201,
      );
    }
    expectStatus(
      await test.server.request({ method: 'PUT', url: '/v1/customers/acme', body: { name: 'Acme Corporation' } }),
      200,
    );
    await test.signIn();
  });
  afterAll(async () => test?.close());

  it('lists the changes newest first and filters them by action, customer and time', async () => {
    const { page, url, server } = test;
    await page.goto(`${url}/audit`);
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    const log = page.getByRole('table', { name: 'Audit entries, newest first' });
    await log.getByText('customer.updated').waitFor();
    await expectAccessible(page);

    await page.getByLabel('Action').fill('customer.created');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => log.getByText('customer.updated').count()).toBe(0);
    await expect.poll(() => log.getByText('customer.created').count()).toBe(2);
    expect(new URL(page.url()).searchParams.get('action')).toBe('customer.created');

    await page.getByLabel('Customer').fill('acme');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => log.getByText('customer.created').count()).toBe(1);

    // Each entry opens to show what changed.
    const { data } = expectStatus<AuditPage>(
      await server.request({ method: 'GET', url: '/v1/audit-events?action=customer.created&customer=acme' }),
      200,
    );
    const seq = data[0]!.seq;
    await page.getByRole('button', { name: `Show data of entry ${seq}` }).click();
    const details = page.locator(`#audit-${seq}`);
    await details.getByText('"acme Inc."', { exact: false }).waitFor();
    await expectAccessible(page);
    await page.getByRole('button', { name: `Hide data of entry ${seq}` }).click();
    await details.waitFor({ state: 'detached' });

    // Before the changes were made: nothing.
    await page.getByLabel('To (UTC, exclusive)').fill('2020-01-01T00:00');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No entries match these filters.').waitFor();

    await page.getByRole('button', { name: 'Clear filters' }).click();
    await log.getByText('customer.updated').waitFor();
    expect(new URL(page.url()).search).toBe('');
  });

  it('verifies the chain and says up to which entry it holds', async () => {
    const { page, server } = test;
    const { data } = expectStatus<AuditPage>(
      await server.request({ method: 'GET', url: '/v1/audit-events?limit=1' }),
      200,
    );
    const head = data[0]!.seq;
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByText(`Verified up to seq ${head}.`).waitFor();
    await expectAccessible(page);
    await screenshot(page, 'audit');
  });

  it('names the first broken link once an entry was edited behind its back', async () => {
    const { page, server } = test;
    const { data } = expectStatus<AuditPage>(
      await server.request({ method: 'GET', url: '/v1/audit-events?action=customer.updated' }),
      200,
    );
    const edited = data[0]!.seq;
    // Someone with the database's password rewrites history.
    await server.keymaster.database.db
      .updateTable('audit_events')
      .set({ action: 'customer.created' })
      .where('seq', '=', edited)
      .execute();
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.getByText(`The chain is broken at seq ${edited}`).waitFor();
  });
});
