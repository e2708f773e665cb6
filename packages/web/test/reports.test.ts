import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { catalog, seedCatalog, seedCustomer } from '../../server/src/test-support/builders.js';
import {
  type ConsoleTest,
  describeConsole,
  expectAccessible,
  expectStatus,
  screenshot,
  startConsoleTest,
} from './support.js';

describeConsole('console reports in Chromium', (dialect) => {
  let test: ConsoleTest;

  beforeAll(async () => {
    test = await startConsoleTest({ dialect });
    const { server } = test;
    await seedCatalog(server);
    // acme pays for pro and used 85 % of its API calls (an upsell); globex is on free.
    await seedCustomer(server, { id: 'acme', plan: catalog.plans.pro });
    await seedCustomer(server, { id: 'globex', plan: catalog.plans.free });
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/consume',
        body: { customer: 'acme', feature: catalog.features.apiCalls, quantity: 85_000 },
      }),
      200,
    );
    // An hour of it: the report counts time up to the server's now.
    server.clock.advance(3_600_000);
    await test.signIn();
  });
  afterAll(async () => test?.close());

  it('shows the report of the quarter as charts and tables, and downloads it as CSV', async () => {
    const { page, url } = test;
    await page.goto(`${url}/reports`);
    await page.getByRole('heading', { name: 'Reports', level: 1 }).waitFor();
    await page.getByRole('img', { name: 'Revenue by plan' }).waitFor();
    await page.getByRole('img', { name: 'Customers by flag' }).waitFor();
    const byPlan = page.getByRole('table', { name: 'Revenue by plan' });
    await byPlan.getByRole('row').filter({ hasText: 'pro' }).waitFor();
    const flags = page.getByRole('table', { name: 'Customers by flag' });
    await expect
      .poll(() => flags.getByRole('row').filter({ hasText: 'Upsell' }).getByRole('cell').last().textContent())
      .toBe('1');
    const customers = page.getByRole('table', { name: 'Customers in the report' });
    const acme = customers.getByRole('row').filter({ hasText: 'acme' });
    await acme.getByText('upsell').waitFor();
    await acme.getByText('85,000 / 100,000 (85 %)').waitFor();
    await expectAccessible(page);
    await screenshot(page, 'reports');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^usage-revenue-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv$/);
    const lines = (await readFile(await download.path(), 'utf8')).trimEnd().split('\n');
    expect(lines[0]).toBe('customer,plan,revenue,currency,features (usage/limit),flags');
    expect(lines.find((line) => line.startsWith('acme,'))).toMatch(
      /^acme,pro,\d+,usd,.*api_calls=85000\/100000.*,.*upsell/,
    );
    expect(lines).toHaveLength(3);
  });

  it('names a wrong range next to its field, and filters by flag', async () => {
    const { page } = test;
    await page.getByLabel('From (UTC)').fill('2026-03-01');
    await page.getByLabel('To (UTC, exclusive)').fill('2026-02-01');
    await page.getByRole('button', { name: 'Run report' }).click();
    const to = page.locator('.field', { has: page.getByLabel('To (UTC, exclusive)') });
    await to.getByRole('alert').getByText('must be after from').waitFor();
    expect(await page.getByLabel('To (UTC, exclusive)').getAttribute('aria-invalid')).toBe('true');

    await page.getByRole('button', { name: 'This quarter' }).click();
    await page.getByLabel('Flag', { exact: true }).selectOption('upsell');
    await page.getByRole('button', { name: 'Run report' }).click();
    const customers = page.getByRole('table', { name: 'Customers in the report' });
    await customers.getByText('acme').waitFor();
    await expect.poll(() => customers.getByRole('row').count()).toBe(2);
    expect(new URL(page.url()).searchParams.get('flag')).toBe('upsell');
  });

  it('stores the report, lists it and opens it again', async () => {
    const { page } = test;
    await page.getByText('No stored reports.', { exact: false }).waitFor();
    await page.getByRole('button', { name: 'Store this report' }).click();
    const stored = page.getByText(/^Stored as rpt_/);
    await stored.waitFor();
    const id = (await stored.getByRole('link').textContent()) ?? '';
    const list = page.getByRole('table', { name: 'Stored reports, newest first' });
    const row = list.getByRole('row').filter({ hasText: id });
    await row.getByText('flag upsell').waitFor();
    expect(await row.getByRole('link', { name: `Download ${id} as JSON` }).getAttribute('href')).toBe(
      `/v1/reports/${id}`,
    );
    await expectAccessible(page);

    await row.getByRole('link', { name: `Open ${id}` }).click();
    await page.getByRole('heading', { name: `Stored report ${id}` }).waitFor();
    await page.getByRole('img', { name: 'Revenue by plan' }).waitFor();
    await page.getByRole('table', { name: 'Customers in the report' }).getByText('acme').waitFor();
    await expectAccessible(page);
  });
});
