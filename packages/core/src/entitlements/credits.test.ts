import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../catalog/catalog.js';
import {
  buildEntitlement,
  buildFeature,
  buildGrant,
  buildPlan,
  buildPlanEntitlement,
  buildState,
  testNow,
  utc,
} from '../test-builders.js';
import {
  type CreditBalance,
  creditBalances,
  creditsLeft,
  overflowChange,
  planDraw,
  planRefund,
  poolCost,
  settleCredits,
} from './credits.js';
import { decide } from './decide.js';
import { resolve } from './resolve.js';

const now = testNow;
const july = utc('2026-07-01T00:00:00Z');
const august = utc('2026-08-01T00:00:00Z');

const balance = (grantId: string, remaining: number, expiresAt: number | null, amount = remaining): CreditBalance => ({
  grantId,
  remaining,
  amount,
  expiresAt,
  createdAt: utc('2026-06-01T00:00:00Z'),
});

describe('poolCost', () => {
  it.each([
    { quantity: 3, perUnit: 5, cost: 15 },
    { quantity: 0, perUnit: 5, cost: 0 },
    { quantity: 4, perUnit: 0.25, cost: 1 },
    { quantity: 1, perUnit: 1, cost: 1 },
  ])('$quantity × $perUnit = $cost', ({ quantity, perUnit, cost }) => {
    expect(poolCost({ quantity, perUnit })).toBe(cost);
  });
});

describe('creditBalances: the draw order', () => {
  it('lists active credit grants of the feature, soonest expiry first and never-expiring last', () => {
    const grants = [
      buildGrant({ id: 'g_never', feature: 'credits', mode: 'credit', limit: 100, remaining: 100 }),
      buildGrant({ id: 'g_aug', feature: 'credits', mode: 'credit', limit: 50, remaining: 20, expiresAt: august }),
      buildGrant({ id: 'g_jul', feature: 'credits', mode: 'credit', limit: 10, remaining: 10, expiresAt: july }),
      buildGrant({ id: 'g_expired', feature: 'credits', mode: 'credit', limit: 10, remaining: 10, expiresAt: now }),
      buildGrant({ id: 'g_revoked', feature: 'credits', mode: 'credit', limit: 10, revokedAt: now - 1 }),
      buildGrant({ id: 'g_later', feature: 'credits', mode: 'credit', limit: 10, startsAt: now + 1 }),
      buildGrant({ id: 'g_other', feature: 'api_calls', mode: 'credit', limit: 10, remaining: 10 }),
      buildGrant({ id: 'g_add', feature: 'credits', mode: 'add', limit: 10 }),
    ];
    const balances = creditBalances({ grants, feature: 'credits', now });
    expect(balances.map((b) => b.grantId)).toEqual(['g_jul', 'g_aug', 'g_never']);
    expect(balances.map((b) => [b.remaining, b.amount])).toEqual([
      [10, 10],
      [20, 50],
      [100, 100],
    ]);
    expect(creditsLeft(balances)).toBe(130);
  });

  it('breaks equal expiries by age, then id', () => {
    const grants = [
      buildGrant({ id: 'g_b', feature: 'credits', mode: 'credit', limit: 1, remaining: 1, createdAt: 2 }),
      buildGrant({ id: 'g_c', feature: 'credits', mode: 'credit', limit: 1, remaining: 1, createdAt: 1 }),
      buildGrant({ id: 'g_a', feature: 'credits', mode: 'credit', limit: 1, remaining: 1, createdAt: 2 }),
    ];
    expect(creditBalances({ grants, feature: 'credits', now }).map((b) => b.grantId)).toEqual(['g_c', 'g_a', 'g_b']);
  });
});

describe('overflowChange: what falls beyond the allowance', () => {
  it.each([
    { name: 'within the allowance', allowance: 100, before: 10, after: 60, change: 0 },
    { name: 'crossing it', allowance: 100, before: 90, after: 130, change: 30 },
    { name: 'already past it', allowance: 100, before: 130, after: 150, change: 20 },
    { name: 'falling back below it', allowance: 100, before: 130, after: 80, change: -30 },
    { name: 'falling while still past it', allowance: 100, before: 150, after: 120, change: -30 },
    { name: 'unlimited', allowance: null, before: 0, after: 1e9, change: 0 },
    { name: 'an allowance of 0 (credits alone)', allowance: 0, before: 5, after: 12, change: 7 },
  ])('$name: $change', ({ allowance, before, after, change }) => {
    expect(overflowChange({ allowance, before, after })).toBe(change);
  });
});

