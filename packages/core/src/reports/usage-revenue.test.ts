import { describe, expect, it } from 'vitest';
import { buildGrant, buildSubscription } from '../test-builders.js';
import {
  flagsOf,
  grantsBehind,
  revenueOver,
  type SubscriptionSpan,
  subscriptionSpans,
  unpaidAccessMs,
  utilization,
} from './usage-revenue.js';

const day = 86_400_000;
const jan1 = Date.UTC(2026, 0, 1);
const feb1 = Date.UTC(2026, 1, 1);
const mar1 = Date.UTC(2026, 2, 1);
const apr1 = Date.UTC(2026, 3, 1);

const usd = (amount: number) => ({ amount, currency: 'usd', interval: 'month' as const });

/** A span of subscription `sub_1` on `plan` at a monthly `amount`, in the given period. */
function span(input: Partial<SubscriptionSpan> & { from: number; to: number; period: { from: number; to: number } }) {
  return {
    subscriptionId: 'sub_1',
    status: 'active',
    plan: 'pro',
    items: [{ plan: 'pro', price: usd(3100), quantity: 1 }],
    ...input,
  } satisfies SubscriptionSpan;
}

describe('revenueOver', () => {
  it('earns whole periods inside the range at their price', () => {
    const spans = [
      span({ from: jan1, to: feb1, period: { from: jan1, to: feb1 } }),
      span({ from: feb1, to: mar1, period: { from: feb1, to: mar1 } }),
    ];
    const { total, lines } = revenueOver(spans, { from: jan1, to: mar1 });
    expect(total).toEqual({ usd: 6200 });
    expect(lines.map((l) => l.share)).toEqual([1, 1]);
  });

  it('prorates a period the range cuts by the share of the period inside it', () => {
    // January has 31 days: 10 of them inside the range earn 10/31 of 3,100.
    const { total, lines } = revenueOver([span({ from: jan1, to: feb1, period: { from: jan1, to: feb1 } })], {
      from: jan1 + 21 * day,
      to: apr1,
    });
    expect(total).toEqual({ usd: 1000 });
    expect(lines[0]).toMatchObject({ from: jan1 + 21 * day, to: feb1, share: 10 / 31 });
  });

  it('splits a period an upgrade cuts between the two plans by their shares', () => {
    // February has 28 days: 14 on starter (2,800/month), 14 on pro (5,600/month).
    const mid = feb1 + 14 * day;
    const spans = [
      span({
        from: feb1,
        to: mid,
        plan: 'starter',
        items: [{ plan: 'starter', price: usd(2800), quantity: 1 }],
        period: { from: feb1, to: mar1 },
      }),
      span({
        from: mid,
        to: mar1,
        items: [{ plan: 'pro', price: usd(5600), quantity: 1 }],
        period: { from: feb1, to: mar1 },
      }),
    ];
    expect(revenueOver(spans, { from: jan1, to: apr1 }).total).toEqual({ usd: 1400 + 2800 });
  });

  it('earns nothing for trial, paused, past-due, canceled and expired time', () => {
    for (const status of ['trialing', 'paused', 'past_due', 'canceled', 'expired'] as const) {
      const { total, lines } = revenueOver([span({ from: jan1, to: feb1, status, period: { from: jan1, to: feb1 } })], {
        from: jan1,
        to: feb1,
      });
      expect(total, status).toEqual({ usd: 0 });
      expect(lines[0]?.share, status).toBe(0);
    }
  });

  it('adds add-ons times their quantity, and keeps currencies apart', () => {
    const spans = [
      span({
        from: jan1,
        to: feb1,
        period: { from: jan1, to: feb1 },
        items: [
          { plan: 'pro', price: usd(3100), quantity: 1 },
          { plan: 'seats', price: usd(500), quantity: 3 },
          { plan: 'support', price: { amount: 1000, currency: 'eur', interval: 'month' }, quantity: 1 },
        ],
      }),
    ];
    expect(revenueOver(spans, { from: jan1, to: feb1 }).total).toEqual({ usd: 4600, eur: 1000 });
  });

  it('ignores spans outside the range', () => {
    const { total, lines } = revenueOver([span({ from: jan1, to: feb1, period: { from: jan1, to: feb1 } })], {
      from: mar1,
      to: apr1,
    });
    expect(total).toEqual({});
    expect(lines).toEqual([]);
  });
});

describe('unpaidAccessMs', () => {
  it('counts trial and past-due time in the range, not paid or paused time', () => {
    const spans = [
      span({ from: jan1, to: jan1 + 14 * day, status: 'trialing', period: { from: jan1, to: jan1 + 14 * day } }),
      span({ from: jan1 + 14 * day, to: feb1, period: { from: jan1 + 14 * day, to: feb1 + 14 * day } }),
      span({ from: feb1, to: feb1 + 3 * day, status: 'past_due', period: { from: feb1, to: mar1 } }),
      span({ from: feb1 + 3 * day, to: mar1, status: 'paused', period: { from: feb1, to: mar1 } }),
    ];
    expect(unpaidAccessMs(spans, { from: jan1 + 7 * day, to: apr1 })).toBe(7 * day + 3 * day);
  });
});

