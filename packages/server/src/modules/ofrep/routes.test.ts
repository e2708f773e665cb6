import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, featureBody, seedCatalog, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer, testAdminKey } from '../../test-support/server.js';

describeEachDialect('OFREP', (dialect) => {
  let server: TestServer;
  let pro: string;
  let free: string;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
    pro = (await seedCustomer(server, { plan: 'pro', traits: { country: 'DE' } })).id;
    free = (await seedCustomer(server, { plan: 'free' })).id;
  });
  afterAll(() => server.close());

  const evaluate = (key: string, body: unknown, headers?: Record<string, string>) =>
    server.request({ method: 'POST', url: `/ofrep/v1/evaluate/flags/${key}`, body: body as object, headers });

  describe('POST /ofrep/v1/evaluate/flags/{key}', () => {
    it('a boolean feature from the plan: allowed, STATIC', async () => {
      const response = await evaluate('sso', { context: { targetingKey: pro } });
      expect(expectStatus(response, 200)).toEqual({
        key: 'sso',
        value: true,
        reason: 'STATIC',
        variant: 'on',
        metadata: { reason: 'entitled', source: 'plan', type: 'boolean' },
      });
      expect(expectStatus(await evaluate('sso', { context: { targetingKey: free } }), 200)).toEqual({
        key: 'sso',
        value: false,
        reason: 'DEFAULT',
        variant: 'off',
        metadata: { reason: 'no_entitlement', type: 'boolean' },
      });
    });

    it('metered and gauge features answer allowed, with limit, usage and balance in metadata', async () => {
      expect(expectStatus(await evaluate('api_calls', { context: { targetingKey: pro } }), 200)).toEqual({
        key: 'api_calls',
        value: true,
        reason: 'STATIC',
        variant: 'on',
        metadata: {
          reason: 'entitled',
          source: 'plan',
          type: 'metered',
          limit: 100_000,
          usage: 0,
          balance: 100_000,
          unlimited: false,
        },
      });
      expect(expectStatus(await evaluate('seats', { context: { targetingKey: free } }), 200)).toMatchObject({
        value: true,
        metadata: { type: 'gauge', limit: 3 },
      });
    });

    it('a config feature answers its value', async () => {
      expect(expectStatus(await evaluate('support_tier', { context: { targetingKey: pro } }), 200)).toMatchObject({
        value: 'priority',
        variant: 'priority',
        reason: 'STATIC',
      });
    });

    it('targeting with caller context: TARGETING_MATCH; the kill switch: DISABLED', async () => {
      const key = uniqueKey('beta');
      const rule = { if: [{ '==': [{ var: 'app' }, 'mobile'] }, 'on', null] };
      expectStatus(
        await server.request({
          method: 'POST',
          url: '/v1/features',
          body: featureBody({ key, type: 'boolean', targeting: rule }),
        }),
        201,
      );
      expect(expectStatus(await evaluate(key, { context: { targetingKey: free, app: 'mobile' } }), 200)).toMatchObject({
        value: true,
        reason: 'TARGETING_MATCH',
        metadata: { source: 'targeting' },
      });
      expect(expectStatus(await evaluate(key, { context: { targetingKey: free, app: 'web' } }), 200)).toMatchObject({
        value: false,
        reason: 'DEFAULT',
      });
      expectStatus(
        await server.request({ method: 'PATCH', url: `/v1/features/${key}`, body: { status: 'disabled' } }),
        200,
      );
      expect(expectStatus(await evaluate(key, { context: { targetingKey: free, app: 'mobile' } }), 200)).toMatchObject({
        value: false,
        reason: 'DISABLED',
        metadata: { reason: 'feature_disabled' },
      });
    });

    it('without a targeting key: the definition answers as flagd would, with variant and flag metadata', async () => {
      const key = uniqueKey('banner');
      expectStatus(
        await server.request({
          method: 'POST',
          url: '/v1/features',
          body: featureBody({
            key,
            type: 'config',
            variants: { short: 'Hi', long: 'Welcome back!' },
            default_variant: 'short',
            targeting: { if: [{ '==': [{ var: 'returning' }, true] }, 'long', null] },
            metadata: { team: 'growth', version: 2 },
          }),
        }),
        201,
      );
      expect(expectStatus(await evaluate(key, { context: { returning: true } }), 200)).toEqual({
        key,
        value: 'Welcome back!',
        variant: 'long',
        reason: 'TARGETING_MATCH',
        metadata: { team: 'growth', version: 2 },
      });
      expect(expectStatus(await evaluate(key, {}), 200)).toEqual({
        key,
        value: 'Hi',
        variant: 'short',
        reason: 'DEFAULT',
        metadata: { team: 'growth', version: 2 },
      });
      // A feature without a default variant or rule leaves the value to the caller's default.
      expect(expectStatus(await evaluate('sso', { context: {} }), 200)).toEqual({ key: 'sso', reason: 'DEFAULT' });
      // With a customer, the flag's metadata comes along with Keymaster's own.
      // The default variant answers for a customer whose plan lacks the feature.
      expect(expectStatus(await evaluate(key, { context: { targetingKey: pro } }), 200)).toMatchObject({
        value: 'Hi',
        reason: 'DEFAULT',
        metadata: { team: 'growth', version: 2, reason: 'entitled', source: 'default' },
      });
      const bulk = expectStatus<{ flags: { key: string; errorCode?: string; value?: unknown }[] }>(
        await server.request({ method: 'POST', url: '/ofrep/v1/evaluate/flags', body: { context: {} } }),
        200,
      );
      expect(bulk.flags.find((f) => f.key === key)).toMatchObject({ value: 'Hi', variant: 'short' });
      expect(bulk.flags.find((f) => f.key === 'api_calls')).toMatchObject({ errorCode: 'TARGETING_KEY_MISSING' });
    });

    it('errors: FLAG_NOT_FOUND 404, TARGETING_KEY_MISSING and INVALID_CONTEXT 400, 401 without a key', async () => {
      expect(expectStatus(await evaluate('nope', { context: { targetingKey: pro } }), 404)).toEqual({
        key: 'nope',
        errorCode: 'FLAG_NOT_FOUND',
        errorDetails: 'Feature "nope" does not exist.',
      });
      // Without a customer only counted features are refused: they have nothing to count against.
      expect(expectStatus(await evaluate('api_calls', { context: {} }), 400)).toMatchObject({
        key: 'api_calls',
        errorCode: 'TARGETING_KEY_MISSING',
      });
      expect(expectStatus(await evaluate('seats', {}), 400)).toMatchObject({ errorCode: 'TARGETING_KEY_MISSING' });
      expect(expectStatus(await evaluate('sso', { context: { targetingKey: 5 } }), 400)).toMatchObject({
        errorCode: 'INVALID_CONTEXT',
      });
      expect(expectStatus(await evaluate('sso', { context: [1] }), 400)).toMatchObject({
        errorCode: 'INVALID_CONTEXT',
      });
      expect(
        (await evaluate('sso', { context: { targetingKey: pro } }, { authorization: 'Bearer nope' })).statusCode,
      ).toBe(401);
    });

    it('refuses malformed input in OFREP shape: PARSE_ERROR, INVALID_CONTEXT, never a 5xx', async () => {
      const raw = (url: string, body: string, headers: Record<string, string> = {}) =>
        server.request({ method: 'POST', url, body, headers: { 'content-type': 'application/json', ...headers } });
      const single = '/ofrep/v1/evaluate/flags/sso';
      const bulk = '/ofrep/v1/evaluate/flags';
      const refusals: [string, string, Record<string, string>?][] = [
        ['{"context": {"targetingKey": "ac', 'PARSE_ERROR'],
        ['{"__proto__": {"admin": true}}', 'PARSE_ERROR'],
        ['{"context": {"constructor": {"prototype": {"admin": true}}}}', 'PARSE_ERROR'],
        ['[[[[]]]]', 'INVALID_CONTEXT'],
        ['"hello"', 'INVALID_CONTEXT'],
        ['42', 'INVALID_CONTEXT'],
        ['{"context": [[[[]]]]}', 'INVALID_CONTEXT'],
        ['{"context": "hello"}', 'INVALID_CONTEXT'],
        ['{"context": {}}', 'GENERAL', { 'idempotency-key': '' }],
        ['{"context": {}}', 'GENERAL', { 'idempotency-key': 'k'.repeat(10_240) }],
      ];
      for (const [body, errorCode, headers] of refusals) {
        const one = await raw(single, body, headers);
        expect(one.headers['content-type']).toMatch(/^application\/json/);
        expect(expectStatus(one, 400), body).toEqual({ key: 'sso', errorCode, errorDetails: expect.any(String) });
        expect(expectStatus(await raw(bulk, body, headers), 400), body).toEqual({
          errorCode,
          errorDetails: expect.any(String),
        });
      }
      // Authentication failures stay problem documents, as documented.
      const anonymous = await raw(single, '{', { authorization: 'Bearer nope' });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.headers['content-type']).toMatch(/^application\/problem\+json/);
    });

    it('a customer token evaluates its own customer only (403 for another)', async () => {
      const { token } = expectStatus<{ token: string }>(
        await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer: pro } }),
        201,
      );
      const as = { authorization: `Bearer ${token}` };
      expect(expectStatus(await evaluate('sso', { context: { targetingKey: pro } }, as), 200)).toMatchObject({
        value: true,
      });
      expect((await evaluate('sso', { context: { targetingKey: free } }, as)).statusCode).toBe(403);
      const bulk = await server.request({
        method: 'POST',
        url: '/ofrep/v1/evaluate/flags',
        body: { context: { targetingKey: free } },
        headers: as,
      });
      expect(bulk.statusCode).toBe(403);
    });
  });

  describe('POST /ofrep/v1/evaluate/flags (bulk)', () => {
    it('every feature, with an ETag that answers 304 while nothing changed', async () => {
      const bulk = (headers?: Record<string, string>) =>
        server.request({
          method: 'POST',
          url: '/ofrep/v1/evaluate/flags',
          body: { context: { targetingKey: pro } },
          headers,
        });
      const first = await bulk();
      const { flags } = expectStatus<{ flags: { key: string; value?: unknown }[] }>(first, 200);
      expect(flags.find((f) => f.key === 'sso')).toMatchObject({ value: true, reason: 'STATIC' });
      expect(flags.find((f) => f.key === 'support_tier')).toMatchObject({ value: 'priority' });
      const etag = first.headers.etag as string;
      expect(etag).toMatch(/^".+"$/);
      expect((await bulk({ 'if-none-match': etag })).statusCode).toBe(304);
      expect((await bulk({ 'if-none-match': '"other"' })).statusCode).toBe(200);
      expectStatus(
        await server.request({
          method: 'POST',
          url: '/v1/features',
          body: featureBody({ key: uniqueKey('new'), type: 'boolean' }),
        }),
        201,
      );
      const changed = await bulk({ 'if-none-match': etag });
      expect(changed.statusCode).toBe(200);
      expect(changed.headers.etag).not.toBe(etag);
    });

    it('400 INVALID_CONTEXT for a targeting key that is not a string', async () => {
      const response = await server.request({
        method: 'POST',
        url: '/ofrep/v1/evaluate/flags',
        body: { context: { targetingKey: 7 } },
      });
      expect(expectStatus(response, 400)).toMatchObject({ errorCode: 'INVALID_CONTEXT' });
    });
  });

  describe('the official @openfeature/ofrep-provider against a listening server', () => {
    let baseUrl: string;
    beforeAll(async () => {
      baseUrl = await server.listen();
      await OpenFeature.setProviderAndWait(
        'keymaster-ofrep',
        new OFREPProvider({ baseUrl, headers: [['Authorization', `Bearer ${testAdminKey}`]] }),
      );
    });
    afterAll(() => OpenFeature.clearProviders());

    it('evaluates boolean, string and unknown flags with Keymaster reasons and metadata', async () => {
      const client = OpenFeature.getClient('keymaster-ofrep');
      const sso = await client.getBooleanDetails('sso', false, { targetingKey: pro });
      expect(sso).toMatchObject({ value: true, reason: 'STATIC', variant: 'on' });
      expect(sso.flagMetadata).toMatchObject({ reason: 'entitled', source: 'plan' });
      expect(await client.getBooleanValue('sso', true, { targetingKey: free })).toBe(false);
      expect(await client.getBooleanValue('api_calls', false, { targetingKey: pro })).toBe(true);
      expect(await client.getStringValue('support_tier', 'none', { targetingKey: free })).toBe('email');
      const missing = await client.getBooleanDetails('no_such_feature', true, { targetingKey: pro });
      expect(missing).toMatchObject({ value: true, errorCode: 'FLAG_NOT_FOUND', reason: 'ERROR' });
      // Without a targeting key a counted feature is refused; the others answer from their definition
      // (sso has no default variant: the server leaves `value` out and the caller's default stands).
      const noKey = await client.getBooleanDetails('api_calls', false, {});
      expect(noKey).toMatchObject({ value: false, errorCode: 'TARGETING_KEY_MISSING' });
      expect(await client.getBooleanValue('sso', false, {})).toBe(false);
      const mismatch = await client.getNumberDetails('sso', 7, { targetingKey: pro });
      expect(mismatch).toMatchObject({ value: 7, errorCode: 'TYPE_MISMATCH' });
    });
  });
});
