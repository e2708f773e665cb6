import type { MeterAggregation } from '../catalog/feature.js';
import type { FieldError } from '../errors.js';

/** Usage history is stored in UTC hours; days are made of those hours. */
export const historyGranularities = ['hour', 'day'] as const;
export type HistoryGranularity = (typeof historyGranularities)[number];

export const hourMs = 3_600_000;
const bucketMs: Record<HistoryGranularity, number> = { hour: hourMs, day: 24 * hourMs };

/**
 * The most buckets one history answer may hold: enough for a 31-day month in hours and a leap
 * year in days, few enough that a mistyped range cannot make the server build a huge answer.
 */
export const maxHistoryBuckets: Record<HistoryGranularity, number> = { hour: 1000, day: 400 };

/** The start of the UTC hour an instant falls in: the history bucket usage at `at` is kept in. */
export function historyHour(at: number): number {
  return Math.floor(at / hourMs) * hourMs;
}

/**
 * One stored hour of history: a row per (customer, feature, counter period, hour), already read
 * for one customer and feature. `latestAt` is when a `latest` meter's value was observed.
 */
export interface HistoryRow {
  hour: number;
  value: number;
  latestAt: number | null;
}

/** One bucket of the answer: usage in [start, end). */
export interface HistoryBucket {
  start: number;
  end: number;
  usage: number;
}

/**
 * A requested range widened to whole buckets of the granularity (UTC): `from` rounded down, `to`
 * rounded up, since stored hours cannot be split. Errors name the query field at fault: `to` not
 * after `from`, or a range of more than `maxHistoryBuckets` buckets (`blame` says which field
 * the caller chose, so the message points at what they can change).
 */
export function historyRange(input: {
  from: number;
  to: number;
  granularity: HistoryGranularity;
  blame: { order: string; size: string };
}): { from: number; to: number } | { errors: FieldError[] } {
  const size = bucketMs[input.granularity];
  if (input.to <= input.from) return { errors: [{ path: input.blame.order, message: 'must be after from' }] };
  const from = Math.floor(input.from / size) * size;
  const to = Math.ceil(input.to / size) * size;
  const count = (to - from) / size;
  const max = maxHistoryBuckets[input.granularity];
  if (count > max) {
    const hint = input.granularity === 'hour' ? ' (use granularity=day, or a shorter range)' : ' (use a shorter range)';
    return {
      errors: [
        {
          path: input.blame.size,
          message: `the range holds ${count} ${input.granularity} buckets; at most ${max}${hint}`,
        },
      ],
    };
  }
  return { from, to };
}

/** Whether an aggregation's buckets add up (as opposed to taking a maximum or the last value). */
function adds(aggregation: MeterAggregation): boolean {
  return aggregation === 'count' || aggregation === 'sum' || aggregation === 'unique_count';
}

/**
 * Folds stored hours into zero-filled buckets over [from, to) (both on bucket boundaries) and
 * the range's total, combining as the aggregation does, so the total is what a counter over the
 * same rows holds: `count`, `sum` and `unique_count` add (each unique value is stored once, in
 * the hour it was first seen in its period); `max` takes the largest; `latest` takes the value
 * observed last (the latest `latestAt`; equal times: the later hour). An empty bucket is 0.
 */
export function historyBuckets(input: {
  rows: readonly HistoryRow[];
  aggregation: MeterAggregation;
  granularity: HistoryGranularity;
  from: number;
  to: number;
}): { buckets: HistoryBucket[]; total: number } {
  const { aggregation, from, to } = input;
  const size = bucketMs[input.granularity];
  const buckets: HistoryBucket[] = [];
  for (let start = from; start < to; start += size) buckets.push({ start, end: start + size, usage: 0 });
  // Per bucket, whether any row fell in it, and the observation time of the `latest` value it holds.
  const filled = buckets.map(() => false);
  const observed = buckets.map(() => Number.NEGATIVE_INFINITY);
  let total = 0;
  let totalFilled = false;
  let totalObserved = Number.NEGATIVE_INFINITY;
  const sorted = [...input.rows].sort((a, b) => a.hour - b.hour);
  for (const row of sorted) {
    if (row.hour < from || row.hour >= to) continue;
    const index = Math.floor((row.hour - from) / size);
    const bucket = buckets[index]!;
    if (adds(aggregation)) {
      bucket.usage += row.value;
      total += row.value;
    } else if (aggregation === 'max') {
      // A max meter may see negative readings: an empty bucket is no reading, not a reading of 0.
      bucket.usage = filled[index] ? Math.max(bucket.usage, row.value) : row.value;
      total = totalFilled ? Math.max(total, row.value) : row.value;
    } else {
      const at = row.latestAt ?? row.hour;
      if (at >= observed[index]!) {
        bucket.usage = row.value;
        observed[index] = at;
      }
      if (at >= totalObserved) {
        total = row.value;
        totalObserved = at;
      }
    }
    filled[index] = true;
    totalFilled = true;
  }
  return { buckets, total };
}
