import type { Feature } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, featureBody, nowIso, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { storedState } from '../../test-support/stored-state.js';

describeEachDialect('features routes', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
  });
  afterAll(() => server.close());

  const create = async (body: unknown) => server.request({ method: 'POST', url: '/v1/features', body });

  describe('POST /v1/features', () => {
    it('creates a boolean feature and answers exactly the documented fields', async () => {
      const key = uniqueKey('sso');
      const feature = expectStatus<Feature>(await create(featureBody({ key, name: 'Single sign-on' })), 201);
      expect(feature).toEqual({
        id: expect.stringMatching(/^feat_[0-9a-z]{26}$/),
        key,
        name: 'Single sign-on',
        description: null,
        type: 'boolean',
        unit: null,
        status: 'active',
        options: null,
        meter: null,
        credit_cost: null,
        targeting: null,
        variants: null,
        default_variant: null,
        decision_log: 'denied',
        metadata: null,
        created_at: nowIso(server),
        updated_at: nowIso(server),
      });
    });

    it('creates metered, gauge and config features with their own fields', async () => {
      const calls = expectStatus<Feature>(
        await create(
          featureBody({
            type: 'metered',
            unit: 'calls',
            description: 'Requests to the public API',
            meter: { event_type: 'api.request', aggregation: 'count', filter: { method: 'POST' } },
          }),
        ),
        201,
      );
      expect(calls).toMatchObject({
        type: 'metered',
        unit: 'calls',
        description: 'Requests to the public API',
        meter: { event_type: 'api.request', aggregation: 'count', filter: { method: 'POST' } },
      });
      const pool = expectStatus<Feature>(await create(featureBody({ type: 'metered', unit: 'credits' })), 201);
      const drawing = expectStatus<Feature>(
        await create(featureBody({ type: 'metered', credit_cost: { pool: pool.key, per_unit: 0.5 } })),
        201,
      );
      expect(drawing.credit_cost).toEqual({ pool: pool.key, per_unit: 0.5 });
      const seats = expectStatus<Feature>(await create(featureBody({ type: 'gauge', unit: 'seats' })), 201);
      expect(seats).toMatchObject({ type: 'gauge', unit: 'seats', meter: null, options: null });
      const tier = expectStatus<Feature>(
        await create(featureBody({ type: 'config', options: ['email', 'priority'], status: 'disabled' })),
        201,
      );
      expect(tier).toMatchObject({ type: 'config', options: ['email', 'priority'], status: 'disabled' });
    });

    it('stores a targeting rule and its variants as given', async () => {
      const targeting = { if: [{ in: [{ var: 'country' }, ['DE', 'FR']] }, 'on', 'off'] };
      const feature = expectStatus<Feature>(await create(featureBody({ targeting, variants: { on: true } })), 201);
      expect(feature.targeting).toEqual(targeting);
      expect(feature.variants).toEqual({ on: true });
      const again = expectStatus<Feature>(
        await server.request({ method: 'GET', url: `/v1/features/${feature.key}` }),
        200,
      );
      expect(again).toEqual(feature);
    });

    it('stores a default variant and flag metadata; a patch changes or clears them', async () => {
      const metadata = { owner: 'growth', version: 2, beta: true };
      const feature = expectStatus<Feature>(
        await create(featureBody({ variants: { on: true, off: false }, default_variant: 'off', metadata })),
        201,
      );
      expect(feature).toMatchObject({ default_variant: 'off', metadata });
      const url = `/v1/features/${feature.key}`;
      expect(expectStatus<Feature>(await server.request({ method: 'GET', url }), 200)).toEqual(feature);
      const patched = expectStatus<Feature>(
        await server.request({ method: 'PATCH', url, body: { default_variant: 'on', metadata: null } }),
        200,
      );
      expect(patched).toMatchObject({ default_variant: 'on', metadata: null });
      // A predeclared variant (on/off, a config option) may be the default without `variants`.
      const tier = expectStatus<Feature>(
        await create(featureBody({ type: 'config', options: ['email', 'phone'], default_variant: 'phone' })),
        201,
      );
      expect(tier.default_variant).toBe('phone');
    });

    it('takes feature keys with upper-case letters, as flag keys are', async () => {
      const key = uniqueKey('newBanner');
      expect(expectStatus<Feature>(await create(featureBody({ key })), 201).key).toBe(key);
    });

    it('refuses a key that is taken with 409 feature_exists and keeps the first', async () => {
      const body = featureBody({ name: 'First' });
      expectStatus(await create(body), 201);
      const before = await storedState(server);
      expectProblem(await create({ ...body, name: 'Second' }), { status: 409, code: 'feature_exists' });
      expect(await storedState(server)).toEqual(before);
      const stored = expectStatus<Feature>(
        await server.request({ method: 'GET', url: `/v1/features/${body.key}` }),
        200,
      );
      expect(stored.name).toBe('First');
    });

    it.each([
      ['a key that is not a slug', { key: 'Not A Slug' }, '/key'],
      ['a key starting with "_"', { key: '_hidden' }, '/key'],
      ['an unknown type', { type: 'percentage' }, '/type'],
      ['an empty name', { name: '' }, '/name'],
      ['an unknown status', { status: 'paused' }, '/status'],
      ['a meter without event type', { type: 'metered', meter: { aggregation: 'count' } }, '/meter/event_type'],
      [
        'a sum meter without property',
        { type: 'metered', meter: { event_type: 'x', aggregation: 'sum' } },
        '/meter/property',
      ],
      [
        'an unknown aggregation',
        { type: 'metered', meter: { event_type: 'x', aggregation: 'avg' } },
        '/meter/aggregation',
      ],
      ['options on a boolean', { type: 'boolean', options: ['a'] }, '/options'],
      ['a meter on a gauge', { type: 'gauge', meter: { event_type: 'x', aggregation: 'count' } }, '/meter'],
      ['an empty options list', { type: 'config', options: [] }, '/options'],
      [
        'a credit pool that does not exist',
        { type: 'metered', credit_cost: { pool: 'nope', per_unit: 1 } },
        '/credit_cost/pool',
      ],
      ['a zero credit cost', { type: 'metered', credit_cost: { pool: 'nope', per_unit: 0 } }, '/credit_cost/per_unit'],
      ['a targeting rule flagd cannot parse', { targeting: { frobnicate: [1] } }, '/targeting'],
      ['a targeting rule that is a string', { targeting: 'x' }, '/targeting'],
      ['a targeting rule that is an array', { targeting: [{ var: 'x' }] }, '/targeting'],
      [
        'a targeting rule with an operator of the wrong arity',
        { targeting: { if: [{ '==': [{ var: 'tier' }] }, 'on', null] } },
        '/targeting/if/0/==',
      ],
      ['a targeting rule that always throws', { targeting: { if: [{ throw: 'x' }, 'on', null] } }, '/targeting/if/0'],
      ['a variant of the wrong type', { variants: { on: 'yes' } }, '/variants/on'],
      ['a default variant that names no variant', { default_variant: 'maybe' }, '/default_variant'],
      ['nested flag metadata', { metadata: { owner: { team: 'growth' } } }, '/metadata/owner'],
      ['an unknown field', { colour: 'red' }, '/colour'],
    ])('refuses %s with 400, storing nothing', async (_name, overrides, path) => {
      const before = await storedState(server);
      expectProblem(await create({ ...featureBody(), ...overrides }), { status: 400, code: 'validation_failed', path });
      expect(await storedState(server)).toEqual(before);
    });

    it('names every missing required field at once', async () => {
      const problem = expectProblem(await create({}), { status: 400, code: 'validation_failed' });
      expect(problem.errors?.map((e) => e.path).sort()).toEqual(['/key', '/name', '/type']);
    });
  });

  describe('GET /v1/features/{key}', () => {
    it('answers 404 feature_not_found for an unknown key', async () => {
      expectProblem(await server.request({ method: 'GET', url: '/v1/features/nope' }), {
        status: 404,
        code: 'feature_not_found',
      });
    });
  });

  describe('PATCH /v1/features/{key}', () => {
    it('changes the fields given, keeps the rest, clears with null and moves updated_at', async () => {
      const created = expectStatus<Feature>(
        await create(featureBody({ type: 'metered', unit: 'calls', description: 'Old' })),
        201,
      );
      server.clock.advance(60_000);
      const updatedAt = nowIso(server);
      const patched = expectStatus<Feature>(
        await server.request({
          method: 'PATCH',
          url: `/v1/features/${created.key}`,
          body: { name: 'Renamed', unit: null, type: 'metered' },
        }),
        200,
      );
      expect(patched).toEqual({
        ...created,
        name: 'Renamed',
        unit: null,
        updated_at: updatedAt,
      });
      const stored = await server.request({ method: 'GET', url: `/v1/features/${created.key}` });
      expect(stored.json()).toEqual(patched);
    });

    it('flips the kill switch both ways', async () => {
      const { key } = expectStatus<Feature>(await create(featureBody()), 201);
      const patch = (status: string) =>
        server.request({ method: 'PATCH', url: `/v1/features/${key}`, body: { status } });
      expect(expectStatus<Feature>(await patch('disabled'), 200).status).toBe('disabled');
      expect(expectStatus<Feature>(await patch('active'), 200).status).toBe('active');
    });

    it('never changes the type: 409 feature_type_immutable naming /type', async () => {
      const { key } = expectStatus<Feature>(await create(featureBody({ type: 'boolean' })), 201);
      const before = await storedState(server);
      expectProblem(await server.request({ method: 'PATCH', url: `/v1/features/${key}`, body: { type: 'gauge' } }), {
        status: 409,
        code: 'feature_type_immutable',
        path: '/type',
      });
      expect(await storedState(server)).toEqual(before);
    });

    it.each([
      ['an empty options list', { options: [] }, '/options'],
      ['a name of the wrong type', { name: 5 }, '/name'],
      ['a broken targeting rule', { targeting: { frobnicate: [] } }, '/targeting'],
      ['a targeting rule that is a string', { targeting: 'x' }, '/targeting'],
      ['a targeting rule that is a number', { targeting: 5 }, '/targeting'],
      [
        'a targeting rule with an unknown operator inside',
        { targeting: { and: [true, { nope: 1 }] } },
        '/targeting/and/1',
      ],
      ['a targeting rule with a wrong arity', { targeting: { substr: ['abc'] } }, '/targeting/substr'],
      ['an unknown field', { key: 'renamed' }, '/key'],
    ])('refuses a PATCH with %s, leaving the feature as it was', async (_name, patch, path) => {
      const { key } = expectStatus<Feature>(await create(featureBody({ type: 'config', options: ['a', 'b'] })), 201);
      const before = await storedState(server);
      expectProblem(await server.request({ method: 'PATCH', url: `/v1/features/${key}`, body: patch }), {
        status: 400,
        code: 'validation_failed',
        path,
      });
      expect(await storedState(server)).toEqual(before);
    });

    it('answers 404 for an unknown feature', async () => {
      expectProblem(await server.request({ method: 'PATCH', url: '/v1/features/nope', body: { name: 'X' } }), {
        status: 404,
        code: 'feature_not_found',
      });
    });
  });
});

