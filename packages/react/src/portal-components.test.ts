import { fileURLToPath } from 'node:url';
import type {
  PortalChangePreview as ContractPreview,
  PortalView as ContractView,
  PortalLink,
  Subscription,
} from '@keymaster/contract';
import { afterAll, beforeAll, expect, expectTypeOf, it } from 'vitest';
import {
  type BrowserTest,
  describeInChromium,
  startBrowserTest,
  untilPage,
} from '../../sdk/src/test-support/chromium.js';
import { seedCustomer } from '../../server/src/test-support/builders.js';
import type { PortalChangePreview, PortalSubscription, PortalView } from './portal-client.js';

const pageEntry = fileURLToPath(new URL('./test-support/portal-page.tsx', import.meta.url));

/**
 * The portal components in real headless Chromium, embedded in a page on another origin than
 * Keymaster (CORS), with a portal link's token as the only credential, as a SaaS's settings page
 * gets it from its backend.
 */
describeInChromium('@keymaster/react portal components in Chromium [sqlite]', () => {
  let test: BrowserTest;
  let live: BrowserTest['live'];
  let page: BrowserTest['page'];
  let post: BrowserTest['post'];
  let browser: BrowserTest['browser'];
  /** The Authorization and Cookie headers of every request the page sent to Keymaster. */
  const sent: { authorization: string; cookie: string | undefined }[] = [];

  beforeAll(async () => {
    test = await startBrowserTest({ pageEntry, realTime: true });
    ({ live, page, post, browser } = test);
    page.on('request', (request) => {
      if (!request.url().startsWith(live.url) || request.method() === 'OPTIONS') return;
      const headers = request.headers();
      sent.push({ authorization: headers.authorization ?? '', cookie: headers.cookie });
    });
    await test.open();
  }, 60_000);

  afterAll(() => test?.close());

  async function mount(token: string): Promise<void> {
    await page.evaluate((props) => window.portalPage.mount(props), { baseUrl: live.url, token });
  }
  const subscriptionOf = async (id: string) =>
    (
      (await live.server.request({ method: 'GET', url: `/v1/customers/${id}/subscriptions` })).json() as {
        data: Subscription[];
      }
    ).data[0]!;

  it('mirrors the contract: the API answers fit the components’ types', () => {
    expectTypeOf<ContractView>().toExtend<PortalView>();
    expectTypeOf<ContractPreview>().toExtend<PortalChangePreview>();
    expectTypeOf<Subscription>().toExtend<PortalSubscription>();
  });

  it('shows usage and the plans, and upgrades through the Confirm step; the meters follow', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    await post('/v1/consume', { customer: id, feature: 'api_calls', quantity: 250 });
    const { token } = await post<PortalLink>('/v1/portal-sessions', { customer: id }, 201);
    await mount(token);

    const meters = page.getByTestId('meters');
    const calls = meters.getByRole('progressbar', { name: 'API calls' });
    await meters.getByText('250 / 1,000').waitFor();
    expect(await calls.getAttribute('aria-valuenow')).toBe('250');
    expect(await calls.getAttribute('aria-valuetext')).toBe('250 of 1,000 used');
    await meters
      .getByText(/^Resets /)
      .first()
      .waitFor();

    const plans = page.getByTestId('plans');
    const card = (plan: string) => plans.locator(`[data-plan="${plan}"]`);
    expect(
      await plans.locator('[data-plan]').evaluateAll((cards) => cards.map((c) => (c as HTMLElement).dataset.plan)),
    ).toEqual(['free', 'pro', 'enterprise']);
    await card('free').getByText('Current plan').waitFor();
    await card('pro').getByText('$49.00/month').waitFor();
    await card('enterprise').getByText('API calls: unlimited').waitFor();
    expect(await plans.getByRole('heading', { level: 3 }).allTextContents()).toEqual(['Free', 'Pro', 'Enterprise']);

    await card('pro').getByRole('button', { name: 'Upgrade to Pro' }).click();
    const dialog = page.getByRole('dialog', { name: 'Upgrade to Pro' });
    await dialog.getByText('You get Single sign-on', { exact: true }).waitFor();
    await dialog.getByText('Price: $0.00/month → $49.00/month', { exact: true }).waitFor();
    await dialog.getByText('API calls: 1,000 → 100,000', { exact: true }).waitFor();
    expect((await subscriptionOf(id)).plan).toBe('free');
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.waitFor({ state: 'detached' });
    await untilPage(() => page.locator('body').getAttribute('data-changed'), 'pro');
    await plans.getByRole('status').getByText('You are now on Pro.').waitFor();
    await card('pro').getByText('Current plan').waitFor();
    // The meters share the client's view: the new limit shows without a refetch of their own.
    await meters.getByText('250 / 100,000').waitFor();
    expect((await subscriptionOf(id)).plan).toBe('pro');

    // A downgrade waits for the period's end by default; Escape leaves without a change.
    await card('free').getByRole('button', { name: 'Downgrade to Free' }).click();
    const downgrade = page.getByRole('dialog', { name: 'Downgrade to Free' });
    await downgrade.getByText('Nothing changes now: you keep Pro until then.').waitFor();
    expect(await downgrade.getByRole('radio', { name: /^At the end of the period/ }).isChecked()).toBe(true);
    await downgrade.getByRole('radio', { name: 'Now' }).check();
    await downgrade.getByRole('heading', { name: 'Changes now' }).waitFor();
    await downgrade.getByText('You lose Single sign-on', { exact: true }).waitFor();
    await page.keyboard.press('Escape');
    await downgrade.waitFor({ state: 'detached' });
    const after = await subscriptionOf(id);
    expect([after.plan, after.scheduled_change]).toEqual(['pro', null]);

    // The token was the only credential: every request carried it, none a cookie.
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((headers) => headers.authorization === `Bearer ${token}` && headers.cookie === undefined)).toBe(
      true,
    );
    expect(browser.errors).toEqual([]);
  }, 60_000);

  it('says so when the token is not good, instead of showing nothing', async () => {
    await mount('not-a-portal-token');
    // The server's own words (a 401 the page could read, not a blocked request).
    const refused = 'No valid portal session: open the portal again from the app.';
    await page.getByTestId('plans').getByRole('alert').getByText(`The plans could not be loaded: ${refused}`).waitFor();
    await page.getByTestId('meters').getByRole('alert').getByText(`Usage could not be loaded: ${refused}`).waitFor();
    browser.errors.length = 0; // the browser logs the 401s
  });

  it('PortalButton asks the backend for a link, then goes there; a failure is shown', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    const { token } = await post<PortalLink>('/v1/portal-sessions', { customer: id }, 201);
    await mount(token);
    const button = page.getByRole('button', { name: 'Manage plan' });
    await button.click();
    // The click's re-render may land after the click returns: wait for it rather than read at once.
    await untilPage(() => button.getAttribute('aria-busy'), 'true');
    await untilPage(() => button.isDisabled(), true);
    await page.evaluate(() => window.portalPage.resolveUrl('https://keymaster.example.com/portal#token'));
    await untilPage(
      () => page.locator('body').getAttribute('data-navigated'),
      'https://keymaster.example.com/portal#token',
    );

    await page.locator('body').evaluate((body) => body.removeAttribute('data-navigated'));
    await button.click();
    await page.evaluate(() => window.portalPage.rejectUrl('the backend is down'));
    await page.getByRole('alert').getByText('The portal could not be opened: the backend is down').waitFor();
    await untilPage(() => button.isDisabled(), false);
    expect(await page.locator('body').getAttribute('data-navigated')).toBeNull();
    expect(browser.errors).toEqual([]);
  });
});
