import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from '../../server/src/test-support/builders.js';
import { createKeymaster, type Keymaster, KeymasterError } from './index.js';
import { eventually, startLiveServer, testAdminKey } from './test-support/live-server.js';

type Live = Awaited<ReturnType<typeof startLiveServer>>;

describe('feature definitions and customer-less evaluate [sqlite]', () => {
  let live: Live;
  const clients: Keymaster[] = [];
  const client = (options: { stream?: boolean; pollIntervalMs?: number; apiKey?: string } = {}) => {
    const km = createKeymaster({ baseUrl: live.url, apiKey: testAdminKey, stream: false, ...options });
    clients.push(km);
    return km;
  };
  const feature = (body: Record<string, unknown>) =>
    live.server.request({ method: 'POST', url: '/v1/features', body: { name: 'A flag', ...body } });
  const patch = (key: string, body: Record<string, unknown>) =>
    live.server.request({ method: 'PATCH', url: `/v1/features/${key}`, body });

  beforeAll(async () => {
    live = await startLiveServer({ dialect: 'sqlite' });
    // More than one page of GET /v1/features (100 a page): every page must be read.
    for (let i = 0; i < 101; i++)
      expectStatus(await feature({ key: `flag_${String(i).padStart(3, '0')}`, type: 'boolean' }), 201);
    expectStatus(
      await feature({
        key: 'bannerColor',
        type: 'config',
        variants: { red: 'red', blue: 'blue' },
        default_variant: 'blue',
        targeting: { if: [{ '==': [{ var: 'country' }, 'DE'] }, 'red', null] },
        metadata: { owner: 'web' },
      }),
      201,
    );
  });

  afterAll(async () => {
    for (const km of clients) await km.close();
    await live?.close();
  });

  it('answers nothing before loadDefinitions, then evaluates every feature of every page locally', async () => {
    const km = client();
    expect(km.evaluate('bannerColor')).toBeUndefined();
    await km.loadDefinitions();
    expect(km.definitionsLoaded).toBe(true);
    expect(km.evaluate('bannerColor', {})).toEqual({
      feature: 'bannerColor',
      type: 'config',
      value: 'blue',
      variant: 'blue',
      reason: 'DEFAULT',
      metadata: { owner: 'web' },
    });
    expect(km.evaluate('bannerColor', { country: 'DE' })).toMatchObject({ value: 'red', reason: 'TARGETING_MATCH' });
    expect(km.evaluate('flag_100')).toMatchObject({ reason: 'DEFAULT', value: undefined, metadata: {} });
    expect(km.evaluate('no_such_flag')).toBeUndefined();
  });

  it('rejects with the 401 KeymasterError when the key is refused', async () => {
    const km = client({ apiKey: 'km_sk_wrong' });
    const error = await km.loadDefinitions().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeymasterError);
    expect((error as KeymasterError).status).toBe(401);
  });

  it('refetches the definitions when the stream reports a catalog change', async () => {
    const km = client({ stream: true, pollIntervalMs: 60_000 });
    await km.loadDefinitions();
    await eventually(() => km.status().mode === 'live');
    let changes = 0;
    km.onChange((customer) => {
      if (customer === null) changes++;
    });
    expectStatus(await patch('bannerColor', { default_variant: 'red' }), 200);
    await eventually(() => km.evaluate('bannerColor')?.value === 'red');
    expect(changes).toBeGreaterThan(0);
    expectStatus(await patch('bannerColor', { default_variant: 'blue' }), 200);
    await eventually(() => km.evaluate('bannerColor')?.value === 'blue');
  });

  it('polls the definitions while there is no stream', async () => {
    const km = client({ stream: false, pollIntervalMs: 50 });
    await km.loadDefinitions();
    expectStatus(await patch('flag_000', { default_variant: 'on' }), 200);
    await eventually(() => km.evaluate('flag_000')?.value === true);
  });
});
