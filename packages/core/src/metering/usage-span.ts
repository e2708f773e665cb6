import type { Catalog } from '../catalog/catalog.js';
import type { MeterAggregation } from '../catalog/feature.js';
import { parseWindow } from '../catalog/plan.js';
import type { Entitlement } from '../entitlements/entitlement.js';
import { counterPeriodStart, windowBucketMs } from './usage.js';

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
  const { catalog, entitlement: e, now } = input;
  // A gauge's level counts whether or not the customer is entitled: seats exist either way.
  if (e.type !== 'gauge' && (e.type !== 'metered' || !e.enabled)) return null;
  // Where the counters start and end: a gauge's one level, a window's buckets, a period's counter.
  let kind: 'g' | 'w' | 'p';
  let from: number;
  let to: number;
  if (e.type === 'gauge') {
    kind = 'g';
    from = 0;
    to = 0;
  } else if (e.window !== null) {
    kind = 'w';
    to = Math.floor(now / windowBucketMs) * windowBucketMs;
    from = to - (parseWindow(e.window) ?? 0) + windowBucketMs;
  } else {
    kind = 'p';
    from = counterPeriodStart({ entitlement: e, at: now });
    to = from;
  }
  // A cached customer's entitlements are the same objects from one check to the next: hand back
  // the same span (and key string, whose hash is then computed once) until its counters move on.
  const last = lastSpans.get(e);
  if (last !== undefined && last.catalog === catalog && last.span.from === from && last.span.to === to) {
    return last.span;
  }
  const feature = catalog.features.get(e.feature);
  const aggregation = kind !== 'g' && feature?.type === 'metered' && feature.meter ? feature.meter.aggregation : 'sum';
  const span: UsageSpan = Object.freeze({
    key: `${e.feature}\u0000${kind}${kind === 'g' ? '' : to}`,
    feature: e.feature,
    aggregation,
    from,
    to,
  });
  lastSpans.set(e, { catalog, span });
  return span;
}

const lastSpans = new WeakMap<Entitlement, { catalog: Catalog; span: UsageSpan }>();
