import { maxQuantity } from '../catalog/feature.js';
import { parseWindow } from '../catalog/plan.js';
import type { Entitlement } from '../entitlements/entitlement.js';
import { type Period, usagePeriod } from '../entitlements/periods.js';
import type { FieldError } from '../errors.js';

export const AlertTypes = ['percent', 'units', 'forecast_percent'] as const;
export type AlertType = (typeof AlertTypes)[number];

/**
 * A usage alert: fire `usage.threshold_reached` once per customer and usage period when the
 * feature's usage reaches `value` (units), `value` % of the limit (percent), or is on course to
 * reach `value` % of the limit by the period's end (forecast_percent). `plan` and `customer`
 * say whom it watches: a plan's subscribers, one customer, or (neither) every customer.
 */
export interface AlertRule {
  id: string;
  feature: string;
  type: AlertType;
  value: number;
  plan: string | null;
  customer: string | null;
  createdAt: number;
}

/**
 * The values a rule may take. Percentages go up to 1,000 % so a rule can watch overage (a limit
 * with `overage: allow` is passed); below 1 % a rule would fire at the first unit anyway.
 */
export const alertValueRange: Record<AlertType, { min: number; max: number }> = {
  percent: { min: 1, max: 1000 },
  forecast_percent: { min: 1, max: 1000 },
  units: { min: 1, max: maxQuantity },
};

/** What is wrong with a rule's own fields (the feature and the targets are checked against the store). */
export function validateAlertRule(input: {
  type: AlertType;
  value: number;
  plan: string | null;
  customer: string | null;
}): FieldError[] {
  const errors: FieldError[] = [];
  const range = alertValueRange[input.type];
  if (!Number.isInteger(input.value) || input.value < range.min || input.value > range.max) {
    errors.push({
      path: '/value',
      message: `must be an integer from ${range.min} to ${range.max} for a ${input.type} rule`,
    });
  }
  if (input.plan !== null && input.customer !== null) {
    errors.push({ path: '/customer', message: 'a rule watches a plan or a customer, not both' });
  }
  return errors;
}

const none: readonly AlertRule[] = Object.freeze([]);

/**
 * The rules that watch one customer's use of one feature, from the feature's rules: the
 * customer's own when it has any (they override the rest for that customer), else those of the
 * customer's plan and those on every customer.
 */
export function applicableRules(input: {
  rules: readonly AlertRule[];
  customer: string;
  plan: string | null;
}): readonly AlertRule[] {
  const { rules, customer, plan } = input;
  if (rules.length === 0) return none;
  const own: AlertRule[] = [];
  const shared: AlertRule[] = [];
  for (const rule of rules) {
    if (rule.customer !== null) {
      if (rule.customer === customer) own.push(rule);
    } else if (rule.plan === null || rule.plan === plan) {
      shared.push(rule);
    }
  }
  return own.length > 0 ? own : shared.length > 0 ? shared : none;
}

/**
 * The period an alert fires once in, for an entitlement at `now`: the usage period of a feature
 * that resets (calendar or billing), for a rolling window the window's length aligned to the
 * epoch (a window has no period of its own: at most one alert per window length), and for
 * usage that never resets or a gauge one period from 0 with no end.
 */
export function alertPeriod(input: { entitlement: Entitlement; now: number }): Period {
  const { entitlement: e, now } = input;
  if (e.type === 'metered' && e.window !== null) {
    const length = parseWindow(e.window) ?? 0;
    if (length > 0) {
      const start = Math.floor(now / length) * length;
      return { start, end: start + length };
    }
  }
  if (e.type === 'metered' && e.reset !== null) {
    const period = usagePeriod({ reset: e.reset, now, billing: e.billing });
    if (period) return period;
  }
  return forever;
}

const forever: Period = Object.freeze({ start: 0, end: Number.POSITIVE_INFINITY });

/**
 * Usage at the end of the period if it goes on at the rate so far: usage × period length ÷ time
 * elapsed. Null without a finite period or before any of it has elapsed. A rolling window's usage
 * already covers a whole window, so its projection is the usage itself.
 */
export function forecastUsage(input: { usage: number; period: Period; now: number; windowed: boolean }): number | null {
  const { usage, period, now } = input;
  if (input.windowed) return usage;
  if (!Number.isFinite(period.end)) return null;
  const elapsed = now - period.start;
  if (elapsed <= 0) return null;
  return (usage * (period.end - period.start)) / Math.min(elapsed, period.end - period.start);
}

/**
 * Whether a rule is met at this usage. Insert-if-absent makes "met" fire once, so this is a
 * level, not an edge: a write that finds the rule met when no earlier one did fires it, and a rule
 * created after usage passed fires at the next write. Percent and forecast rules need a positive
 * limit (an unlimited feature has no percentage).
 */
export function ruleMet(input: {
  rule: Pick<AlertRule, 'type' | 'value'>;
  usage: number;
  limit: number | null;
  period: Period;
  now: number;
  windowed: boolean;
}): boolean {
  const { rule, usage, limit } = input;
  if (rule.type === 'units') return usage >= rule.value;
  if (limit === null || limit <= 0) return false;
  if (rule.type === 'percent') return usage * 100 >= rule.value * limit;
  if (usage <= 0) return false;
  const projected = forecastUsage({ usage, period: input.period, now: input.now, windowed: input.windowed });
  return projected !== null && projected * 100 >= rule.value * limit;
}

/** Whether the balance is used up: the limit reached (an unlimited feature never is). */
export function limitReached(input: { usage: number; limit: number | null }): boolean {
  return input.limit !== null && input.usage >= input.limit;
}
