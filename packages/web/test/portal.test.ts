import type { PortalLink, PortalView, Subscription } from '@keymaster/contract';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { untilPage } from '../../sdk/src/test-support/chromium.js';
import { type FakeStripe, startFakeStripe } from '../../server/src/test-support/stripe.js';
import {
  type ConsoleTest,
  describeConsole,
  expectAccessible,
  expectStatus,
  screenshot,
  startConsoleTest,
} from './support.js';

const returnUrl = 'https://app.example.com/settings/billing';

describeConsole('customer portal in Chromium', (dialect) => {
  let test: ConsoleTest;
  let page: Page;
  /** Stripe, faked on a local port: one customer's subscription is billed there. */
  let stripe: FakeStripe;
  /** Acme: the customer the portal is opened for; Globex: another customer it must never reach. */
  const acme = 'cus_acme';
  const globex = 'cus_globex';
  let acmeLink: PortalLink;

  const request = async <T>(method: 'GET' | 'POST' | 'PUT', url: string, status: number, body?: unknown) =>
    expectStatus<T>(await test.server.request({ method, url, ...(body === undefined ? {} : { body }) }), status);
  const link = (customer: string, extra: Record<string, unknown> = {}) =>
    request<PortalLink>('POST', '/v1/portal-sessions', 201, { customer, ...extra });
  let events = 0;
  /** Records `count` API calls of the customer's, as the SaaS's backend reports usage. */
  const callApi = async (customer: string, count: number) => {
    const batch = Array.from({ length: count }, () => {
      events += 1;
      return { id: `evt_${events}`, customer, type: 'api_call' };
    });
    const result = await request<{ accepted: number }>('POST', '/v1/events', 200, { events: batch });
    expect(result.accepted).toBe(count);
  };
  const subscriptionOf = async (customer: string) =>
    (await request<{ data: Subscription[] }>('GET', `/v1/customers/${customer}/subscriptions`, 200)).data[0]!;

  beforeAll(async () => {
    stripe = await startFakeStripe();
    test = await startConsoleTest({
      dialect,
      env: { KEYMASTER_STRIPE_API_KEY: 'sk_test_portal', KEYMASTER_STRIPE_API_BASE: stripe.base },
    });
    page = test.page;
    const features = [
      {
        key: 'api_calls',
        name: 'API calls',
        type: 'metered',
        unit: 'calls',
        meter: { event_type: 'api_call', aggregation: 'count' },
      },
      { key: 'sso', name: 'Single sign-on', type: 'boolean' },
      { key: 'seats', name: 'Seats', type: 'gauge', unit: 'seats' },
    ];
    for (const body of features) await request('POST', '/v1/features', 201, body);
    const month = (amount: number) => ({ amount, currency: 'usd', interval: 'month' });
    const plans = [
      {
        key: 'starter',
        name: 'Starter',
        price: month(1000),
        entitlements: [
          { feature: 'api_calls', limit: 100, reset: 'month' },
          { feature: 'seats', limit: 3 },
        ],
      },
      {
        key: 'pro',
        name: 'Pro',
        price: month(5000),
        entitlements: [
          { feature: 'api_calls', limit: 1000, reset: 'month' },
          { feature: 'seats', limit: 10 },
          { feature: 'sso' },
        ],
      },
      {
        key: 'extra_seat',
        name: 'Extra seat',
        kind: 'addon',
        price: month(500),
        entitlements: [{ feature: 'seats', limit: 1 }],
      },
    ];
    for (const body of plans) {
      await request('POST', '/v1/plans', 201, body);
      await request('POST', `/v1/plans/${body.key}/publish`, 200);
    }
    for (const [id, name, plan] of [
      [acme, 'Acme Inc.', 'starter'],
      [globex, 'Globex Corp.', 'pro'],
    ] as const) {
      await request('PUT', `/v1/customers/${id}`, 201, { name, email: `billing@${plan}.example`, traits: {} });
      await request('POST', `/v1/customers/${id}/subscriptions`, 201, { plan });
    }
    // Initech's subscription is billed by Stripe; Umbrella's is set by a signed contract.
    await request('PUT', '/v1/customers/cus_initech', 201, { name: 'Initech', stripe_customer: 'cus_stripe_initech' });
    await request('POST', '/v1/customers/cus_initech/subscriptions', 201, { plan: 'starter', source: 'stripe' });
    await request('PUT', '/v1/customers/cus_umbrella', 201, { name: 'Umbrella Corp.' });
    await request('POST', '/v1/customers/cus_umbrella/subscriptions', 201, { plan: 'pro', source: 'contract' });
    acmeLink = await link(acme, { return_url: returnUrl });
  }, 90_000);
  afterAll(async () => {
    await test?.close();
    await stripe?.close();
  });

  const section = (name: string) => page.getByRole('region', { name });
  const card = (plan: string) => page.locator(`[data-plan="${plan}"]`);

  it('opens from a link: the plan, usage that moves, notifications and a way back; accessible', async () => {
    // The link is made on the address the API call came to (or KEYMASTER_PUBLIC_URL).
    expect(acmeLink.url).toMatch(new RegExp(`^http://[^/]+/portal#${acmeLink.token}$`));
    await page.goto(`${test.url}/portal#${acmeLink.token}`);
    await page.getByRole('heading', { name: 'Your plan', level: 1 }).waitFor();
    await page.getByText('Acme Inc.').waitFor();
    // The token has left the address bar (and the history).
    expect(new URL(page.url()).hash).toBe('');
    const subscription = section('Subscription');
    await subscription.getByText('Starter').waitFor();
    await subscription.getByText('Active').waitFor();
    expect(await page.getByRole('link', { name: 'Back' }).getAttribute('href')).toBe(returnUrl);

    const usage = section('Usage');
    const calls = usage.getByRole('progressbar', { name: 'API calls' });
    await usage.getByText('0 / 100').waitFor();
    expect(await calls.getAttribute('aria-valuenow')).toBe('0');
    expect(await calls.getAttribute('aria-valuemax')).toBe('100');
    await usage
      .getByText(/^Resets /)
      .first()
      .waitFor();
    await usage.getByText('0 / 3').waitFor(); // seats, a gauge

    // Usage reported by the app's backend shows without a reload (the page refetches every 5 s).
    await callApi(acme, 7);
    await usage.getByText('7 / 100').waitFor({ timeout: 15_000 });
    expect(await calls.getAttribute('aria-valuenow')).toBe('7');

    // Both plans side by side, cheapest first, with prices and what they include.
    const plans = section('Plans');
    await untilPage(
      () => plans.locator('[data-plan]').evaluateAll((cards) => cards.map((c) => c.dataset.plan)),
      ['starter', 'pro'],
    );
    await card('starter').getByText('Current plan').waitFor();
    await card('starter').getByText('$10.00/month').waitFor();
    await card('pro').getByText('$50.00/month').waitFor();
    await card('pro').getByText('API calls: 1,000 a month').waitFor();
    await card('pro').getByText('Single sign-on').waitFor();
    await section('Notifications').waitFor();
    await section('Add-ons').getByText('$5.00/month each').waitFor();

    await expectAccessible(page);
    await screenshot(page, 'portal');
  }, 60_000);

  it('upgrades through the Confirm step, adds a seat, downgrades at period end, cancels and undoes', async () => {
    await card('pro').getByRole('button', { name: 'Upgrade to Pro' }).click();
    const upgrade = page.getByRole('dialog', { name: 'Upgrade to Pro' });
    await upgrade.getByRole('heading', { name: 'Changes now' }).waitFor();
    for (const line of [
      'Plan: Starter → Pro',
      'Price: $10.00/month → $50.00/month',
      'You get Single sign-on',
      'API calls: 100 → 1,000',
      'Seats: 3 → 10',
    ]) {
      await upgrade.getByText(line, { exact: true }).waitFor();
    }
    expect(await upgrade.getByRole('radio', { name: 'Now' }).isChecked()).toBe(true);
    await upgrade.getByText('Your subscription renews on Pro at $50.00/month.').waitFor();
    await expectAccessible(page);
    await screenshot(page, 'portal-confirm');
    // Previewing changed nothing.
    expect((await subscriptionOf(acme)).plan).toBe('starter');
    await upgrade.getByRole('button', { name: 'Confirm' }).click();
    await upgrade.waitFor({ state: 'detached' });
    await page.getByRole('status').getByText('You are now on Pro.').waitFor();
    await card('pro').getByText('Current plan').waitFor();
    await section('Usage').getByText('7 / 1,000').waitFor();
    expect((await subscriptionOf(acme)).plan).toBe('pro');
    // The server tells the customer, and the portal shows it at its next refresh.
    await section('Notifications').getByText('Your plan changed to Pro').waitFor({ timeout: 15_000 });
    await section('Notifications').getByText('You are now on Pro (before: Starter).').waitFor();

    // A reload keeps the session (the cookie) and its CSRF token (the tab's storage): changes still work.
    await page.reload();
    await card('pro').getByText('Current plan').waitFor();
    // So does a tab that has only the cookie (opened on /portal by itself): it asks for the CSRF token.
    await page.evaluate(() => sessionStorage.clear());
    await page.reload();
    await card('pro').getByText('Current plan').waitFor();

    // A seat: "+" sets the add-on's quantity on the subscription.
    const seats = section('Add-ons').getByRole('status', { name: 'Extra seat quantity' });
    expect(await seats.textContent()).toBe('0');
    expect(await page.getByRole('button', { name: 'Remove one Extra seat' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Add one Extra seat' }).click();
    await untilPage(() => seats.textContent(), '1');
    expect((await subscriptionOf(acme)).add_ons).toEqual([
      expect.objectContaining({ plan: 'extra_seat', quantity: 1 }),
    ]);
    await section('Usage').getByText('0 / 11').waitFor();

    // Over the smaller plan's limit: the downgrade's preview says so, and it waits for the period's end.
    await callApi(acme, 150);
    await section('Usage').getByText('157 / 1,000').waitFor({ timeout: 15_000 });
    await card('starter').getByRole('button', { name: 'Downgrade to Starter' }).click();
    const downgrade = page.getByRole('dialog', { name: 'Downgrade to Starter' });
    await downgrade.getByText('Nothing changes now: you keep Pro until then.').waitFor();
    expect(await downgrade.getByRole('radio', { name: /^At the end of the period/ }).isChecked()).toBe(true);
    await downgrade.getByText('You lose Single sign-on', { exact: true }).waitFor();
    await downgrade.getByText('API calls: 157 used, Starter allows 100').waitFor();
    await downgrade.getByRole('button', { name: 'Confirm' }).click();
    await downgrade.waitFor({ state: 'detached' });
    const scheduled = (await subscriptionOf(acme)).scheduled_change;
    expect(scheduled?.plan).toBe('starter');
    await section('Subscription')
      .getByText(/^Changes to Starter on /)
      .waitFor();
    await card('pro').getByText('Current plan').waitFor();

    // Cancel (after a confirmation), then undo.
    await page.getByRole('button', { name: 'Cancel subscription' }).click();
    const cancel = page.getByRole('dialog', { name: 'Cancel your subscription?' });
    await cancel.getByRole('button', { name: 'Confirm cancellation' }).click();
    await cancel.waitFor({ state: 'detached' });
    await section('Subscription')
      .getByText(/^Canceled: your subscription ends on /)
      .waitFor();
    expect((await subscriptionOf(acme)).cancel_at).not.toBeNull();
    await page.getByRole('button', { name: 'Undo cancellation' }).click();
    await page.getByRole('button', { name: 'Cancel subscription' }).waitFor();
    expect((await subscriptionOf(acme)).cancel_at).toBeNull();
    expect(test.browser.errors).toEqual([]);
  }, 90_000);

  it('keeps the session to its own customer: no other customer, no admin route, no change without CSRF', async () => {
    const before = await subscriptionOf(globex);
    const answers = await page.evaluate(async (other) => {
      const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
        const response = await fetch(path, {
          method,
          headers: { 'content-type': 'application/json', ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return { status: response.status, body: await response.text() };
      };
      return {
        entitlements: await call('GET', `/v1/customers/${other}/entitlements`),
        customer: await call('GET', `/v1/customers/${other}`),
        customers: await call('GET', '/v1/customers'),
        portal: await call('GET', `/v1/portal?customer=${other}`),
        check: await call('POST', '/v1/check', { customer: other, feature: 'sso' }),
        change: await call('POST', '/v1/portal/change', { plan: 'starter', customer: other }),
        noCsrf: await call('POST', '/v1/portal/cancel', {}),
      };
    }, globex);
    for (const refused of [answers.entitlements, answers.customer, answers.customers, answers.check]) {
      expect([401, 403]).toContain(refused.status);
      expect(refused.body).not.toContain('Globex');
    }
    // The portal answers only its own customer, whatever the query names.
    if (answers.portal.status === 200) {
      expect((JSON.parse(answers.portal.body) as PortalView).customer.id).toBe(acme);
    } else {
      expect(answers.portal.status).toBe(400);
    }
    expect(answers.change.status).toBeGreaterThanOrEqual(400);
    expect(answers.noCsrf.status).toBe(403);
    const after = await subscriptionOf(globex);
    expect(after.plan).toBe('pro');
    expect(after.updated_at).toBe(before.updated_at);
    expect((await subscriptionOf(acme)).cancel_at).toBeNull();
  });

  it('hands changes to Stripe for a subscription Stripe bills, and offers none for a contract', async () => {
    const initech = await link('cus_initech');
    await page.goto(`${test.url}/portal#${initech.token}`);
    await page.getByText('Initech').first().waitFor();
    await card('starter').getByText('Current plan').waitFor();
    expect(
      await section('Plans')
        .getByRole('button', { name: /^(Upgrade|Downgrade) to / })
        .count(),
    ).toBe(0);
    expect(await page.getByRole('button', { name: 'Cancel subscription' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Add one Extra seat' }).isDisabled()).toBe(true);
    await section('Subscription').getByRole('button', { name: 'Manage billing in Stripe' }).waitFor();
    await section('Plans').getByRole('button', { name: 'Change plan in Stripe' }).click();
    // The browser goes to the billing-portal session Keymaster asked Stripe for.
    await page.waitForURL((url) => url.href.startsWith(stripe.base));
    expect(stripe.sessions.at(-1)).toMatchObject({ kind: 'billing_portal', url: page.url() });

    const umbrella = await link('cus_umbrella');
    await page.goto(`${test.url}/portal#${umbrella.token}`);
    await page.getByText('Umbrella Corp.').first().waitFor();
    await card('pro').getByText('Current plan').waitFor();
    await section('Plans')
      .getByText('Your plan is set by your contract: ask your account manager to change it.')
      .waitFor();
    expect(await section('Plans').getByRole('button').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Cancel subscription' }).count()).toBe(0);
    await expectAccessible(page);
  }, 60_000);

  it('shows the expired page for a garbled link, for no session, and once the link has expired', async () => {
    const expired = page.getByRole('heading', { name: 'This link has expired', level: 1 });
    await page.goto(`${test.url}/portal#${acmeLink.token}`);
    await page.getByText('Acme Inc.').waitFor();
    await page.goto(`${test.url}/portal#not-a-portal-token`);
    await expired.waitFor();
    expect(new URL(page.url()).hash).toBe('');
    // The tab remembers where the customer came from.
    expect(await page.getByRole('link', { name: 'Back to the app' }).getAttribute('href')).toBe(returnUrl);
    await expectAccessible(page);
    await screenshot(page, 'portal-expired');

    // No link and no cookie: the same page, nothing of any customer's.
    await page.context().clearCookies();
    await page.goto(`${test.url}/portal`);
    await expired.waitFor();

    // A good link, opened, then an hour passes: the open page says so at its next refresh.
    const fresh = await link(globex);
    await page.goto(`${test.url}/portal#${fresh.token}`);
    await page.getByText('Globex Corp.').waitFor();
    test.server.clock.advance(61 * 60_000);
    await expired.waitFor({ timeout: 15_000 });
    await page.goto(`${test.url}/portal#${fresh.token}`);
    await expired.waitFor();
  }, 60_000);
});
