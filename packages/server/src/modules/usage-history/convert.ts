import type { UsageHistory } from '@keymaster/contract';
import { toIso } from '../../json-column.js';
import type { UsageHistoryAnswer } from './service.js';

/** A usage history as the API answers it: ISO times, snake_case. */
export function toApiUsageHistory(answer: UsageHistoryAnswer): UsageHistory {
  return {
    customer: answer.customerId,
    feature: answer.feature,
    aggregation: answer.aggregation,
    granularity: answer.granularity,
    from: toIso(answer.from),
    to: toIso(answer.to),
    current_period: answer.currentPeriod,
    total: answer.total,
    buckets: answer.buckets.map((bucket) => ({
      start: toIso(bucket.start),
      end: toIso(bucket.end),
      usage: bucket.usage,
    })),
  };
}
