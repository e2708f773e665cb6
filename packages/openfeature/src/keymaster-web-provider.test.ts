import { fileURLToPath } from 'node:url';
import type { CustomerToken } from '@keymaster/contract';
import { OpenFeature as ServerOpenFeature } from '@openfeature/server-sdk';
import type { EvaluationDetails, JsonValue } from '@openfeature/web-sdk';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import {
  type BrowserTest,
  describeInChromium,
  startBrowserTest,
  untilPage,
} from '../../sdk/src/test-support/chromium.js';
import { startFaultProxy, testAdminKey } from '../../sdk/src/test-support/live-server.js';
import { grantBody, seedCustomer } from '../../server/src/test-support/builders.js';
import { KeymasterProvider } from './index.js';

const pageEntry = fileURLToPath(new URL('./test-support/keymaster-web-page.ts', import.meta.url));

/** What both providers must agree on, for one flag. */
const answerOf = (details: EvaluationDetails<JsonValue>) => ({
  value: details.value,
  reason: details.reason,
  variant: details.variant,
  errorCode: details.errorCode,
  flagMetadata: details.flagMetadata,
});

/**
 * KeymasterWebProvider under @openfeature/web-sdk in headless Chromium, on another origin than a
 * real Keymaster server, with customer tokens minted as a backend would mint them.
 */
