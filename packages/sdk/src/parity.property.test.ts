import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { check, expectStatus, seedCustomer, uniqueKey } from '../../server/src/test-support/builders.js';
import { describeEachDialect } from '../../server/src/test-support/databases.js';
import { createKeymaster, type Keymaster } from './index.js';
import { startLiveServer, testAdminKey } from './test-support/live-server.js';

/**
 * Property: for any small catalog, subscription, grants and usage, the SDK's local decision equals
 * `POST /v1/check` on every field the SDK answers (all but `upgrade`, which needs the catalog).
 * fast-check prints the seed and the shrunk scenario of a failure; replay it with `{ seed, path }`.
 */

type Period = { reset: 'day' | 'week' | 'month' | 'year' | 'never' | 'billing_period' } | { window: string };

interface Term {
  /** Whether the plan has a term for the feature (else: no_entitlement, unless a grant gives it). */
  inPlan: boolean;
  /** Null: unlimited. */
  limit: number | null;
  overage: 'block' | 'allow';
  period: Period;
}

interface Scenario {
  boolean: Term;
  config: Term;
  gauge: Term;
  metered: Term[];
  pool: Term;
  drawing: { term: Term; perUnit: number }[];
  subscription: 'active' | 'none' | 'canceled';
  killed: number | null;
  grants: { target: number; mode: 'override' | 'add' | 'credit'; limit: number | null; enabled: boolean }[];
  usage: { target: number; quantity: number }[];
  /** Time that passes between the usage and the checks: windows slide, calendar periods reset. */
  elapsedMs: number;
  quantities: number[];
}

const period: fc.Arbitrary<Period> = fc.constantFrom<Period>(
  { reset: 'day' },
  { reset: 'week' },
  { reset: 'month' },
  { reset: 'year' },
  { reset: 'never' },
  { reset: 'billing_period' },
  { window: '1h' },
  { window: '7d' },
);

const term: fc.Arbitrary<Term> = fc.record({
  inPlan: fc.constantFrom(true, true, true, false),
  limit: fc.option(fc.integer({ min: 0, max: 20 }), { nil: null, freq: 5 }),
  overage: fc.constantFrom('block', 'block', 'allow'),
  period,
});

const scenario: fc.Arbitrary<Scenario> = fc.record({
  boolean: term,
  config: term,
  gauge: term,
  metered: fc.array(term, { minLength: 1, maxLength: 2 }),
  pool: term,
  drawing: fc.array(fc.record({ term, perUnit: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 2 }),
  subscription: fc.constantFrom('active', 'active', 'none', 'canceled'),
  killed: fc.option(fc.nat(), { nil: null, freq: 6 }),
  grants: fc.array(
    fc.record({
      target: fc.nat(),
      mode: fc.constantFrom('override', 'add', 'credit'),
      limit: fc.option(fc.integer({ min: 0, max: 15 }), { nil: null, freq: 4 }),
      enabled: fc.constantFrom(true, true, false),
    }),
    { maxLength: 3 },
  ),
  usage: fc.array(fc.record({ target: fc.nat(), quantity: fc.integer({ min: 0, max: 25 }) }), { maxLength: 4 }),
  elapsedMs: fc.constantFrom(0, 0, 0, 61_000, 3_600_000, 86_400_000),
  quantities: fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 3 }),
});

const unlimitedDaily: Term = { inPlan: true, limit: null, overage: 'block', period: { reset: 'day' } };

/** Found by this test: the SDK allowed a feature whose credit pool an override grant had switched off. */
const poolSwitchedOff: Scenario = {
  boolean: unlimitedDaily,
  config: unlimitedDaily,
  gauge: unlimitedDaily,
  metered: [unlimitedDaily],
  pool: unlimitedDaily,
  drawing: [{ term: unlimitedDaily, perUnit: 1 }],
  subscription: 'active',
  killed: null,
  // bool, cfg, gauge, m0, pool, d0: target 4 is the pool.
  grants: [{ target: 4, mode: 'override', limit: null, enabled: false }],
  usage: [],
  elapsedMs: 0,
  quantities: [0],
};

/** Every field `POST /v1/check` answers except `upgrade`, which a local check leaves null. */
const compared = [
  'customer',
  'feature',
  'allowed',
  'reason',
  'type',
  'limit',
  'usage',
  'balance',
  'unlimited',
  'overage',
  'value',
  'resets_at',
  'credit_cost',
] as const;
const pick = (d: object) => Object.fromEntries(compared.map((k) => [k, (d as Record<string, unknown>)[k]]));

