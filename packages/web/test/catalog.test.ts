import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type ConsoleTest,
  describeConsole,
  expectAccessible,
  expectStatus,
  screenshot,
  startConsoleTest,
} from './support.js';

/**
 * The catalog pages as a product manager uses them: a feature made through the form, a plan
 * with it published, a second version compared and its subscribers migrated after a dry run,
 * a targeting rule and the kill switch tried with "Try it". Each `it` continues the previous one.
 */
describeConsole('console catalog in Chromium', (dialect) => {
  let test: ConsoleTest;

  const api = async (method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) =>
    test.server.request({ method, url, ...(body === undefined ? {} : { body }) });

  beforeAll(async () => {
    test = await startConsoleTest({ dialect });
    // What the journey needs besides the feature it creates: two more features for the versions.
    for (const key of ['reports', 'legacy_export']) {
      expectStatus(await api('POST', '/v1/features', { key, name: key, type: 'boolean' }), 201);
    }
    await test.signIn();
  });
  afterAll(async () => test?.close());

  it('creates a feature through the form, after showing the field error of a bad key', async () => {
    const { page, url } = test;
    await page.goto(`${url}/features`);
    await page.getByRole('heading', { name: 'Features', level: 1 }).waitFor();
    await page.getByRole('table', { name: 'Features by key' }).getByRole('link', { name: 'legacy_export' }).waitFor();
    await expectAccessible(page);

    await page.getByRole('button', { name: 'New feature' }).click();
    const dialog = page.getByRole('dialog', { name: 'New feature' });
    await dialog.getByLabel('Key').fill('beta dashboard!');
    await dialog.getByLabel('Name').fill('Beta dashboard');
    await dialog.getByRole('button', { name: 'Create feature' }).click();
    await dialog.locator('input[aria-invalid="true"]').waitFor();
    expect(await dialog.getByLabel('Key').getAttribute('aria-invalid')).toBe('true');
    expect(await dialog.getByRole('alert').first().textContent()).toMatch(/must/);
    await expectAccessible(page);

    await dialog.getByLabel('Key').fill('beta_dashboard');
    await dialog.getByRole('button', { name: 'Create feature' }).click();
    await page.getByRole('heading', { name: 'Beta dashboard', level: 1 }).waitFor();
    expect(page.url()).toBe(`${url}/features/beta_dashboard`);
    await page.getByText('Active', { exact: true }).waitFor();
    await expectAccessible(page);
  });

  it('creates a plan with that feature and publishes it', async () => {
    const { page, url } = test;
    await page.goto(`${url}/plans`);
    await page.getByRole('heading', { name: 'Plans', level: 1 }).waitFor();
    await expectAccessible(page);

    await page.getByRole('button', { name: 'New plan' }).click();
    const dialog = page.getByRole('dialog', { name: 'New plan' });
    await dialog.getByLabel('Key').fill('team');
    await dialog.getByLabel('Name').fill('Team');
    await dialog.getByLabel('Price').fill('49');
    for (const [index, feature] of ['beta_dashboard', 'legacy_export'].entries()) {
      await dialog.getByRole('button', { name: 'Add entitlement' }).click();
      await dialog
        .getByRole('group', { name: `Entitlement ${index + 1}` })
        .getByLabel('Feature')
        .fill(feature);
    }
    await expectAccessible(page);
    await dialog.getByRole('button', { name: 'Create plan' }).click();

    await page.getByRole('heading', { name: 'Team', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Publish' }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByText('Existing subscribers stay on their version').waitFor();
    await confirm.getByRole('button', { name: 'Publish' }).click();
    await page.getByText('version 1 on sale since').waitFor();
    await page.getByRole('button', { name: 'New draft version' }).waitFor();
    await expectAccessible(page);

    const plan = expectStatus<{ status: string; price: { amount: number }; entitlements: unknown[] }>(
      await api('GET', '/v1/plans/team'),
      200,
    );
    expect(plan).toMatchObject({ status: 'published', price: { amount: 4900 } });
    expect(plan.entitlements).toHaveLength(2);
  });

  it('makes a second version and shows what changed from the first, side by side', async () => {
    const { page } = test;
    // A subscriber of version 1, for the migration below.
    expectStatus(await api('PUT', '/v1/customers/acme', { name: 'Acme' }), 201);
    expectStatus(await api('POST', '/v1/customers/acme/subscriptions', { plan: 'team' }), 201);

    await page.getByRole('button', { name: 'New draft version' }).click();
    await page.getByRole('button', { name: 'Remove entitlement 2' }).click();
    await page.getByRole('button', { name: 'Add entitlement' }).click();
    await page.getByRole('group', { name: 'Entitlement 2' }).getByLabel('Feature').fill('reports');
    await page.getByRole('button', { name: 'Create version 2' }).click();
    await page.getByRole('heading', { name: 'Draft: version 2' }).waitFor();

    const changes = page.getByRole('table', { name: 'Changes from version 1 to version 2' });
    await changes.getByRole('row', { name: /reports.*added/ }).waitFor();
    await changes.getByRole('row', { name: /legacy_export.*removed/ }).waitFor();

    await page.getByRole('button', { name: 'Publish' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Publish' }).click();
    await page.getByText('version 2 on sale since').waitFor();
    await page.getByRole('table', { name: 'Features of version 1' }).getByText('legacy_export').waitFor();
    await page.getByRole('table', { name: 'Features of version 2' }).getByText('reports').waitFor();
    await expectAccessible(page);
    await screenshot(page, 'plan');
  });

  it('shows what a migration would change in a dry run, then migrates', async () => {
    const { page } = test;
    expect(await page.getByLabel('From version').inputValue()).toBe('1');
    expect(await page.getByLabel('To version').inputValue()).toBe('2');
    await page.getByLabel('When').selectOption('now');
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.getByText('1 subscription on version 1 would move to version 2').waitFor();
    const row = page.getByRole('table', { name: 'What each customer would gain and lose' }).getByRole('row', {
      name: /acme/,
    });
    expect(await row.getByRole('cell').allTextContents()).toEqual(['acme', 'reports', 'legacy_export', '—', '—', '']);
    await expectAccessible(page);
    expect(
      expectStatus<{ data: { plan_version: number }[] }>(await api('GET', '/v1/customers/acme/subscriptions'), 200)
        .data[0]?.plan_version,
    ).toBe(1);

    await page.getByRole('button', { name: 'Migrate', exact: true }).click();
    const confirm = page.getByRole('alertdialog');
    await confirm.getByText('1 subscription move now').waitFor();
    await confirm.getByRole('button', { name: 'Migrate' }).click();
    await page.getByText('Migrated: 1 of 1 subscription on version 1 moved to version 2').waitFor();
    const subscriptions = expectStatus<{ data: { plan_version: number }[] }>(
      await api('GET', '/v1/customers/acme/subscriptions'),
      200,
    );
    expect(subscriptions.data[0]?.plan_version).toBe(2);
  });

  it('targets the feature with a rule and tries it for a customer and a context', async () => {
    const { page, url } = test;
    await page.goto(`${url}/features/beta_dashboard`);
    await page.getByRole('heading', { name: 'Beta dashboard', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Add rule' }).click();
    const condition = page.getByRole('group', { name: 'Rule 1, condition 1' });
    await condition.getByLabel('Attribute', { exact: true }).fill('country');
    await condition.getByLabel('Operator').selectOption('one_of');
    await condition.getByLabel('Value', { exact: true }).fill('DE, FR');
    await page.getByRole('group', { name: 'Rule 1', exact: true }).getByLabel('Then').selectOption('off');
    await page.getByRole('button', { name: 'Save targeting' }).click();
    await page.getByText('Targeting saved.').waitFor();
    const feature = expectStatus<{ targeting: unknown }>(await api('GET', '/v1/features/beta_dashboard'), 200);
    expect(feature.targeting).toEqual({ if: [{ in: [{ var: 'country' }, ['DE', 'FR']] }, 'off', null] });
    await expectAccessible(page);

    const tryIt = page.getByRole('region', { name: 'Try it' });
    const decision = tryIt.getByRole('region', { name: 'Decision' });
    await tryIt.getByLabel('Customer id').fill('acme');
    await tryIt.getByRole('button', { name: 'Check' }).click();
    await decision.getByText('Allowed', { exact: true }).waitFor();
    expect(await decision.textContent()).toContain('entitled');

    await tryIt.getByRole('button', { name: 'Add context attribute' }).click();
    await tryIt.getByLabel('Attribute 1').fill('country');
    await tryIt.getByLabel('Value 1').fill('DE');
    await tryIt.getByRole('button', { name: 'Check' }).click();
    await decision.getByText('Denied', { exact: true }).waitFor();
    expect(await decision.textContent()).toContain('no_entitlement');
  });

  it('turns on the kill switch after saying what it does, and the check for the customer changes', async () => {
    const { page, url } = test;
    const check = async () =>
      expectStatus<{ allowed: boolean; reason: string }>(
        await api('POST', '/v1/check', { customer: 'acme', feature: 'beta_dashboard' }),
        200,
      );
    expect(await check()).toMatchObject({ allowed: true, reason: 'entitled' });

    await page.getByRole('button', { name: 'Turn on kill switch' }).click();
    const confirm = page.getByRole('alertdialog', { name: /Turn on the kill switch/ });
    await confirm.getByText('every customer').waitFor();
    await expectAccessible(page);
    await confirm.getByRole('button', { name: 'Turn on kill switch' }).click();
    await page.getByText('Kill switch on', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Turn off kill switch' }).waitFor();
    expect(await check()).toMatchObject({ allowed: false, reason: 'feature_disabled' });

    const tryIt = page.getByRole('region', { name: 'Try it' });
    await tryIt.getByRole('button', { name: 'Remove attribute 1' }).click();
    await tryIt.getByRole('button', { name: 'Check' }).click();
    await tryIt.getByRole('region', { name: 'Decision' }).getByText('feature_disabled').waitFor();

    await page.goto(`${url}/features`);
    await page.getByRole('row', { name: /beta_dashboard.*Kill switch on/ }).waitFor();
    await expectAccessible(page);
    await screenshot(page, 'features');
  });
});
