import { describe, expect, it } from 'vitest';
import type { Reset } from '../catalog/plan.js';
import { utc } from '../test-builders.js';
import { type BillingAnchor, usagePeriod } from './periods.js';

const iso = (period: { start: number; end: number } | null) =>
  period && { start: new Date(period.start).toISOString(), end: new Date(period.end).toISOString() };

describe('usagePeriod', () => {
  const monthly: BillingAnchor = { anchor: utc('2026-01-31T08:00:00Z'), interval: 'month' };
  const yearly: BillingAnchor = { anchor: utc('2024-02-29T00:00:00Z'), interval: 'year' };

  const cases: {
    name: string;
    reset: Reset;
    now: string;
    billing?: BillingAnchor;
    period: { start: string; end: string } | null;
  }[] = [
    {
      name: 'day',
      reset: 'day',
      now: '2026-06-15T23:59:59.999Z',
      period: { start: '2026-06-15T00:00:00.000Z', end: '2026-06-16T00:00:00.000Z' },
    },
    {
      name: 'day, at midnight',
      reset: 'day',
      now: '2026-06-16T00:00:00Z',
      period: { start: '2026-06-16T00:00:00.000Z', end: '2026-06-17T00:00:00.000Z' },
    },
    {
      name: 'week, on a Monday: starts that day',
      reset: 'week',
      now: '2026-06-15T12:00:00Z',
      period: { start: '2026-06-15T00:00:00.000Z', end: '2026-06-22T00:00:00.000Z' },
    },
    {
      name: 'week, on a Sunday: belongs to the week that began the Monday before',
      reset: 'week',
      now: '2026-06-14T23:00:00Z',
      period: { start: '2026-06-08T00:00:00.000Z', end: '2026-06-15T00:00:00.000Z' },
    },
    {
      name: 'week, across a month and year end',
      reset: 'week',
      now: '2027-01-01T10:00:00Z',
      period: { start: '2026-12-28T00:00:00.000Z', end: '2027-01-04T00:00:00.000Z' },
    },
    {
      name: 'month',
      reset: 'month',
      now: '2026-06-15T12:00:00Z',
      period: { start: '2026-06-01T00:00:00.000Z', end: '2026-07-01T00:00:00.000Z' },
    },
    {
      name: 'month, in December',
      reset: 'month',
      now: '2026-12-31T23:59:59Z',
      period: { start: '2026-12-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z' },
    },
    {
      name: 'month, February of a leap year',
      reset: 'month',
      now: '2028-02-29T12:00:00Z',
      period: { start: '2028-02-01T00:00:00.000Z', end: '2028-03-01T00:00:00.000Z' },
    },
    {
      name: 'year',
      reset: 'year',
      now: '2026-06-15T12:00:00Z',
      period: { start: '2026-01-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z' },
    },
    {
      name: 'billing_period follows the subscription cycle (clamped to month end)',
      reset: 'billing_period',
      now: '2026-03-10T00:00:00Z',
      billing: monthly,
      period: { start: '2026-02-28T08:00:00.000Z', end: '2026-03-31T08:00:00.000Z' },
    },
    {
      name: 'billing_period, yearly from a leap day',
      reset: 'billing_period',
      now: '2026-06-15T12:00:00Z',
      billing: yearly,
      period: { start: '2026-02-28T00:00:00.000Z', end: '2027-02-28T00:00:00.000Z' },
    },
    {
      name: 'billing_period without a subscription has no period',
      reset: 'billing_period',
      now: '2026-06-15',
      period: null,
    },
    { name: 'never', reset: 'never', now: '2026-06-15T12:00:00Z', billing: monthly, period: null },
  ];

  it.each(cases)('$name', ({ reset, now, billing, period }) => {
    expect(iso(usagePeriod({ reset, now: utc(now), billing: billing ?? null }))).toEqual(period);
  });

  it('always contains now, for every reset and every hour of a year', () => {
    const outside: string[] = [];
    for (let now = utc('2027-12-25T00:30:00Z'); now < utc('2029-01-05T00:00:00Z'); now += 3_600_000) {
      for (const reset of ['day', 'week', 'month', 'year', 'billing_period'] as const) {
        const period = usagePeriod({ reset, now, billing: monthly });
        if (!period || period.start > now || period.end <= now)
          outside.push(`${reset} @${new Date(now).toISOString()}`);
      }
    }
    expect(outside).toEqual([]);
  });

  it('answers the right period however calls jump across boundaries (the last one is remembered)', () => {
    const month = (now: string) => iso(usagePeriod({ reset: 'month', now: utc(now), billing: null }));
    const january = { start: '2027-01-01T00:00:00.000Z', end: '2027-02-01T00:00:00.000Z' };
    const february = { start: '2027-02-01T00:00:00.000Z', end: '2027-03-01T00:00:00.000Z' };
    expect(month('2027-01-31T23:59:59.999Z')).toEqual(january);
    expect(month('2027-02-01T00:00:00.000Z')).toEqual(february);
    expect(month('2027-01-15T12:00:00.000Z')).toEqual(january);
    expect(month('2027-03-01T00:00:00.000Z')).toEqual({
      start: '2027-03-01T00:00:00.000Z',
      end: '2027-04-01T00:00:00.000Z',
    });
    // A remembered period is shared between callers: it cannot be changed through one of them.
    const shared = usagePeriod({ reset: 'month', now: utc('2027-03-02T00:00:00Z'), billing: null })!;
    expect(() => {
      shared.end = 0;
    }).toThrow(TypeError);
    expect(month('2027-03-03T00:00:00.000Z')).toEqual({
      start: '2027-03-01T00:00:00.000Z',
      end: '2027-04-01T00:00:00.000Z',
    });
  });
});