describeEachDialect('local check parity with the server, for random catalogs', (dialect) => {
  let live: Awaited<ReturnType<typeof startLiveServer>>;
  let km: Keymaster;

  beforeAll(async () => {
    live = await startLiveServer({ dialect, seed: false });
    km = createKeymaster({ baseUrl: live.url, apiKey: testAdminKey, clock: live.server.clock, stream: false });
  });

  afterAll(async () => {
    await km?.close();
    await live?.close();
  });

  /** Creates the scenario on the server; returns the customer and the features to check. */
  async function build(s: Scenario): Promise<{ customer: string; features: string[] }> {
    const { server } = live;
    const send = async (method: 'POST' | 'PATCH', url: string, body: unknown) => {
      const response = await server.request({ method, url, body });
      // Some random grants or usage are refused (a credit grant on a gauge, say): fine, but never a 5xx.
      expect(response.statusCode, `${method} ${url} ${JSON.stringify(body)}: ${response.body}`).toBeLessThan(500);
      return response;
    };
    const p = uniqueKey('r').replace(/[^a-z0-9_]/gi, '_');
    const terms: Record<string, unknown>[] = [];
    const counted: string[] = [];
    const metered: string[] = [];
    const all: string[] = [];
    const feature = async (key: string, body: Record<string, unknown>, t: Term, termBody: Record<string, unknown>) => {
      expectStatus(
        await server.request({ method: 'POST', url: '/v1/features', body: { key, name: key, ...body } }),
        201,
      );
      if (t.inPlan) terms.push({ feature: key, ...termBody });
      all.push(key);
    };
    const meteredTerm = (t: Term) => ({ limit: t.limit, overage: t.overage, ...t.period });

    await feature(`${p}_bool`, { type: 'boolean' }, s.boolean, {});
    await feature(`${p}_cfg`, { type: 'config' }, s.config, { value: 'gold' });
    await feature(`${p}_gauge`, { type: 'gauge' }, s.gauge, { limit: s.gauge.limit, overage: s.gauge.overage });
    counted.push(`${p}_gauge`);
    for (const [i, t] of s.metered.entries()) {
      await feature(`${p}_m${i}`, { type: 'metered' }, t, meteredTerm(t));
      counted.push(`${p}_m${i}`);
      metered.push(`${p}_m${i}`);
    }
    await feature(`${p}_pool`, { type: 'metered' }, s.pool, meteredTerm(s.pool));
    counted.push(`${p}_pool`);
    metered.push(`${p}_pool`);
    for (const [i, { term: t, perUnit }] of s.drawing.entries()) {
      // What draws from a pool has no allowance of its own: the plan only switches it on.
      await feature(`${p}_d${i}`, { type: 'metered', credit_cost: { pool: `${p}_pool`, per_unit: perUnit } }, t, {
        limit: null,
      });
      counted.push(`${p}_d${i}`);
    }
    if (s.killed !== null) await send('PATCH', `/v1/features/${all[s.killed % all.length]}`, { status: 'disabled' });

    const plan = `${p}_plan`;
    expectStatus(
      await server.request({ method: 'POST', url: '/v1/plans', body: { key: plan, name: plan, entitlements: terms } }),
      201,
    );
    expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${plan}/publish` }), 200);
    const { id, subscription } = await seedCustomer(server, s.subscription === 'none' ? {} : { plan });
    if (s.subscription === 'canceled')
      await send('POST', `/v1/subscriptions/${subscription!.id}/cancel`, { when: 'now' });

    for (const g of s.grants) {
      const target = g.mode === 'credit' ? metered[g.target % metered.length]! : all[g.target % all.length]!;
      const body: Record<string, unknown> = { feature: target, mode: g.mode, reason: 'property test' };
      if (g.mode !== 'override') body.limit = g.limit ?? 5;
      else if (!g.enabled) body.enabled = false;
      else if (target.endsWith('_cfg')) body.value = 'platinum';
      else if (g.limit !== null && counted.includes(target)) body.limit = g.limit;
      else body.enabled = true;
      await send('POST', `/v1/customers/${id}/grants`, body);
    }
    for (const u of s.usage) {
      const target = counted[u.target % counted.length]!;
      if (target.endsWith('_gauge'))
        await send('POST', `/v1/customers/${id}/usage`, { feature: target, set: u.quantity });
      else await send('POST', '/v1/consume', { customer: id, feature: target, quantity: u.quantity });
    }
    return { customer: id, features: all };
  }

  it('gives the same decision as POST /v1/check', { timeout: 60_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const { customer, features } = await build(s);
        live.server.clock.advance(s.elapsedMs);
        await km.load(customer);
        for (const feature of features) {
          // The random quantities, and those either side of what is left (in the feature's units).
          const base = km.check(customer, feature, 0);
          const left = base.balance === null ? 0 : Math.floor(base.balance / (base.credit_cost?.per_unit ?? 1));
          const quantities = new Set([0, ...s.quantities, Math.max(0, left - 1), left, left + 1]);
          for (const quantity of quantities) {
            const local = km.check(customer, feature, quantity);
            expect(local.source).toBe('cache');
            const remote = await check(live.server, { customer, feature, quantity });
            expect(pick(local), `${feature} ×${quantity}`).toEqual(pick(remote));
          }
        }
      }),
      { numRuns: 50, examples: [[poolSwitchedOff]] },
    );
  });
});