describe('flagsOf', () => {
  const use = (usage: number, limit: number | null, paid = true) => ({
    feature: 'api_calls',
    usage,
    usedInRange: usage,
    limit,
    paid,
  });

  it('marks 80 % of a limit as upsell, past it also as over limit', () => {
    expect(flagsOf({ features: [use(79, 100)], unpaidAccessMs: 0, grantedOnly: [] })).toEqual([]);
    expect(flagsOf({ features: [use(80, 100)], unpaidAccessMs: 0, grantedOnly: [] })).toEqual(['upsell']);
    expect(flagsOf({ features: [use(101, 100)], unpaidAccessMs: 0, grantedOnly: [] })).toEqual([
      'upsell',
      'over_limit',
    ]);
  });

  it('marks a paid limited feature never used in the range as unused, not an unlimited or a granted one', () => {
    expect(flagsOf({ features: [{ ...use(0, 100), usedInRange: 5 }], unpaidAccessMs: 0, grantedOnly: [] })).toEqual([]);
    expect(flagsOf({ features: [use(0, 100)], unpaidAccessMs: 0, grantedOnly: [] })).toEqual(['unused']);
    expect(flagsOf({ features: [use(0, null)], unpaidAccessMs: 0, grantedOnly: [] })).toEqual([]);
    expect(flagsOf({ features: [use(0, 100, false)], unpaidAccessMs: 0, grantedOnly: ['api_calls'] })).toEqual([
      'unpaid_access',
    ]);
  });

  it('marks unpaid time as unpaid access', () => {
    expect(flagsOf({ features: [], unpaidAccessMs: day, grantedOnly: [] })).toEqual(['unpaid_access']);
  });
});

describe('utilization', () => {
  it('is usage over limit, none for unlimited, and infinite past a zero limit', () => {
    expect(utilization({ feature: 'f', usage: 50, usedInRange: 50, limit: 200, paid: true })).toBe(0.25);
    expect(utilization({ feature: 'f', usage: 50, usedInRange: 50, limit: null, paid: true })).toBeNull();
    expect(utilization({ feature: 'f', usage: 1, usedInRange: 1, limit: 0, paid: true })).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});

describe('subscriptionSpans', () => {
  const jun1 = Date.UTC(2026, 5, 1);
  const jul1 = Date.UTC(2026, 6, 1);
  const aug1 = Date.UTC(2026, 7, 1);
  const sep1 = Date.UTC(2026, 8, 1);
  const items = () => [{ plan: 'pro', price: usd(3000), quantity: 1 }];

  it('cuts a recorded state at period boundaries and where time alone changes its status', () => {
    // A 14-day trial from June 1 that activates, canceled at the end of July by a state recorded on July 10.
    const trial = buildSubscription({ status: 'trialing', trialEnd: jun1 + 14 * day, onTrialEnd: 'activate' });
    const canceling = buildSubscription({
      status: 'active',
      currentPeriodStart: jul1,
      currentPeriodEnd: aug1,
      cancelAt: aug1,
    });
    const spans = subscriptionSpans({
      states: [
        { at: jun1, subscription: trial },
        { at: jul1 + 9 * day, subscription: canceling },
      ],
      until: sep1,
      items,
    });
    expect(spans.map((s) => [s.from, s.to, s.status, s.period.from])).toEqual([
      [jun1, jun1 + 14 * day, 'trialing', jun1],
      [jun1 + 14 * day, jul1, 'active', jun1],
      // The June state's periods continue from its anchor until the next recorded state.
      [jul1, jul1 + 9 * day, 'active', jul1],
      [jul1 + 9 * day, aug1, 'active', jul1],
      [aug1, sep1, 'canceled', aug1],
    ]);
    // June earns its 16 paid days of 30, July all of it, August nothing.
    expect(revenueOver(spans, { from: jun1, to: sep1 }).total).toEqual({ usd: 1600 + 3000 });
    expect(unpaidAccessMs(spans, { from: jun1, to: sep1 })).toBe(14 * day);
  });
});

describe('grantsBehind', () => {
  it('names the grants of the feature that apply at the instant', () => {
    const grants = [
      buildGrant({ id: 'grt_comp', feature: 'sso' }),
      buildGrant({ id: 'grt_other', feature: 'api_calls' }),
      buildGrant({ id: 'grt_revoked', feature: 'sso', revokedAt: feb1 }),
      buildGrant({ id: 'grt_expired', feature: 'sso', expiresAt: feb1 }),
      buildGrant({ id: 'grt_later', feature: 'sso', startsAt: apr1 }),
    ];
    expect(grantsBehind(grants, 'sso', mar1)).toEqual(['grt_comp']);
    expect(grantsBehind(grants, 'sso', jan1)).toEqual(['grt_comp', 'grt_revoked', 'grt_expired']);
    expect(grantsBehind(grants, 'seats', mar1)).toEqual([]);
  });
});
