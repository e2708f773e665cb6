import {
  type Catalog,
  counterPeriodStart,
  type Entitlement,
  type MeterAggregation,
  parseWindow,
  windowBucketMs,
} from '@keymaster/core';

/** Which counters make up an entitlement's usage at an instant, and under what key to cache it. */
export interface UsageSpan {
  key: string;
  feature: string;
  aggregation: MeterAggregation;
  from: number;
  to: number;
}

/**
 * The counters a metered entitlement's usage is read from at `now`: the current period's counter,
 * or the one-minute buckets of a rolling window (a bucket counts while any of it is inside the
 * window), or a gauge's one level. Null for what is not counted (booleans, configs, denied
 * metered features).
 */
export function usageSpan(input: { catalog: Catalog; entitlement: Entitlement; now: number }): UsageSpan | null {
  const { entitlement: e, now } = input;
  if (e.type === 'gauge') {
    // A gauge's level counts whether or not the customer is entitled: seats exist either way.
    return { key: `${e.feature}\u0000g`, feature: e.feature, aggregation: 'sum', from: 0, to: 0 };
  }
  if (e.type !== 'metered' || !e.enabled) return null;
  const feature = input.catalog.features.get(e.feature);
  const aggregation = feature?.type === 'metered' && feature.meter ? feature.meter.aggregation : 'sum';
  if (e.window !== null) {
    const bucket = Math.floor(now / windowBucketMs) * windowBucketMs;
    const from = bucket - (parseWindow(e.window) ?? 0) + windowBucketMs;
    return { key: `${e.feature}\u0000w${bucket}`, feature: e.feature, aggregation, from, to: bucket };
  }
  const start = counterPeriodStart({ entitlement: e, at: now });
  return { key: `${e.feature}\u0000p${start}`, feature: e.feature, aggregation, from: start, to: start };
}
