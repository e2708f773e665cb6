import { createKeymaster } from '@keymaster/sdk';
import { ErrorCode, OpenFeature, ProviderEvents, StandardResolutionReasons } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLiveServer, testAdminKey } from '../../sdk/src/test-support/live-server.js';
import { expectStatus, planBody, seedCustomer } from '../../server/src/test-support/builders.js';
import { KeymasterProvider } from './index.js';

type Live = Awaited<ReturnType<typeof startLiveServer>>;

describe('KeymasterProvider through @openfeature/server-sdk [sqlite]', () => {
  let live: Live;
  let provider: KeymasterProvider;
  const client = () => OpenFeature.getClient('keymaster-test');

  beforeAll(async () => {
    live = await startLiveServer({ dialect: 'sqlite' });
    provider = new KeymasterProvider({ baseUrl: live.url, apiKey: testAdminKey, stream: false });
    await OpenFeature.setProviderAndWait('keymaster-test', provider);
    const post = async (url: string, body: unknown, status = 201) =>
      expectStatus(await live.server.request({ method: 'POST', url, body }), status);
    await post('/v1/features', {
      key: 'searches',
      name: 'Searches',
      type: 'metered',
      meter: { event_type: 'search', aggregation: 'count' },
    });
    await post('/v1/plans', planBody({ key: 'search_plan', entitlements: [{ feature: 'searches', limit: 100 }] }));
    await post('/v1/plans/search_plan/publish', undefined, 200);
  });

  afterAll(async () => {
    await OpenFeature.close();
    await live?.close();
  });

  it('answers a boolean feature with allowed, and Keymaster figures in flagMetadata', async () => {
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    const free = await seedCustomer(live.server, { plan: 'free' });
    const on = await client().getBooleanDetails('sso', false, { targetingKey: pro.id });
    expect(on).toMatchObject({ value: true, reason: StandardResolutionReasons.TARGETING_MATCH });
    expect(on.flagMetadata).toMatchObject({ keymaster_reason: 'entitled' });
    const off = await client().getBooleanDetails('sso', true, { targetingKey: free.id });
    expect(off).toMatchObject({ value: false, flagMetadata: { keymaster_reason: 'no_entitlement' } });
  });

  it('answers number flags with the remaining balance and string flags with the config value', async () => {
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    const calls = await client().getNumberDetails('api_calls', -1, { targetingKey: pro.id });
    expect(calls.value).toBe(calls.flagMetadata.limit);
    expect(calls.flagMetadata).toMatchObject({ usage: 0, type: 'metered' });
    const tier = await client().getStringDetails('support_tier', 'none', { targetingKey: pro.id });
    expect(tier.errorCode).toBeUndefined();
    expect(['email', 'priority', 'dedicated']).toContain(tier.value);
  });

  it('reports FLAG_NOT_FOUND, TARGETING_KEY_MISSING and TYPE_MISMATCH with the default value', async () => {
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    const unknown = await client().getBooleanDetails('no_such_feature', true, { targetingKey: pro.id });
    expect(unknown).toMatchObject({ value: true, reason: 'ERROR', errorCode: ErrorCode.FLAG_NOT_FOUND });
    // Without a customer, a metered feature has nothing to count against.
    const anonymous = await client().getNumberDetails('api_calls', 0, {});
    expect(anonymous).toMatchObject({ value: 0, errorCode: ErrorCode.TARGETING_KEY_MISSING });
    const mismatch = await client().getStringDetails('sso', 'x', { targetingKey: pro.id });
    expect(mismatch).toMatchObject({ value: 'x', errorCode: ErrorCode.TYPE_MISMATCH });
  });

  it('wraps an existing SDK client and raises ConfigurationChanged when it sees a change', async () => {
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    const km = createKeymaster({ baseUrl: live.url, apiKey: testAdminKey, stream: false });
    const wrapped = new KeymasterProvider({ client: km });
    await OpenFeature.setProviderAndWait('keymaster-wrapped', wrapped);
    const changed = new Promise<void>((resolve) => {
      wrapped.events.addHandler(ProviderEvents.ConfigurationChanged, () => resolve());
    });
    // The first fetch of a customer's snapshot is a change the SDK announces through onChange.
    const on = await OpenFeature.getClient('keymaster-wrapped').getBooleanValue('sso', false, { targetingKey: pro.id });
    expect(on).toBe(true);
    await changed;
    await km.close();
  });

  it('records track() as a Keymaster usage event for the targeting key', async () => {
    const { id } = await seedCustomer(live.server, { plan: 'search_plan' });
    // The server runs on a test clock: events must be stamped by it to fall in the usage period.
    const km = createKeymaster({ baseUrl: live.url, apiKey: testAdminKey, stream: false, clock: live.server.clock });
    await OpenFeature.setProviderAndWait('keymaster-tracking', new KeymasterProvider({ client: km }));
    const flags = OpenFeature.getClient('keymaster-tracking');
    flags.track('search', { targetingKey: id }, { value: 1 });
    flags.track('search', { targetingKey: id });
    await km.flush();
    const check = expectStatus<{ usage: number }>(
      await live.server.request({
        method: 'POST',
        url: '/v1/check',
        body: { customer: id, feature: 'searches', quantity: 0 },
      }),
      200,
    );
    expect(check.usage).toBe(2);
    await km.close();
  });

  it('answers from the definition without a targetingKey or for an unknown one; STATIC, then CACHED', async () => {
    const post = async (body: unknown) =>
      expectStatus(await live.server.request({ method: 'POST', url: '/v1/features', body }), 201);
    await post({
      key: 'welcomeBanner',
      name: 'Welcome banner',
      type: 'config',
      variants: { short: 'Hi', long: 'Welcome back!' },
      default_variant: 'short',
      metadata: { team: 'growth', version: 3 },
    });
    await post({
      key: 'eu_banner',
      name: 'EU banner',
      type: 'boolean',
      default_variant: 'off',
      targeting: { if: [{ in: [{ var: 'country' }, ['DE', 'FR']] }, 'on', null] },
    });
    const km = createKeymaster({ baseUrl: live.url, apiKey: testAdminKey, stream: false });
    await OpenFeature.setProviderAndWait('keymaster-definitions', new KeymasterProvider({ client: km }));
    const flags = OpenFeature.getClient('keymaster-definitions');
    const first = await flags.getStringDetails('welcomeBanner', 'x', {});
    expect(first).toMatchObject({ value: 'Hi', variant: 'short', reason: 'STATIC' });
    expect(first.flagMetadata).toEqual({ team: 'growth', version: 3 });
    expect(await flags.getStringDetails('welcomeBanner', 'x', { targetingKey: 'visitor_1' })).toMatchObject({
      value: 'Hi',
      reason: 'CACHED',
    });
    expect(
      await flags.getBooleanDetails('eu_banner', false, { targetingKey: 'visitor_2', country: 'FR' }),
    ).toMatchObject({ value: true, variant: 'on', reason: 'TARGETING_MATCH' });
    expect(await flags.getBooleanDetails('eu_banner', true, { country: 'US' })).toMatchObject({
      value: false,
      variant: 'off',
      reason: 'DEFAULT',
    });
    // A known customer takes the customer path; the caller's context reaches the rule through the server.
    const pro = await seedCustomer(live.server, { plan: 'pro' });
    const customer = await flags.getBooleanDetails('eu_banner', false, { targetingKey: pro.id, country: 'DE' });
    expect(customer).toMatchObject({
      value: true,
      flagMetadata: { keymaster_reason: 'entitled', source: 'server' },
    });
    await km.close();
  });

  it('goes FATAL for a rejected API key and ERROR for an unreachable server', async () => {
    const fatal = new KeymasterProvider({ baseUrl: live.url, apiKey: 'km_sk_not_a_key', stream: false });
    await expect(OpenFeature.setProviderAndWait('keymaster-fatal', fatal)).rejects.toThrow();
    expect(OpenFeature.getClient('keymaster-fatal').providerStatus).toBe('FATAL');
    const unreachable = new KeymasterProvider({ baseUrl: 'http://127.0.0.1:9', apiKey: testAdminKey, stream: false });
    await expect(OpenFeature.setProviderAndWait('keymaster-unreachable', unreachable)).rejects.toThrow();
    expect(OpenFeature.getClient('keymaster-unreachable').providerStatus).toBe('ERROR');
  });

  it('forgets CACHED answers when the stream reports a catalog change', async () => {
    expectStatus(
      await live.server.request({
        method: 'POST',
        url: '/v1/features',
        body: {
          key: 'themeColor',
          name: 'Theme',
          type: 'config',
          variants: { a: 'blue', b: 'green' },
          default_variant: 'a',
        },
      }),
      201,
    );
    const km = createKeymaster({ baseUrl: live.url, apiKey: testAdminKey });
    const provider = new KeymasterProvider({ client: km });
    await OpenFeature.setProviderAndWait('keymaster-cached', provider);
    const flags = OpenFeature.getClient('keymaster-cached');
    await expect.poll(() => km.status().mode).toBe('live');
    expect(await flags.getStringDetails('themeColor', 'x')).toMatchObject({ value: 'blue', reason: 'STATIC' });
    expect(await flags.getStringDetails('themeColor', 'x')).toMatchObject({ value: 'blue', reason: 'CACHED' });
    expectStatus(
      await live.server.request({ method: 'PATCH', url: '/v1/features/themeColor', body: { default_variant: 'b' } }),
      200,
    );
    await expect.poll(() => km.evaluate('themeColor')?.value).toBe('green');
    expect(await flags.getStringDetails('themeColor', 'x')).toMatchObject({ value: 'green', reason: 'STATIC' });
    await km.close();
  });
});
