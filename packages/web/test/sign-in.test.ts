import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ConsoleTest, describeConsole, expectAccessible, owner, screenshot, startConsoleTest } from './support.js';

describeConsole('console sign-in in Chromium', (dialect) => {
  let test: ConsoleTest;

  beforeAll(async () => {
    test = await startConsoleTest({ dialect });
  });
  afterAll(async () => test?.close());

  it('serves the sign-in form at / with the labels SPEC.md names, accessible', async () => {
    const { page, url } = test;
    await page.goto(`${url}/`);
    await page.getByRole('heading', { name: 'Sign in to Keymaster' }).waitFor();
    await expectAccessible(page);
    await screenshot(page, 'sign-in');
  });

  it('says a wrong password is wrong, and stays on the form', async () => {
    const { page, url } = test;
    await page.goto(`${url}/`);
    await page.getByLabel('Email').fill(owner.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('The email or the password is wrong.').waitFor();
  });

  it('signs in, shows the console, and after signing out shows the form again', async () => {
    const { page } = test;
    await test.signIn();
    await page.getByRole('navigation', { name: 'Console' }).getByText(owner.email).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  });

  it('returns to sign-in when the session ends while a page is open', async () => {
    const { page, url } = test;
    await test.signIn();
    // The session ends elsewhere (signed out in another tab): the next request gets 401.
    const other = await test.browser.context.newPage();
    await other.goto(`${url}/`);
    await other.getByRole('button', { name: 'Sign out' }).click();
    await other.close();
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
  });

  it('answers page paths with the console and unknown API paths with a problem', async () => {
    const { url } = test;
    const deep = await fetch(`${url}/customers/acme`, { headers: { accept: 'text/html' } });
    expect(deep.status).toBe(200);
    expect(deep.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await deep.text()).toContain('<div id="root">');
    const portal = await fetch(`${url}/portal`, { headers: { accept: 'text/html' } });
    expect(await portal.text()).toContain('portal');
    const api = await fetch(`${url}/v1/nothing-here`, { headers: { accept: 'text/html' } });
    expect(api.status).toBe(404);
    expect(api.headers.get('content-type')).toContain('application/problem+json');
  });
});
