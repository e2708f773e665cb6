import {
  type Catalog,
  type CustomerEntitlements,
  creditPoolOf,
  type Entitlement,
  ErrorCodes,
  type FieldError,
  type HistoryBucket,
  type HistoryGranularity,
  historyBuckets,
  historyHour,
  historyRange,
  invalid,
  type MeterAggregation,
  maxFutureSkewMs,
  notFound,
  type UsageSpan,
  usagePeriod,
  usageSpan,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { firstHistoryHour, readHistory, readWindowDistinctHistory } from '../counters/history-store.js';

export type HistoryService = ReturnType<typeof createHistoryService>;

export interface UsageHistoryAnswer {
  customerId: string;
  feature: string;
  aggregation: MeterAggregation;
  granularity: HistoryGranularity;
  from: number;
  to: number;
  currentPeriod: boolean;
  total: number;
  buckets: HistoryBucket[];
}

const at = (field: string) => `/querystring/${field}`;

/** Reads a query time already validated as ISO-8601 by the schema. */
function instant(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Date.parse(value);
}

/**
 * The current usage period of an entitlement, as check counts it: the range to show by default
 * and the counters (`period_start`s) whose hours make up check's usage. Null when the customer
 * has no period for the feature (not entitled: check counts nothing).
 */
async function currentPeriod(input: {
  db: Db;
  customerId: string;
  entitlement: Entitlement;
  span: UsageSpan | null;
  now: number;
}): Promise<{ from: number; to: number; counters: { from: number; to: number } } | null> {
  const { entitlement: e, span, now } = input;
  if (span === null) return null;
  const counters = { from: span.from, to: span.to };
  // Up to the newest hour an event may already be dated in (clients' clocks run ahead a little).
  const soon = now + maxFutureSkewMs;
  if (e.window !== null) return { from: span.from, to: soon, counters };
  const period = e.reset === null ? null : usagePeriod({ reset: e.reset, now, billing: e.billing });
  if (period) return { from: period.start, to: period.end, counters };
  // Usage that never resets: from the first hour anything was recorded.
  const first = await firstHistoryHour(input.db, { customerId: input.customerId, feature: e.feature, periodStart: 0 });
  return { from: first ?? historyHour(now), to: soon, counters };
}

/**
 * A metered feature's usage history for one customer, in UTC hour or day buckets. Without
 * `from` and `to` it covers the current usage period, counting only the counters check reads,
 * so the buckets combine to check's `usage`; with them, every hour in the range counts.
 */
export function createHistoryService(deps: {
  db: Db;
  clock: Clock;
  snapshot: (customerId: string) => Promise<{ catalog: Catalog; resolved: CustomerEntitlements | null }>;
}) {
  const { db, clock } = deps;
  return {
    async read(input: {
      customerId: string;
      feature: string;
      from?: string | undefined;
      to?: string | undefined;
      granularity?: HistoryGranularity | undefined;
    }): Promise<UsageHistoryAnswer> {
      const { customerId } = input;
      const granularity = input.granularity ?? 'day';
      const { catalog, resolved } = await deps.snapshot(customerId);
      const now = clock.now();
      if (!resolved) throw notFound(ErrorCodes.customerNotFound, `Customer "${customerId}" does not exist.`);
      const feature = catalog.features.get(input.feature);
      if (!feature) throw invalid([{ path: at('feature'), message: `unknown feature "${input.feature}"` }]);
      if (feature.type !== 'metered') {
        throw invalid([
          {
            path: at('feature'),
            message:
              `"${feature.key}" is ${feature.type}: history is kept for metered features only` +
              (feature.type === 'gauge' ? ' (a gauge has one current level: POST /v1/check reports it)' : ''),
          },
        ]);
      }
      const cost = creditPoolOf(feature);
      if (cost) {
        throw invalid([
          {
            path: at('feature'),
            message:
              `"${feature.key}" draws from the credit pool "${cost.pool}": its usage is counted, and kept in ` +
              `history, on the pool (ask for feature=${cost.pool})`,
          },
        ]);
      }
      const aggregation = feature.meter?.aggregation ?? 'sum';
      const entitlement = resolved.entitlements.get(feature.key)!;
      const span = usageSpan({ catalog, entitlement, now });
      let from = instant(input.from);
      let to = instant(input.to);
      const defaulted = from === undefined && to === undefined;
      let counters: { from: number; to: number } | null = null;
      if (from === undefined || to === undefined) {
        const period = await currentPeriod({ db, customerId, entitlement, span, now });
        if (!period) {
          const missing: FieldError[] = (['from', 'to'] as const)
            .filter((field) => input[field] === undefined)
            .map((field) => ({
              path: at(field),
              message: `is required: "${customerId}" has no current usage period for "${feature.key}" (not entitled)`,
            }));
          throw invalid(missing);
        }
        from ??= period.from;
        to ??= period.to;
        if (defaulted) counters = period.counters;
      }
      const range = historyRange({
        from,
        to,
        granularity,
        blame: {
          order: at(input.to !== undefined ? 'to' : 'from'),
          size: at(input.to !== undefined ? 'to' : input.from !== undefined ? 'from' : 'granularity'),
        },
      });
      if ('errors' in range) throw invalid(range.errors);
      const query = { customerId, feature: feature.key, from: range.from, to: range.to };
      // A rolling window's unique values are distinct across the whole window (each one-minute
      // bucket keeps its own set): count each in the hour it was first seen in the range.
      const rows =
        aggregation === 'unique_count' && entitlement.window !== null
          ? await readWindowDistinctHistory(db, {
              ...query,
              periods: counters ?? { from: range.from, to: range.to - 1 },
            })
          : await readHistory(db, { ...query, aggregation, periods: counters });
      const { buckets, total } = historyBuckets({ rows, aggregation, granularity, ...range });
      return {
        customerId,
        feature: feature.key,
        aggregation,
        granularity,
        ...range,
        currentPeriod: counters !== null,
        total,
        buckets,
      };
    },
  };
}
