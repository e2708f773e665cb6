import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { launchChromium } from '../../sdk/src/test-support/chromium.js';
import { startOidcProvider } from '../../server/src/test-support/oidc-provider.js';
import { startTestServer } from '../../server/src/test-support/server.js';
import { describeConsole, expectAccessible, expectStatus, owner, type TestServer } from './support.js';

/** A port nothing listens on now, for a server whose public URL must be known before it starts. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describeConsole('console sign-in with OpenID Connect', (dialect) => {
  let server: TestServer;
  let provider: Awaited<ReturnType<typeof startOidcProvider>>;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let url: string;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    provider = await startOidcProvider({ redirectUri: `${url}/v1/sessions/oidc/callback` });
    server = await startTestServer({
      dialect,
      start: new Date().toISOString(),
      env: {
        KEYMASTER_ADMIN_EMAIL: owner.email,
        KEYMASTER_ADMIN_PASSWORD: owner.password,
        KEYMASTER_PUBLIC_URL: url,
        KEYMASTER_OIDC_ISSUER: provider.issuer,
        KEYMASTER_OIDC_CLIENT_ID: provider.clientId,
        KEYMASTER_OIDC_CLIENT_SECRET: provider.clientSecret,
        KEYMASTER_OIDC_NAME: 'Acme SSO',
      },
    });
    await server.listen(port);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await provider?.close();
  });

  /** Signs in at the provider's development login form as `login`, through its consent step. */
  const signInAtProvider = async (page: Awaited<ReturnType<typeof browser.context.newPage>>, login: string) => {
    // Signed out everywhere: no session at the provider (or here) from an earlier sign-in.
    await browser.context.clearCookies();
    await page.goto(`${url}/`);
    await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('anything');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${url}/**`);
  };

  it('signs an invited user in through the provider', { timeout: 60_000 }, async () => {
    const invited = 'ada@example.com';
    const { url: link } = expectStatus<{ url: string }>(
      await server.request({ method: 'POST', url: '/v1/users/invitations', body: { email: invited, role: 'support' } }),
      201,
    );
    expect(link).toContain('/accept-invitation#');
    // An invitation is not needed for the provider's sign-in: the user must exist, so make them.
    const page = await browser.context.newPage();
    await page.goto(`${url}/`);
    await expectAccessible(page);
    await signInAtProvider(page, 'nobody@example.com');
    await page.getByRole('alert').getByText('There is no console user with your email address').waitFor();

    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/invitations/accept',
        body: { token: decodeURIComponent(link.split('#')[1]!), password: 'a long enough password' },
        headers: { authorization: undefined },
      }),
      201,
    );
    await signInAtProvider(page, invited);
    await page.getByRole('navigation', { name: 'Console' }).getByText(invited).waitFor();
    await page.close();
  });

  it('refuses an address the provider has not verified', { timeout: 40_000 }, async () => {
    const page = await browser.context.newPage();
    await signInAtProvider(page, 'unverified@example.com');
    await page.getByRole('alert').getByText('has not verified your email address').waitFor();
    await page.close();
  });

  it('refuses a callback that does not come from a sign-in this browser started', async () => {
    const response = await fetch(`${url}/v1/sessions/oidc/callback?code=forged&state=forged`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/?sign_in_error=flow_expired');
    expect(response.headers.get('set-cookie') ?? '').not.toContain('km_session=km_ses_');
  });
});
