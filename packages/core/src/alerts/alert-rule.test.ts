import { describe, expect, it } from 'vitest';
import { buildEntitlement, testNow, utc } from '../test-builders.js';
import {
  type AlertRule,
  alertPeriod,
  applicableRules,
  forecastUsage,
  limitReached,
  ruleMet,
  validateAlertRule,
} from './alert-rule.js';

function buildRule(overrides: Partial<AlertRule> = {}): AlertRule {
  return {
    id: 'alr_1',
    feature: 'api_calls',
    type: 'percent',
    value: 80,
    plan: null,
    customer: null,
    createdAt: 0,
    ...overrides,
  };
}

const june = { start: utc('2026-06-01T00:00:00Z'), end: utc('2026-07-01T00:00:00Z') };

describe('applicableRules', () => {
  const everyone = buildRule({ id: 'everyone' });
  const pro = buildRule({ id: 'pro', plan: 'pro' });
  const free = buildRule({ id: 'free', plan: 'free' });
  const acme = buildRule({ id: 'acme', customer: 'acme' });
  const rules = [everyone, pro, free, acme];
  const cases: { name: string; customer: string; plan: string | null; ids: string[] }[] = [
    {
      name: "a plan's subscriber gets its plan's rules and everyone's",
      customer: 'globex',
      plan: 'pro',
      ids: ['everyone', 'pro'],
    },
    {
      name: 'a customer without a plan gets only rules on everyone',
      customer: 'globex',
      plan: null,
      ids: ['everyone'],
    },
    { name: "a customer rule overrides the plan's for that customer", customer: 'acme', plan: 'pro', ids: ['acme'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(applicableRules({ rules, customer: c.customer, plan: c.plan }).map((r) => r.id)).toEqual(c.ids);
    });
  }
  it('answers nothing when the feature has no rules', () => {
    expect(applicableRules({ rules: [], customer: 'acme', plan: 'pro' })).toEqual([]);
  });
});

describe('ruleMet', () => {
  const at = { period: june, now: testNow, windowed: false };
  const cases: {
    name: string;
    rule: Pick<AlertRule, 'type' | 'value'>;
    usage: number;
    limit: number | null;
    met: boolean;
  }[] = [
    { name: 'percent below', rule: { type: 'percent', value: 80 }, usage: 799, limit: 1000, met: false },
    { name: 'percent reached exactly', rule: { type: 'percent', value: 80 }, usage: 800, limit: 1000, met: true },
    { name: 'percent past 100 (overage)', rule: { type: 'percent', value: 150 }, usage: 1500, limit: 1000, met: true },
    {
      name: 'percent of an unlimited feature',
      rule: { type: 'percent', value: 1 },
      usage: 10 ** 9,
      limit: null,
      met: false,
    },
    { name: 'units below', rule: { type: 'units', value: 5 }, usage: 4, limit: null, met: false },
    { name: 'units reached, unlimited', rule: { type: 'units', value: 5 }, usage: 5, limit: null, met: true },
    // Half of June gone (15 June 12:00 is 14.5 of 30 days): 400 projects to 827.6.
    { name: 'forecast on course', rule: { type: 'forecast_percent', value: 80 }, usage: 400, limit: 1000, met: true },
    { name: 'forecast short', rule: { type: 'forecast_percent', value: 90 }, usage: 400, limit: 1000, met: false },
    { name: 'forecast of no usage', rule: { type: 'forecast_percent', value: 1 }, usage: 0, limit: 1000, met: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(ruleMet({ rule: c.rule, usage: c.usage, limit: c.limit, ...at })).toBe(c.met);
    });
  }
});

describe('forecastUsage', () => {
  it('projects linearly to the end of the period', () => {
    expect(forecastUsage({ usage: 100, period: { start: 0, end: 1000 }, now: 250, windowed: false })).toBe(400);
  });
  it('has nothing to project at the very start, or without an end', () => {
    expect(forecastUsage({ usage: 100, period: { start: 0, end: 1000 }, now: 0, windowed: false })).toBeNull();
    expect(forecastUsage({ usage: 100, period: { start: 0, end: Infinity }, now: 5, windowed: false })).toBeNull();
  });
  it('takes a rolling window as already whole', () => {
    expect(forecastUsage({ usage: 100, period: { start: 0, end: 1000 }, now: 10, windowed: true })).toBe(100);
  });
});

describe('alertPeriod', () => {
  it('is the usage period of a monthly reset, re-arming next month', () => {
    const entitlement = buildEntitlement({ reset: 'month' });
    expect(alertPeriod({ entitlement, now: testNow })).toEqual(june);
    expect(alertPeriod({ entitlement, now: utc('2026-07-02T00:00:00Z') }).start).toBe(june.end);
  });
  it('is the billing period of a billing-period reset', () => {
    const anchor = utc('2026-05-20T00:00:00Z');
    const entitlement = buildEntitlement({ reset: 'billing_period', billing: { anchor, interval: 'month' } });
    expect(alertPeriod({ entitlement, now: testNow })).toEqual({ start: anchor, end: utc('2026-06-20T00:00:00Z') });
  });
  it("is a window's length, aligned, for a rolling window", () => {
    const entitlement = buildEntitlement({ reset: null, window: '1h' });
    const start = utc('2026-06-15T12:00:00Z');
    expect(alertPeriod({ entitlement, now: testNow + 30 * 60_000 })).toEqual({ start, end: start + 3_600_000 });
  });
  it('is forever for a gauge and for usage that never resets', () => {
    expect(alertPeriod({ entitlement: buildEntitlement({ type: 'gauge', reset: null }), now: testNow }).start).toBe(0);
    expect(alertPeriod({ entitlement: buildEntitlement({ reset: 'never' }), now: testNow }).end).toBe(Infinity);
  });
});

describe('validateAlertRule', () => {
  it('names the value out of range and a rule on both a plan and a customer', () => {
    expect(validateAlertRule({ type: 'percent', value: 1001, plan: null, customer: null })).toEqual([
      { path: '/value', message: expect.stringContaining('1 to 1000') },
    ]);
    expect(validateAlertRule({ type: 'units', value: 0, plan: null, customer: null })[0]?.path).toBe('/value');
    expect(validateAlertRule({ type: 'percent', value: 80, plan: 'pro', customer: 'acme' })[0]?.path).toBe('/customer');
    expect(validateAlertRule({ type: 'forecast_percent', value: 90, plan: 'pro', customer: null })).toEqual([]);
  });
});

describe('limitReached', () => {
  it('is reached at the limit, never without one', () => {
    expect(limitReached({ usage: 10, limit: 10 })).toBe(true);
    expect(limitReached({ usage: 9, limit: 10 })).toBe(false);
    expect(limitReached({ usage: 10 ** 9, limit: null })).toBe(false);
  });
});