describe('planDraw and planRefund', () => {
  const balances = [balance('jul', 10, july), balance('aug', 20, august, 50), balance('never', 100, null)];

  it.each([
    { units: 0, draws: [], uncovered: 0 },
    { units: 5, draws: [{ grantId: 'jul', units: 5 }], uncovered: 0 },
    {
      units: 25,
      draws: [
        { grantId: 'jul', units: 10 },
        { grantId: 'aug', units: 15 },
      ],
      uncovered: 0,
    },
    {
      units: 140,
      draws: [
        { grantId: 'jul', units: 10 },
        { grantId: 'aug', units: 20 },
        { grantId: 'never', units: 100 },
      ],
      uncovered: 10,
    },
  ])('draws $units in order, soonest expiry first', ({ units, draws, uncovered }) => {
    expect(planDraw({ balances, units })).toEqual({ draws, uncovered });
  });

  it('skips emptied balances', () => {
    expect(planDraw({ balances: [balance('a', 0, july, 10), balance('b', 5, null)], units: 3 })).toEqual({
      draws: [{ grantId: 'b', units: 3 }],
      uncovered: 0,
    });
  });

  it.each([
    { units: 10, refunds: [{ grantId: 'aug', units: -10 }] },
    {
      units: 40,
      refunds: [
        { grantId: 'aug', units: -30 },
        { grantId: 'jul', units: -5 },
      ],
    },
  ])('refunds $units in reverse order, none above its grant', ({ units, refunds }) => {
    const partlyUsed = [balance('jul', 5, july, 10), balance('aug', 20, august, 50), balance('never', 100, null)];
    expect(planRefund({ balances: partlyUsed, units })).toEqual(refunds);
  });
});

describe('settleCredits', () => {
  const balances = [balance('jul', 10, july), balance('never', 100, null)];
  it.each([
    { name: 'inside the allowance: nothing', allowance: 1000, before: 0, after: 900, draws: [], uncovered: 0 },
    {
      name: 'crossing the allowance: the overflow is drawn',
      allowance: 1000,
      before: 990,
      after: 1015,
      draws: [
        { grantId: 'jul', units: 10 },
        { grantId: 'never', units: 5 },
      ],
      uncovered: 0,
    },
    {
      name: 'beyond every credit: the rest is uncovered',
      allowance: 1000,
      before: 1000,
      after: 1200,
      draws: [
        { grantId: 'jul', units: 10 },
        { grantId: 'never', units: 100 },
      ],
      uncovered: 90,
    },
    { name: 'unlimited: credits untouched', allowance: null, before: 0, after: 5000, draws: [], uncovered: 0 },
  ])('$name', ({ allowance, before, after, draws, uncovered }) => {
    expect(settleCredits({ allowance, before, after, balances })).toEqual({ draws, uncovered });
  });

  it('a fall below the allowance refills the credits', () => {
    const used = [balance('jul', 0, july, 10), balance('never', 95, null, 100)];
    expect(settleCredits({ allowance: 1000, before: 1015, after: 900, balances: used })).toEqual({
      draws: [
        { grantId: 'never', units: -5 },
        { grantId: 'jul', units: -10 },
      ],
      uncovered: 0,
    });
  });
});

describe('resolve and decide with one-off credits', () => {
  const catalog = buildCatalog({
    features: [buildFeature({ type: 'metered', key: 'credits' }), buildFeature({ type: 'metered', key: 'exports' })],
    planVersions: [
      buildPlan({ entitlements: [buildPlanEntitlement({ feature: 'credits', limit: 1000, reset: 'month' })] }),
    ],
  });
  const credit = (id: string, remaining: number, feature = 'credits') =>
    buildGrant({ id, feature, mode: 'credit', limit: 500, remaining, expiresAt: august });
  const entitlementOf = (feature: string, grants = [credit('g1', 300), credit('g2', 200)]) =>
    resolve({ catalog, state: buildState({ grants }), now }).entitlements.get(feature)!;

  it('keeps the plan limit and reports the credits left beside it', () => {
    const e = entitlementOf('credits');
    expect([e.limit, e.credits, e.source, e.reset]).toEqual([1000, 500, 'plan', 'month']);
  });

  it('makes credits with nothing below them an allowance of their own, never reset', () => {
    const e = entitlementOf('exports', [credit('g1', 40, 'exports')]);
    expect([e.enabled, e.limit, e.credits, e.source, e.reset]).toEqual([true, 0, 40, 'grant', 'never']);
    const used = entitlementOf('exports', [credit('g1', 0, 'exports')]);
    expect(decide({ customer: 'c', entitlement: used, usage: 500, quantity: 1, now })).toMatchObject({
      allowed: false,
      reason: 'limit_reached',
      balance: 0,
    });
  });

  it.each([
    { name: 'inside the allowance', usage: 100, quantity: 50, allowed: true, balance: 1400 },
    { name: 'the allowance then credits', usage: 900, quantity: 300, allowed: true, balance: 600 },
    { name: 'exactly everything', usage: 900, quantity: 600, allowed: true, balance: 600 },
    { name: 'one unit more than everything', usage: 900, quantity: 601, allowed: false, balance: 600 },
    { name: 'past the allowance, paid by credits', usage: 1200, quantity: 500, allowed: true, balance: 500 },
    { name: 'past the allowance, too much', usage: 1200, quantity: 501, allowed: false, balance: 500 },
    { name: 'past the allowance, may I at all', usage: 1200, quantity: 0, allowed: true, balance: 500 },
  ])('$name: allowed $allowed, balance $balance', ({ usage, quantity, allowed, balance }) => {
    const entitlement = buildEntitlement({ feature: 'credits', limit: 1000, credits: 500 });
    expect(decide({ customer: 'c', entitlement, usage, quantity, now })).toMatchObject({
      allowed,
      reason: allowed ? 'entitled' : 'limit_reached',
      limit: 1000,
      usage,
      balance,
    });
  });

  it('without credits a period past its limit still refuses everything', () => {
    const entitlement = buildEntitlement({ limit: 1000, credits: 0 });
    expect(decide({ customer: 'c', entitlement, usage: 1001, quantity: 0, now }).allowed).toBe(false);
  });
});
