import { describe, expect, it } from 'vitest';
import { emailPeriodStart } from './email-period.js';

const at = Date.parse('2026-06-15T12:00:00.000Z');

describe('emailPeriodStart', () => {
  const cases: { name: string; data: unknown; expected: string }[] = [
    {
      name: 'the usage period an alert names',
      data: {
        period_start: '2026-06-10T00:00:00.000Z',
        subscription: { current_period_start: '2026-06-01T00:00:00.000Z' },
      },
      expected: '2026-06-10T00:00:00.000Z',
    },
    {
      name: "the subscription's current period for a lifecycle notice",
      data: { subscription: { plan: 'pro', current_period_start: '2026-05-20T00:00:00.000Z' } },
      expected: '2026-05-20T00:00:00.000Z',
    },
    { name: 'the calendar month (UTC) otherwise', data: { feature: 'calls' }, expected: '2026-06-01T00:00:00.000Z' },
    { name: 'the calendar month when there is no data', data: null, expected: '2026-06-01T00:00:00.000Z' },
    {
      name: 'the calendar month when the dates are not dates',
      data: { period_start: 'soon', subscription: { current_period_start: 7 } },
      expected: '2026-06-01T00:00:00.000Z',
    },
  ];
  for (const { name, data, expected } of cases) {
    it(name, () => expect(new Date(emailPeriodStart({ data, at })).toISOString()).toBe(expected));
  }

  it('counts the calendar month in UTC, whatever the time of day', () => {
    expect(emailPeriodStart({ data: {}, at: Date.parse('2026-07-01T00:00:00.000Z') })).toBe(
      Date.parse('2026-07-01T00:00:00.000Z'),
    );
    expect(emailPeriodStart({ data: {}, at: Date.parse('2026-06-30T23:59:59.999Z') })).toBe(
      Date.parse('2026-06-01T00:00:00.000Z'),
    );
  });
});
