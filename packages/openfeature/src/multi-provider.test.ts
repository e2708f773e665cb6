import {
  ErrorCode,
  FirstMatchStrategy,
  InMemoryProvider,
  MultiProvider,
  OpenFeature,
  StandardResolutionReasons,
} from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLiveServer, testAdminKey } from '../../sdk/src/test-support/live-server.js';
import { seedCustomer } from '../../server/src/test-support/builders.js';
import { KeymasterProvider } from './index.js';

/**
 * Keymaster beside another provider in OpenFeature's MultiProvider (first match): Keymaster
 * answers its features, and its FLAG_NOT_FOUND for anything else hands the flag on — a provider
 * that answered unknown flags with a silent default would shadow every provider after it.
 */
describe('KeymasterProvider in MultiProvider [sqlite]', () => {
  let live: Awaited<ReturnType<typeof startLiveServer>>;
  const domain = 'keymaster-multi';
  const client = () => OpenFeature.getClient(domain);

  beforeAll(async () => {
    live = await startLiveServer({ dialect: 'sqlite' });
    const flags = new InMemoryProvider({
      'new-dashboard': { disabled: false, variants: { on: true, off: false }, defaultVariant: 'on' },
      // Also a Keymaster feature: Keymaster is first, so its answer wins.
      sso: { disabled: false, variants: { on: true, off: false }, defaultVariant: 'on' },
    });
    const multi = new MultiProvider(
      [
        { provider: new KeymasterProvider({ baseUrl: live.url, apiKey: testAdminKey, stream: false }) },
        { provider: flags },
      ],
      new FirstMatchStrategy(),
    );
    await OpenFeature.setProviderAndWait(domain, multi);
  });

  afterAll(async () => {
    await OpenFeature.clearProviders();
    await live?.close();
  });

  it('answers Keymaster features from Keymaster, even where the other provider has the flag', async () => {
    const free = await seedCustomer(live.server, { plan: 'free' });
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    expect(await client().getBooleanValue('sso', true, { targetingKey: free.id })).toBe(false);
    const details = await client().getBooleanDetails('sso', false, { targetingKey: pro.id });
    expect(details).toMatchObject({ value: true, reason: StandardResolutionReasons.TARGETING_MATCH });
    expect(details.flagMetadata).toMatchObject({ keymaster_reason: 'entitled' });
  });

  it('hands flags Keymaster does not know to the next provider', async () => {
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    const details = await client().getBooleanDetails('new-dashboard', false, { targetingKey: pro.id });
    expect(details).toMatchObject({ value: true, reason: StandardResolutionReasons.STATIC });
    expect(details.errorCode).toBeUndefined();
  });

  it('gives the default when no provider has the flag, naming what Keymaster said', async () => {
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    const details = await client().getBooleanDetails('nowhere', true, { targetingKey: pro.id });
    // MultiProvider reports the providers' errors together, as GENERAL.
    expect(details).toMatchObject({ value: true, reason: 'ERROR', errorCode: ErrorCode.GENERAL });
    expect(details.errorMessage).toContain('unknown feature: nowhere');
  });
});
