import { fileURLToPath } from 'node:url';
import type { CustomerToken } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type BrowserTest,
  describeInChromium,
  startBrowserTest,
  untilPage,
} from '../../sdk/src/test-support/chromium.js';
import { grantBody, seedCustomer } from '../../server/src/test-support/builders.js';

const pageEntry = fileURLToPath(new URL('./test-support/ofrep-web-page.ts', import.meta.url));

/**
 * OFREP from a browser: @openfeature/web-sdk with the official @openfeature/ofrep-web-provider,
 * in headless Chromium on another origin than the server, authenticated with a customer token.
 * The provider evaluates every flag at once (the bulk route) and polls it with If-None-Match.
 */
describeInChromium('OFREP with @openfeature/ofrep-web-provider in Chromium [sqlite]', () => {
  let test: BrowserTest;
  let live: BrowserTest['live'];
  let browser: BrowserTest['browser'];
  let page: BrowserTest['page'];
  let post: BrowserTest['post'];
  /** Every answer of the bulk route the page got: status and the request's credential. */
  const bulk: { status: number; authorization: string; ifNoneMatch: string | undefined }[] = [];

  beforeAll(async () => {
    test = await startBrowserTest({ pageEntry });
    ({ live, browser, page, post } = test);
    page.on('response', async (response) => {
      const request = response.request();
      if (request.url() !== `${live.url}/ofrep/v1/evaluate/flags` || request.method() !== 'POST') return;
      // The page polls until the browser closes: an answer that lands as it closes has no headers to read.
      const headers = await request.allHeaders().catch(() => undefined);
      if (headers === undefined) return;
      bulk.push({
        status: response.status(),
        authorization: headers.authorization ?? '',
        ifNoneMatch: headers['if-none-match'],
      });
    });
    await test.open();
  }, 60_000);

  afterAll(() => test?.close());

  const evaluate = () => page.evaluate(() => window.ofrepPage.evaluate());

  it("evaluates a customer's features with their token, then picks up a grant and used-up usage by polling", async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    const { token } = await post<CustomerToken>('/v1/customer-tokens', { customer: id }, 201);
    await page.evaluate((input) => window.ofrepPage.start(input), {
      baseUrl: live.url,
      token,
      customer: id,
      pollInterval: 100,
    });

    const first = await evaluate();
    expect(first.sso).toMatchObject({
      value: false,
      reason: 'DEFAULT',
      variant: 'off',
      flagMetadata: { reason: 'no_entitlement', type: 'boolean' },
    });
    expect(first.api_calls).toMatchObject({
      value: true,
      reason: 'STATIC',
      variant: 'on',
      flagMetadata: { reason: 'entitled', source: 'plan', type: 'metered', limit: 1000, usage: 0, balance: 1000 },
    });
    expect(first.support_tier).toMatchObject({ value: 'email', reason: 'STATIC', variant: 'email' });
    expect(first.unknown).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });

    // While nothing changes, polls revalidate with the ETag and get 304s, through CORS.
    await untilPage(() => bulk.some((answer) => answer.status === 304), true);
    expect(bulk[0]).toMatchObject({ status: 200, ifNoneMatch: undefined });
    const etag = bulk.find((answer) => answer.status === 304)?.ifNoneMatch;
    expect(etag).toMatch(/^"[\w-]+"$/);

    await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'sso' }), 201);
    await untilPage(async () => (await evaluate()).sso?.value, true);
    expect((await evaluate()).sso).toMatchObject({ reason: 'TARGETING_MATCH', flagMetadata: { source: 'grant' } });

    await post('/v1/consume', { customer: id, feature: 'api_calls', quantity: 1000 });
    await untilPage(async () => (await evaluate()).api_calls?.value, false);
    expect((await evaluate()).api_calls?.flagMetadata).toMatchObject({
      reason: 'limit_reached',
      usage: 1000,
      balance: 0,
    });
    expect(await page.evaluate(() => window.ofrepPage.changes())).toBeGreaterThanOrEqual(2);

    expect(bulk.every((answer) => answer.authorization === `Bearer ${token}`)).toBe(true);
    expect(browser.errors).toEqual([]);
  });

  it("refuses the token another customer's evaluations, readably across origins", async () => {
    const { id } = await seedCustomer(live.server, { plan: 'pro' });
    const other = await seedCustomer(live.server, { plan: 'pro' });
    const { token } = await post<CustomerToken>('/v1/customer-tokens', { customer: id }, 201);
    const answer = await page.evaluate(
      async ({ url, token, targetingKey }) => {
        const response = await fetch(`${url}/ofrep/v1/evaluate/flags`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ context: { targetingKey } }),
        });
        return { status: response.status, body: await response.json() };
      },
      { url: live.url, token, targetingKey: other.id },
    );
    expect(answer).toMatchObject({ status: 403, body: { code: 'customer_mismatch' } });
  });
});
