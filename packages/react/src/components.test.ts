import { fileURLToPath } from 'node:url';
import type { CustomerToken, Decision, Notification } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type BrowserTest,
  describeInChromium,
  startBrowserTest,
  untilPage,
} from '../../sdk/src/test-support/chromium.js';
import { startFaultProxy, testAdminKey } from '../../sdk/src/test-support/live-server.js';
import { expectStatus, grantBody, seedCustomer } from '../../server/src/test-support/builders.js';

const pageEntry = fileURLToPath(new URL('./test-support/page.tsx', import.meta.url));

/**
 * The components in real headless Chromium, against a real Keymaster on another origin (CORS),
 * with a customer token as a browser gets one: what the page shows, and that it follows changes
 * made through the API without a reload.
 */
describeInChromium('@keymaster/react in Chromium [sqlite]', () => {
  let test: BrowserTest;
  let live: BrowserTest['live'];
  let site: BrowserTest['site'];
  let browser: BrowserTest['browser'];
  let page: BrowserTest['page'];
  let post: BrowserTest['post'];
  /** The Authorization header of every request the page sent to Keymaster. */
  const credentials: string[] = [];
  /** How many times the page asked the server to check (the paywall's upgrade suggestions). */
  let remoteChecks = 0;
  let navigations = 0;

  beforeAll(async () => {
    test = await startBrowserTest({ pageEntry, realTime: true });
    ({ live, site, browser, page, post } = test);
    page.on('request', (request) => {
      // Everything but the page itself goes to Keymaster (directly or through a proxy).
      if (request.url().startsWith(site.origin) || request.method() === 'OPTIONS') return;
      credentials.push(request.headers().authorization ?? '');
      if (request.url() === `${live.url}/v1/check`) remoteChecks += 1;
    });
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations += 1;
    });
    await test.open();
  }, 60_000);

  afterAll(() => test?.close());

  /** Renders the page for a customer, with a customer token minted as a backend would. */
  async function mount(
    customer: string,
    input: { ownClient?: boolean; staleAfterMs?: number; baseUrl?: string } = {},
  ): Promise<void> {
    const { token } = await post<CustomerToken>('/v1/customer-tokens', { customer }, 201);
    await page.evaluate((props) => window.keymasterPage.mount(props), {
      baseUrl: live.url,
      token,
      customer,
      ...input,
    });
  }

  const text = (testId: string) => () => page.getByTestId(testId).textContent();
  const meter = (testId: string) => page.getByTestId(testId).getByRole('progressbar');

  it('shows a free customer their entitlements, then follows usage, a grant and a plan change live', async () => {
    const { id, subscription } = await seedCustomer(live.server, { plan: 'free' });
    await mount(id);

    await untilPage(text('status-sso'), 'denied:no_entitlement');
    expect(await text('sso-fallback')()).toBe('Single sign-on comes with Pro.');
    expect(await page.getByTestId('sso-feature').count()).toBe(0);
    // The paywall's plans come from the server's check: the cheapest plan with sso is Pro.
    const offer = page.getByTestId('sso-paywall').locator('[data-plan="pro"]');
    await untilPage(() => offer.textContent(), 'Pro$49.00/monthUpgrade to Pro');
    await offer.getByRole('button', { name: 'Upgrade to Pro' }).click();
    expect(await page.locator('body').getAttribute('data-upgrade')).toBe('pro');

    expect(await text('status-api_calls')()).toBe('allowed:entitled');
    expect(await text('calls-meter')()).toMatch(/^API calls0 \/ 1,000 calls1,000 calls leftResets \w{3} \d+, \d{4}$/);
    expect(await meter('calls-meter').getAttribute('aria-valuenow')).toBe('0');
    expect(await meter('calls-meter').getAttribute('aria-valuemax')).toBe('1000');
    expect(await meter('calls-meter').getAttribute('aria-valuetext')).toBe('0 of 1,000 calls used');
    expect(await meter('calls-meter').getAttribute('aria-labelledby')).toBe(
      await page.getByTestId('calls-meter').getByText('API calls', { exact: true }).getAttribute('id'),
    );
    const { resets_at: resetsAt } = await post<Decision>('/v1/check', { customer: id, feature: 'api_calls' });
    expect(resetsAt).not.toBeNull();
    expect(await page.getByTestId('calls-meter').locator('time').getAttribute('datetime')).toBe(resetsAt);
    expect(await text('seats-meter')()).toBe('Seats0 / 33 left');

    const checksBefore = remoteChecks;
    await post('/v1/consume', { customer: id, feature: 'api_calls', quantity: 250 });
    await untilPage(() => meter('calls-meter').getAttribute('aria-valuenow'), '250');
    expect(await page.getByTestId('calls-meter').locator('.km-usage-meter-figures').textContent()).toBe(
      '250 / 1,000 calls',
    );
    expect(await page.getByTestId('calls-meter').locator('.km-usage-meter-balance').textContent()).toBe(
      '750 calls left',
    );

    live.server.clock.advance(1000); // a new snapshot time: every decision of the customer is new
    await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'seats', mode: 'add', limit: 5 }), 201);
    await untilPage(text('seats-meter'), 'Seats0 / 88 left');
    // Neither push changed sso's "no": the paywall did not ask the server again.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(remoteChecks).toBe(checksBefore);

    await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'sso' }), 201);
    await untilPage(text('status-sso'), 'allowed:entitled');
    expect(await text('sso-feature')()).toBe('SSO settings');
    expect(await page.getByTestId('sso-fallback').count()).toBe(0);
    expect(await text('sso-paywall')()).toBe('SSO console');

    await post(`/v1/subscriptions/${subscription!.id}/change`, { plan: 'pro' });
    await untilPage(() => meter('calls-meter').getAttribute('aria-valuemax'), '100000');
    expect(await page.getByTestId('calls-meter').locator('.km-usage-meter-figures').textContent()).toBe(
      '250 / 100,000 calls',
    );
    expect(await text('seats-meter')()).toBe('Seats0 / 1515 left');

    // All of it arrived over the stream into the same document, with the token and never a key.
    expect(navigations).toBe(1);
    expect(credentials.length).toBeGreaterThan(0);
    expect(credentials.every((header) => header.startsWith('Bearer eyJ'))).toBe(true);
    expect(credentials.some((header) => header.includes(testAdminKey))).toBe(false);
    expect(browser.errors).toEqual([]);
  });

  it('puts a used-up metered feature behind the paywall, and lifts it when the plan changes', async () => {
    const { id, subscription } = await seedCustomer(live.server, { plan: 'free' });
    await post('/v1/consume', { customer: id, feature: 'api_calls', quantity: 1000 });
    await mount(id);

    await untilPage(text('status-api_calls'), 'denied:limit_reached');
    expect(await page.getByTestId('calls-meter').locator('.km-usage-meter').getAttribute('data-state')).toBe('full');
    expect(await meter('calls-meter').getAttribute('aria-valuenow')).toBe('1000');
    const paywall = page.getByTestId('calls-paywall').locator('.km-paywall');
    expect(await paywall.getAttribute('data-reason')).toBe('limit_reached');
    expect(await paywall.locator('.km-paywall-title').textContent()).toBe("You have reached your plan's limit.");
    const { upgrade } = await post<Decision>('/v1/check', { customer: id, feature: 'api_calls' });
    const names = upgrade?.plans.map((plan) => plan.name);
    expect(names).toContain('Pro');
    await untilPage(() => paywall.locator('.km-paywall-plan-name').allTextContents(), names);
    expect(await paywall.getAttribute('aria-busy')).toBe('false');

    await post(`/v1/subscriptions/${subscription!.id}/change`, { plan: 'pro' });
    await untilPage(text('calls-paywall'), 'API console');
    expect(await text('status-api_calls')()).toBe('allowed:entitled');
    expect(await page.getByTestId('calls-meter').locator('.km-usage-meter').getAttribute('data-state')).toBe('ok');
    expect(browser.errors).toEqual([]);
  });

  it("works on a client the app made, and shows an unlimited feature's usage without a bar", async () => {
    const { id } = await seedCustomer(live.server, { plan: 'enterprise' });
    await post('/v1/consume', { customer: id, feature: 'api_calls', quantity: 1234 });
    await mount(id, { ownClient: true });

    await untilPage(text('status-sso'), 'allowed:entitled');
    const calls = page.getByTestId('calls-meter');
    expect(await calls.locator('.km-usage-meter').getAttribute('data-state')).toBe('unlimited');
    expect(await calls.locator('.km-usage-meter-figures').textContent()).toBe('1,234 calls (unlimited)');
    expect(await calls.getByRole('progressbar').count()).toBe(0);
    expect(await text('calls-paywall')()).toBe('API console');

    await post('/v1/consume', { customer: id, feature: 'api_calls', quantity: 1000 });
    await untilPage(() => calls.locator('.km-usage-meter-figures').textContent(), '2,234 calls (unlimited)');
    expect(browser.errors).toEqual([]);
  });

  it('shows notifications as they are made, and marks them read in the page and on the server', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    for (const value of [80, 90])
      await post('/v1/alert-rules', { feature: 'api_calls', type: 'percent', value, customer: id }, 201);
    const unreadOnServer = async () =>
      expectStatus<{ data: Notification[] }>(
        await live.server.request({ method: 'GET', url: `/v1/customers/${id}/notifications?unread=true` }),
        200,
      ).data;
    await mount(id);

    const panel = page.getByTestId('notices').getByRole('region', { name: 'Notifications' });
    const state = () => panel.getAttribute('data-state');
    const titles = () => panel.getByRole('listitem').locator('.km-notification-title').allTextContents();
    await untilPage(state, 'empty');
    expect(await panel.getByText('No unread notifications.').count()).toBe(1);
    expect(await panel.getByRole('status').getAttribute('aria-label')).toBe('No unread notifications');

    // The server's consumer makes the notification from the alert; the stream brings it.
    await post('/v1/consume', { customer: id, feature: 'api_calls', quantity: 850 });
    await untilPage(titles, ['You have used 80% of API calls']);
    const [first] = await unreadOnServer();
    const item = panel.getByRole('listitem');
    expect(await item.locator('.km-notification-body').textContent()).toBe(first!.body);
    expect(await item.locator('time').getAttribute('datetime')).toBe(first!.created_at);
    expect(await item.locator('time').textContent()).toMatch(/^\w{3} \d+, \d{4}, \d+:\d{2}\s?[AP]M$/);
    expect(await panel.getByRole('status', { name: '1 unread notification' }).textContent()).toBe('1');

    await post('/v1/consume', { customer: id, feature: 'api_calls', quantity: 60 });
    await untilPage(titles, ['You have used 90% of API calls', 'You have used 80% of API calls']);
    expect(await panel.getByRole('status', { name: '2 unread notifications' }).count()).toBe(1);

    await panel.getByRole('button', { name: 'Mark read: You have used 90% of API calls' }).click();
    await untilPage(titles, ['You have used 80% of API calls']);
    expect((await unreadOnServer()).map((n) => n.title)).toEqual(['You have used 80% of API calls']);

    await panel.getByRole('button', { name: 'Mark all read' }).click();
    await untilPage(state, 'empty');
    expect(await unreadOnServer()).toEqual([]);
    expect(await panel.getByRole('button').count()).toBe(0);
    expect(navigations).toBe(1);
    expect(browser.errors).toEqual([]);
  });

  it('marks answers stale while the server is unreachable, keeps serving them, and fresh once it is back', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'pro' });
    // The page reaches the server through a proxy that can cut it off, stream included.
    const proxy = await startFaultProxy(live.url);
    try {
      await mount(id, { staleAfterMs: 500, baseUrl: proxy.url });
      await untilPage(text('status-sso'), 'allowed:entitled');
      const stale = () => page.getByTestId('status-sso').getAttribute('data-stale');
      expect(await stale()).toBe('false');

      proxy.fallback = { kind: 'drop' };
      proxy.cut();
      // Nothing happens in the page but time passing: the provider re-reads to notice.
      await untilPage(stale, 'true');
      expect(await text('status-sso')()).toBe('allowed:entitled');

      // The SDK reconnects with jittered backoff (capped at 30 s): usually within a second or two.
      proxy.fallback = { kind: 'pass' };
      await untilPage(stale, 'false', 35_000);
      browser.errors.length = 0; // the browser logs the refused reconnections
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('answers by the failure policy, not "loading" forever, when the server cannot be reached', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'pro' });
    const { token } = await post<CustomerToken>('/v1/customer-tokens', { customer: id }, 201);
    // Nothing listens on port 9: the first load fails.
    await page.evaluate((props) => window.keymasterPage.mount(props), {
      baseUrl: 'http://127.0.0.1:9',
      token,
      customer: id,
    });
    await untilPage(text('status-sso'), 'denied:unavailable');
    expect(await text('sso-fallback')()).toBe('Single sign-on comes with Pro.');
    expect(await page.getByTestId('calls-meter').textContent()).toBe('');
    const notices = page.getByTestId('notices').locator('.km-notifications');
    await untilPage(() => notices.getAttribute('data-state'), 'error');
    expect(await notices.getByRole('alert').textContent()).toBe('Notifications could not be loaded.');
    expect(await notices.getByRole('list').count()).toBe(0);
    browser.errors.length = 0; // the refused connections are logged by the browser
  });
});