describeInChromium('KeymasterWebProvider with @openfeature/web-sdk in Chromium [sqlite]', () => {
  let test: BrowserTest;
  let live: BrowserTest['live'];
  let browser: BrowserTest['browser'];
  let page: BrowserTest['page'];
  let post: BrowserTest['post'];
  const warnings: string[] = [];

  beforeAll(async () => {
    test = await startBrowserTest({ pageEntry, realTime: true });
    ({ live, browser, page, post } = test);
    page.on('console', (message) => {
      if (message.type() === 'warning') warnings.push(message.text());
    });
    await test.open();
  }, 60_000);

  afterEach(async () => {
    await page.evaluate(() => window.webPage.stop());
  });

  afterAll(() => test?.close());
  const tokenFor = async (customer: string) =>
    (await post<CustomerToken>('/v1/customer-tokens', { customer }, 201)).token;
  const start = (input: {
    customer: string;
    tokens: Record<string, string>;
    fixedToken?: string;
    baseUrl?: string;
    staleAfterMs?: number;
    shareClient?: boolean;
  }) => page.evaluate((args) => window.webPage.start(args), { baseUrl: live.url, ...input });
  const evaluate = () => page.evaluate(() => window.webPage.evaluate());
  const status = () => page.evaluate(() => window.webPage.status());
  const events = () => page.evaluate(() => window.webPage.events());
  const count = async (type: string) => (await events()).filter((event) => event.type === type).length;

  it('answers boolean, number and string flags exactly as the server provider does', async () => {
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    const free = await seedCustomer(live.server, { plan: 'free' });
    await post('/v1/consume', { customer: pro.id, feature: 'api_calls', quantity: 3 });

    const server = new KeymasterProvider({ baseUrl: live.url, apiKey: testAdminKey, stream: false });
    await ServerOpenFeature.setProviderAndWait('web-parity', server);
    try {
      for (const { id } of [pro, free]) {
        await start({ customer: id, tokens: { [id]: await tokenFor(id) } });
        expect(await status()).toBe('READY');
        const browserAnswers = await evaluate();
        const flags = ServerOpenFeature.getClient('web-parity');
        const context = { targetingKey: id };
        const serverAnswers = {
          sso: await flags.getBooleanDetails('sso', false, context),
          api_calls: await flags.getNumberDetails('api_calls', -1, context),
          api_calls_allowed: await flags.getBooleanDetails('api_calls', false, context),
          support_tier: await flags.getStringDetails('support_tier', 'none', context),
          unknown: await flags.getBooleanDetails('no_such_feature', true, context),
          sso_as_string: await flags.getStringDetails('sso', 'nope', context),
          sso_as_number: await flags.getNumberDetails('sso', 7, context),
        };
        for (const [flag, details] of Object.entries(serverAnswers)) {
          expect({ flag, ...answerOf(browserAnswers[flag]!) }).toEqual({ flag, ...answerOf(details) });
        }
        if (id === pro.id) {
          expect(browserAnswers.sso).toMatchObject({
            value: true,
            reason: 'TARGETING_MATCH',
            flagMetadata: { keymaster_reason: 'entitled', type: 'boolean', source: 'cache', stale: false },
          });
          const calls = browserAnswers.api_calls!;
          expect(calls).toMatchObject({ reason: 'TARGETING_MATCH', flagMetadata: { type: 'metered', usage: 3 } });
          expect(calls.value).toBe(Number(calls.flagMetadata.limit) - 3);
          expect(calls.flagMetadata.balance).toBe(calls.value);
          expect(browserAnswers.support_tier).toMatchObject({ value: 'priority', reason: 'TARGETING_MATCH' });
          expect(browserAnswers.support_tier!.errorCode).toBeUndefined();
        } else {
          expect(browserAnswers.sso).toMatchObject({
            value: false,
            flagMetadata: { keymaster_reason: 'no_entitlement' },
          });
        }
        // The customer path has no variants, in either provider.
        expect(browserAnswers.sso!.variant).toBeUndefined();
        expect(browserAnswers.unknown).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
        expect(browserAnswers.sso_as_string).toMatchObject({ value: 'nope', errorCode: 'TYPE_MISMATCH' });
        expect(browserAnswers.sso_as_number).toMatchObject({ value: 7, errorCode: 'TYPE_MISMATCH' });
        await page.evaluate(() => window.webPage.stop());
      }
    } finally {
      await ServerOpenFeature.clearProviders();
    }
    expect(browser.errors).toEqual([]);
  });

  it('picks up a grant made through the API from the stream, with CONFIGURATION_CHANGED', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    await start({ customer: id, tokens: { [id]: await tokenFor(id) } });
    expect((await evaluate()).sso?.value).toBe(false);
    const before = await count('PROVIDER_CONFIGURATION_CHANGED');

    await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'sso' }), 201);
    // Polling would take 15 s: within the wait, only the stream can have brought it.
    await untilPage(async () => (await count('PROVIDER_CONFIGURATION_CHANGED')) > before, true);
    expect((await evaluate()).sso).toMatchObject({
      value: true,
      reason: 'TARGETING_MATCH',
      flagMetadata: { keymaster_reason: 'entitled', source: 'cache' },
    });
    expect(browser.errors).toEqual([]);
  });

  it('answers from an SDK client it is given, and leaves it open on close', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'free' });
    await start({ customer: id, tokens: { [id]: await tokenFor(id) }, shareClient: true });
    expect((await evaluate()).sso).toMatchObject({ value: false, reason: 'TARGETING_MATCH' });
    await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'sso' }), 201);
    await untilPage(async () => (await evaluate()).sso?.value, true);

    await page.evaluate(() => window.webPage.stop());
    expect(await page.evaluate((customer) => window.webPage.sharedCheck(customer, 'sso'), id)).toEqual({
      allowed: true,
      source: 'cache',
    });
    expect(browser.errors).toEqual([]);
  });

  it('follows OpenFeature.setContext to another customer, reconciling meanwhile', async () => {
    const free = await seedCustomer(live.server, { plan: 'free' });
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    await start({ customer: free.id, tokens: { [free.id]: await tokenFor(free.id) } });
    expect((await evaluate()).sso?.value).toBe(false);

    await page.evaluate(({ customer, tokens }) => window.webPage.setContext(customer, tokens), {
      customer: pro.id,
      tokens: { [pro.id]: await tokenFor(pro.id) },
    });
    expect(await status()).toBe('READY');
    expect((await evaluate()).sso).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
    const types = (await events()).map((event) => event.type);
    expect(types.lastIndexOf('PROVIDER_RECONCILING')).toBeGreaterThan(types.indexOf('PROVIDER_READY'));
    expect(types.lastIndexOf('PROVIDER_CONTEXT_CHANGED')).toBeGreaterThan(types.lastIndexOf('PROVIDER_RECONCILING'));

    // No customer: a customer token cannot evaluate definitions.
    await page.evaluate(() => window.webPage.setContext(undefined));
    expect((await evaluate()).sso).toMatchObject({ value: false, errorCode: 'TARGETING_KEY_MISSING' });
    expect(browser.errors).toEqual([]);
  });

  it("puts the provider in an error state, with a message that says why, for another customer's token", async () => {
    const owner = await seedCustomer(live.server, { plan: 'pro' });
    const other = await seedCustomer(live.server, { plan: 'pro' });
    const token = await tokenFor(owner.id);

    // At initialize: FATAL, the token will not become valid for that customer.
    await start({ customer: other.id, tokens: {}, fixedToken: token });
    expect(await status()).toBe('FATAL');
    const [error] = (await events()).filter((event) => event.type === 'PROVIDER_ERROR');
    expect(error?.message).toContain(`Keymaster refused the customer token for ${other.id}`);
    expect(error?.message).toContain(owner.id);
    expect((await evaluate()).sso).toMatchObject({ value: false, errorCode: 'PROVIDER_FATAL' });
    await page.evaluate(() => window.webPage.stop());

    // On a context change: ERROR, and every evaluation says why.
    await start({ customer: owner.id, tokens: {}, fixedToken: token });
    expect((await evaluate()).sso?.value).toBe(true);
    await page.evaluate((customer) => window.webPage.setContext(customer), other.id);
    expect(await status()).toBe('ERROR');
    const sso = (await evaluate()).sso!;
    expect(sso).toMatchObject({ value: false, reason: 'ERROR', errorCode: 'PROVIDER_FATAL' });
    expect(sso.errorMessage).toContain(`Keymaster refused the customer token for ${other.id}`);

    // The browser logged the refused requests and the SDK the failed context change: nothing else.
    const unexpected = browser.errors.filter((message) => !/status of 403|context change handler/.test(message));
    expect(unexpected).toEqual([]);
    browser.errors.length = 0;
  });

  it('raises STALE when the stream goes down, and READY when it is back', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'pro' });
    const proxy = await startFaultProxy(live.url);
    try {
      await start({ customer: id, tokens: { [id]: await tokenFor(id) }, baseUrl: proxy.url, staleAfterMs: 500 });
      await untilPage(async () => proxy.log.some((entry) => entry.path.startsWith('/v1/stream')), true);
      expect((await evaluate()).sso?.reason).toBe('TARGETING_MATCH');

      proxy.fallback = { kind: 'drop' };
      proxy.cut();
      await untilPage(() => status(), 'STALE');
      await untilPage(async () => (await evaluate()).sso?.reason, 'STALE');
      expect((await evaluate()).sso).toMatchObject({ value: true, flagMetadata: { stale: true } });

      proxy.fallback = { kind: 'pass' };
      await untilPage(() => status(), 'READY', 35_000);
      await untilPage(async () => (await evaluate()).sso?.reason, 'TARGETING_MATCH');
    } finally {
      await page.evaluate(() => window.webPage.stop());
      await proxy.close();
      browser.errors.length = 0;
    }
  }, 60_000);

  it('starts in ERROR when the server cannot be reached, answers by the failure policy, then recovers', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'pro' });
    const proxy = await startFaultProxy(live.url);
    try {
      proxy.fallback = { kind: 'status', status: 503 };
      await start({ customer: id, tokens: { [id]: await tokenFor(id) }, baseUrl: proxy.url });
      expect(await status()).toBe('ERROR');
      const [error] = (await events()).filter((event) => event.type === 'PROVIDER_ERROR');
      expect(error?.message).toContain(`Keymaster could not load customer ${id}`);
      // Nothing cached: the SDK's failure policy (closed by default), not an exception.
      expect((await evaluate()).sso).toMatchObject({ value: false, reason: 'DEFAULT' });

      proxy.fallback = { kind: 'pass' };
      // An evaluation asks for the customer again; once it loads, the provider is READY.
      await untilPage(async () => {
        await evaluate();
        return status();
      }, 'READY');
      expect((await evaluate()).sso).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
    } finally {
      await page.evaluate(() => window.webPage.stop());
      await proxy.close();
      browser.errors.length = 0;
    }
  }, 60_000);

  it('track does nothing in the browser, and says so once', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'pro' });
    await start({ customer: id, tokens: { [id]: await tokenFor(id) } });
    await page.evaluate(() => {
      window.webPage.track();
      window.webPage.track();
    });
    expect(warnings.filter((text) => text.includes('track() does nothing'))).toHaveLength(1);
  });
});
