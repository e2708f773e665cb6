import type { PriceInterval, Reset } from '../catalog/plan.js';
import { periodContaining } from '../customers/subscription.js';

/** A half-open interval [start, end) of epoch milliseconds. */
export interface Period {
  start: number;
  end: number;
}

/** What a billing-period reset is anchored to: the subscription's cycle. */
export interface BillingAnchor {
  anchor: number;
  interval: PriceInterval;
}

/**
 * The usage period containing `now` for a reset rule. Calendar resets are in UTC; weeks start on
 * Monday (ISO 8601); `billing_period` follows the subscription's cycle. `never` (and a
 * billing-period reset without a subscription) has no period: usage accumulates forever.
 */
export function usagePeriod(input: { reset: Reset; now: number; billing: BillingAnchor | null }): Period | null {
  const { reset, now, billing } = input;
  switch (reset) {
    case 'day':
    case 'week':
    case 'month':
    case 'year': {
      // Checks and ingested events nearly all fall in the current period: answer the last one
      // computed for this reset while it still contains `now` (shared, so frozen).
      const last = lastCalendarPeriod[reset];
      if (last !== undefined && now >= last.start && now < last.end) return last;
      const period = Object.freeze(calendarPeriod(reset, now));
      lastCalendarPeriod[reset] = period;
      return period;
    }
    case 'billing_period':
      return billing ? periodContaining({ anchor: billing.anchor, interval: billing.interval, now }) : null;
    case 'never':
      return null;
  }
}

type CalendarReset = 'day' | 'week' | 'month' | 'year';

const lastCalendarPeriod: Partial<Record<CalendarReset, Readonly<Period>>> = {};

function calendarPeriod(reset: CalendarReset, now: number): Period {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (reset) {
    case 'day': {
      const start = Date.UTC(y, m, d.getUTCDate());
      return { start, end: start + 86_400_000 };
    }
    case 'week': {
      const sinceMonday = (d.getUTCDay() + 6) % 7;
      const start = Date.UTC(y, m, d.getUTCDate() - sinceMonday);
      return { start, end: start + 7 * 86_400_000 };
    }
    case 'month':
      return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
    case 'year':
      return { start: Date.UTC(y, 0, 1), end: Date.UTC(y + 1, 0, 1) };
  }
}