describeEachDialect('features list', (dialect) => {
  let server: TestServer;
  const keys = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf'];
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    // Created out of order: the list is by key, not by creation.
    for (const key of [...keys].reverse()) {
      expectStatus(await server.request({ method: 'POST', url: '/v1/features', body: featureBody({ key }) }), 201);
    }
  });
  afterAll(() => server.close());

  type Page = { data: Feature[]; has_more: boolean; next_cursor: string | null };
  const list = (query: string) => server.request({ method: 'GET', url: `/v1/features${query}` });

  it('defaults to 20 a page: everything fits, no cursor', async () => {
    const page = expectStatus<Page>(await list(''), 200);
    expect(page.data.map((f) => f.key)).toEqual(keys);
    expect(page.has_more).toBe(false);
    expect(page.next_cursor).toBeNull();
  });

  it.each([1, 2, 3, 7, 100])('walks every feature exactly once, in key order, %i at a time', async (limit) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const page: Page = expectStatus<Page>(
        await list(`?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
        200,
      );
      expect(page.data.length).toBeLessThanOrEqual(limit);
      seen.push(...page.data.map((f) => f.key));
      expect(page.has_more).toBe(page.next_cursor !== null);
      if (!page.has_more) break;
      cursor = page.next_cursor;
    }
    expect(seen).toEqual(keys);
  });

  it.each(['0', '101', '-1', 'ten', '1.5'])('refuses limit=%s with 400 naming the limit', async (limit) => {
    expectProblem(await list(`?limit=${limit}`), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/limit',
    });
  });

  it.each(['not-a-cursor!', 'AAAA', '', 'YWxwaGE'.padEnd(9, '=')])(
    'refuses the forged cursor %j with 400 naming /cursor',
    async (cursor) => {
      expectProblem(await list(`?cursor=${cursor}`), {
        status: 400,
        code: 'validation_failed',
        path: '/querystring/cursor',
      });
    },
  );
});
