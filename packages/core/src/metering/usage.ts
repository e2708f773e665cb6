import type { Feature, MeterAggregation, MeteredFeature } from '../catalog/feature.js';
import type { Entitlement } from '../entitlements/entitlement.js';
import { usagePeriod } from '../entitlements/periods.js';
import type { UsageEvent } from './event.js';
import { readMeter } from './meter.js';

/** Rolling windows are counted in buckets of this size: a window frees usage a minute at a time. */
export const windowBucketMs = 60_000;

/** What one event adds to one metered feature. */
export interface MeterContribution {
  feature: string;
  aggregation: MeterAggregation;
  amount: number;
  /** For `unique_count`: the distinct value. */
  distinct: string | null;
}

/** The metered features an event type feeds, by type; built once per catalog. */
export function metersByEventType(features: Iterable<Feature>): Map<string, MeteredFeature[]> {
  const index = new Map<string, MeteredFeature[]>();
  for (const feature of features) {
    if (feature.type !== 'metered' || feature.meter === null) continue;
    const list = index.get(feature.meter.eventType) ?? [];
    list.push(feature);
    index.set(feature.meter.eventType, list);
  }
  return index;
}

/**
 * What an event contributes to each meter it feeds, or why it cannot count (a `sum` over a
 * property that is not a number): such an event is refused as a whole, so that it is never
 * stored half-counted.
 */
export function contributions(input: {
  event: UsageEvent;
  meters: readonly MeteredFeature[];
}): { contributions: MeterContribution[] } | { error: string } {
  const found: MeterContribution[] = [];
  for (const feature of input.meters) {
    const reading = readMeter({ meter: feature.meter!, event: input.event });
    if (reading.kind === 'skip') continue;
    if (reading.kind === 'invalid') return { error: `${reading.message} (meter of "${feature.key}")` };
    const aggregation = feature.meter!.aggregation;
    found.push(
      reading.kind === 'distinct'
        ? { feature: feature.key, aggregation, amount: 0, distinct: reading.value }
        : { feature: feature.key, aggregation, amount: reading.amount, distinct: null },
    );
  }
  return { contributions: found };
}

/**
 * The counter an instant's usage belongs to for an entitlement: the start of the usage period
 * containing it, the start of its one-minute bucket for a rolling window, or 0 when usage never
 * resets. Late events land in the period their own time falls in.
 */
export function counterPeriodStart(input: { entitlement: Entitlement; at: number }): number {
  const { entitlement, at } = input;
  if (entitlement.window !== null) return Math.floor(at / windowBucketMs) * windowBucketMs;
  if (entitlement.reset === null) return 0;
  return usagePeriod({ reset: entitlement.reset, now: at, billing: entitlement.billing })?.start ?? 0;
}
