import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Chromium, launchChromium, untilPage } from '../../sdk/src/test-support/chromium.js';
import {
  type ConsoleTest,
  describeConsole,
  expectAccessible,
  expectStatus,
  owner,
  screenshot,
  startConsoleTest,
} from './support.js';

interface UserRow {
  id: string;
  email: string;
  role: string;
}

describeConsole('console admin pages in Chromium', (dialect) => {
  let test: ConsoleTest;
  /** A second browser with its own profile: the invited user's. */
  let other: Chromium;
  let otherPage: Page;
  const invited = { email: 'dana@example.com', name: 'Dana Support', password: 'dana first password' };

  beforeAll(async () => {
    test = await startConsoleTest({ dialect });
    other = await launchChromium();
    otherPage = await other.context.newPage();
    await test.signIn();
  });
  afterAll(async () => {
    await other?.close();
    await test?.close();
  });

  /** A request with a secret key, from outside the browser: what a script holding the key sees. */
  const withKey = (secret: string) =>
    fetch(`${test.url}/v1/features?limit=1`, { headers: { authorization: `Bearer ${secret}` } });

  const userRow = (page: Page, email: string) => page.getByRole('row').filter({ hasText: email });

  const usersByEmail = async (): Promise<Map<string, UserRow>> => {
    const body = expectStatus<{ data: UserRow[] }>(
      await test.server.request({ method: 'GET', url: '/v1/users?limit=100' }),
      200,
    );
    return new Map(body.data.map((user) => [user.email, user]));
  };

  it('creates a scoped API key, shows its secret once, rolls it, and revokes it so the secret stops working', async () => {
    const { page, url } = test;
    await page.goto(`${url}/api-keys`);
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Create key' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create an API key' });
    await dialog.getByLabel('Name').fill('CI pipeline');
    // Nothing to create until a scope is chosen.
    expect(await dialog.getByRole('button', { name: 'Create key' }).isDisabled()).toBe(true);
    await dialog.getByRole('checkbox', { name: /catalog:read/ }).check();
    await dialog.getByRole('button', { name: 'Create key' }).click();
    await dialog.getByText('Copy the secret now: it will not be shown again.').waitFor();
    const secret = await dialog.getByLabel('Secret').inputValue();
    expect(secret).toMatch(/^km_sk_/);
    await test.browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    await dialog.getByRole('button', { name: 'Copy' }).click();
    await dialog.getByText('Copied.').waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await expectAccessible(page);
    await dialog.getByRole('button', { name: 'Done' }).click();

    // The secret works as a script would use it, within its scopes only.
    expect((await withKey(secret)).status).toBe(200);
    const outside = await fetch(`${url}/v1/customers?limit=1`, { headers: { authorization: `Bearer ${secret}` } });
    expect(outside.status).toBe(403);
    expect(((await outside.json()) as { detail: string }).detail).toContain('"customers:read"');

    // Listed by prefix, never again with its secret.
    const row = page.getByRole('row').filter({ hasText: 'CI pipeline' });
    await row.getByText('Active').waitFor();
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    await row.getByText('Active').waitFor();
    expect(await page.content()).not.toContain(secret);
    await expectAccessible(page);
    await row.getByText('catalog:read').waitFor();
    await screenshot(page, 'api-keys');

    // Rolling: a new secret at once; the old one ends when chosen ("now" here).
    await row.getByRole('button', { name: 'Roll CI pipeline' }).click();
    const roll = page.getByRole('dialog', { name: 'Roll this API key' });
    await roll.getByLabel('Old secret keeps working').selectOption({ label: 'Stop it now' });
    await roll.getByRole('button', { name: 'Roll key' }).click();
    await roll.getByText('Copy the secret now: it will not be shown again.').waitFor();
    const rolled = await roll.getByLabel('Secret').inputValue();
    expect(rolled).not.toBe(secret);
    await roll.getByRole('button', { name: 'Done' }).click();
    // The page asked for the browser's "now"; the server's manual clock catches up with it.
    test.server.clock.set(Date.now());
    await untilPage(async () => (await withKey(secret)).status, 401);
    expect((await withKey(rolled)).status).toBe(200);
    await row
      .first()
      .getByText(/^Expired/)
      .waitFor();

    const current = page.getByRole('row').filter({ hasText: 'CI pipeline' }).filter({ hasText: 'Active' });
    await current.getByRole('button', { name: 'Revoke CI pipeline' }).click();
    const confirm = page.getByRole('alertdialog', { name: 'Revoke this API key?' });
    await confirm.getByRole('button', { name: 'Revoke key' }).click();
    await confirm.waitFor({ state: 'detached' });
    await page
      .getByRole('row')
      .filter({ hasText: 'CI pipeline' })
      .getByText(/^Revoked/)
      .waitFor();
    await untilPage(async () => (await withKey(rolled)).status, 401);
  });

  it('invites a user, who accepts the link the page shows', async () => {
    const { page, url } = test;
    await page.goto(`${url}/users`);
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await userRow(page, owner.email).getByText('(you)').waitFor();
    await page.getByRole('button', { name: 'Invite user' }).click();
    const dialog = page.getByRole('dialog', { name: 'Invite a user' });
    await dialog.getByLabel('Email').fill(invited.email);
    await dialog.getByLabel('Name').fill(invited.name);
    await dialog.getByLabel('Role').selectOption('support');
    await dialog.getByRole('button', { name: 'Create invitation' }).click();
    // No SMTP on this server: the link is shown, to be passed on.
    await dialog.getByText('Email is not set up on this server').waitFor();
    const link = await dialog.getByLabel('Invitation link').inputValue();
    expect(link).toMatch(new RegExp(`^${url}/accept-invitation#km_lnk_`));
    await expectAccessible(page);
    await dialog.getByRole('button', { name: 'Done' }).click();

    const accept = await test.browser.context.newPage();
    await accept.goto(link);
    await accept.getByRole('heading', { name: 'Join Keymaster' }).waitFor();
    await accept.getByLabel('Password', { exact: true }).fill(invited.password);
    await accept.getByLabel('Repeat password').fill(invited.password);
    await accept.getByRole('button', { name: 'Create my account' }).click();
    await accept.getByText('Your account is ready.').waitFor();
    await accept.close();

    // The list shows the new user once they have accepted (reloaded, as another tab changed it).
    await page.reload();
    await expect
      .poll(() => userRow(page, invited.email).getByLabel(`Role of ${invited.email}`).inputValue())
      .toBe('support');
  });

  it('signs the invited user in elsewhere, with only what the support role may do', async () => {
    const { url } = test;
    await test.signIn({ email: invited.email, password: invited.password, page: otherPage });
    const nav = otherPage.getByRole('navigation', { name: 'Console' });
    await nav.getByRole('link', { name: 'Customers' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Users' }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'API keys' }).count()).toBe(0);
    // Opened by its address anyway, the page shows the server's refusal.
    await otherPage.goto(`${url}/users`);
    await otherPage.getByRole('alert').getByText('it needs admin:read').waitFor();
    // A write the role lacks, sent as the console would send it (with the session's CSRF token), is refused.
    const refused = await otherPage.evaluate(async () => {
      const session = (await (await fetch('/v1/sessions/current')).json()) as { csrf_token: string };
      const response = await fetch('/v1/api-keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf_token },
        body: JSON.stringify({ name: 'not allowed' }),
      });
      return { status: response.status, body: (await response.json()) as { code: string } };
    });
    expect(refused).toMatchObject({ status: 403, body: { code: 'role_forbidden' } });
  });

  it("changes the invited user's role, and shows the server's refusal to demote the last owner", async () => {
    const { page, url } = test;
    await page.goto(`${url}/users`);
    const row = userRow(page, invited.email);
    await row.getByLabel(`Role of ${invited.email}`).selectOption('viewer');
    await row.getByRole('button', { name: 'Save role' }).click();
    await row.getByText('Saved.').waitFor();
    expect((await usersByEmail()).get(invited.email)?.role).toBe('viewer');

    const mine = userRow(page, owner.email);
    await mine.getByLabel(`Role of ${owner.email}`).selectOption('admin');
    await mine.getByRole('button', { name: 'Save role' }).click();
    await mine.getByRole('alert').getByText('This is the last owner: make another user owner first.').waitFor();
    expect(await mine.getByLabel(`Role of ${owner.email}`).getAttribute('aria-invalid')).toBe('true');
    expect((await usersByEmail()).get(owner.email)?.role).toBe('owner');
    await expectAccessible(page);
    await mine.getByLabel(`Role of ${owner.email}`).selectOption('owner');
    expect(await mine.getByRole('alert').count()).toBe(0);
    await screenshot(page, 'users');
  });

  it('makes a password reset link that sets a new password and ends the user’s sessions', async () => {
    const { page, url } = test;
    await page.goto(`${url}/users`);
    await userRow(page, invited.email)
      .getByRole('button', { name: `Password reset link for ${invited.email}` })
      .click();
    const dialog = page.getByRole('dialog', { name: 'Password reset link' });
    await dialog.getByRole('button', { name: 'Make the link' }).click();
    const link = await dialog.getByLabel('Password reset link').inputValue();
    expect(link).toMatch(new RegExp(`^${url}/reset-password#km_lnk_`));
    await expectAccessible(page);
    await dialog.getByRole('button', { name: 'Done' }).click();

    const reset = await test.browser.context.newPage();
    await reset.goto(link);
    await reset.getByLabel('Password', { exact: true }).fill('dana second password');
    await reset.getByLabel('Repeat password').fill('dana second password');
    await reset.getByRole('button', { name: 'Set password' }).click();
    await reset.getByText('Your password is changed').waitFor();
    await reset.close();

    // The session the user had has ended; the new password signs in, now as a viewer.
    await otherPage.reload();
    await otherPage.getByRole('button', { name: 'Sign in' }).waitFor();
    await test.signIn({ email: invited.email, password: 'dana second password', page: otherPage });
    await otherPage.getByRole('navigation', { name: 'Console' }).getByText('viewer').waitFor();
  });

  it('removes a user after confirmation, ending their session', async () => {
    const { page, url } = test;
    await page.goto(`${url}/users`);
    const row = userRow(page, invited.email);
    await row.getByRole('button', { name: `Remove ${invited.email}` }).click();
    const confirm = page.getByRole('alertdialog', { name: `Remove ${invited.email}?` });
    await confirm.getByRole('button', { name: 'Remove user' }).click();
    await confirm.waitFor({ state: 'detached' });
    await row.waitFor({ state: 'detached' });
    expect((await usersByEmail()).has(invited.email)).toBe(false);
    await otherPage.reload();
    await otherPage.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(test.browser.errors.filter((error) => !error.includes('Failed to load resource'))).toEqual([]);
  });
});
