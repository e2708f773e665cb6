import { type HistoryRow, hourMs, type MeterAggregation } from '@keymaster/core';
import { sql } from 'kysely';
import { type Db, onPostgres } from '../../db/database.js';
import { precompiled, precompiledByShape, rowParameters } from '../../db/precompiled.js';
import { type MergeMode, mergeRule } from './merge-rule.js';

/**
 * A change to one hour of one counter's history. `add`: units added (negative to give units
 * back); `max`: a reading the hour keeps if it is the largest; `latest`: a reading the hour keeps
 * if it was observed last.
 */
export interface HistoryChange {
  customerId: string;
  feature: string;
  /** The counter the usage went to (`usage_counters.period_start`). */
  periodStart: number;
  /** The start of the UTC hour. */
  bucketStart: number;
  mode: MergeMode;
  amount: number;
  /** latest: when `amount` was observed. */
  observedAt: number;
}

/** How a change to a counter of this aggregation is kept in its hour. */
export function historyMode(aggregation: MeterAggregation): HistoryChange['mode'] {
  return aggregation === 'max' || aggregation === 'latest' ? aggregation : 'add';
}

// 7 values a row: 400 rows stay well inside SQLite's and PostgreSQL's bind-parameter limits.
const rowsPerStatement = 400;

/**
 * Records history changes in as few statements as the modes allow (one upsert per mode and 400
 * rows), so concurrent writers compose as the counters' own upserts do (no read-then-write).
 * Callers run this in the transaction that changes the counter: an hour never holds usage that
 * its counter does not, nor the other way round. At most one change per hour and counter in a
 * call (an upsert may touch a row once), as a batch's combined changes are.
 */
export async function recordHistory(db: Db, input: { changes: Iterable<HistoryChange>; now: number }): Promise<void> {
  const byMode = new Map<HistoryChange['mode'], HistoryChange[]>();
  for (const change of input.changes) {
    if (change.mode === 'add' && change.amount === 0) continue;
    const list = byMode.get(change.mode) ?? [];
    list.push(change);
    byMode.set(change.mode, list);
  }
  for (const [mode, changes] of byMode) {
    const only = changes.length === 1 ? changes[0] : undefined;
    if (only && mode === 'add') {
      // One consume's or reservation's units: the statement every grant runs, precompiled.
      const { customerId, feature, bucketStart, periodStart, amount } = only;
      await db.executeQuery(
        addOneHour(db, customerId, feature, bucketStart, periodStart, amount, null, input.now, input.now),
      );
      continue;
    }
    if (onPostgres(db)) {
      const column = <T>(value: (change: HistoryChange) => T) => changes.map(value);
      await db.executeQuery(
        historyFromArrays[mode](
          db,
          input.now,
          column((c) => c.customerId),
          column((c) => c.feature),
          column((c) => c.bucketStart),
          column((c) => c.periodStart),
          column((c) => c.amount),
          column((c) => (mode === 'latest' ? c.observedAt : null)),
          input.now,
        ),
      );
      continue;
    }
    for (let start = 0; start < changes.length; start += rowsPerStatement) {
      const rows = changes.slice(start, start + rowsPerStatement).map((change) => ({
        customer_id: change.customerId,
        feature: change.feature,
        bucket_start: change.bucketStart,
        period_start: change.periodStart,
        value: change.amount,
        latest_at: mode === 'latest' ? change.observedAt : null,
        updated_at: input.now,
      }));
      await db.executeQuery(upsertHistoryQuery(db, { mode, rows, now: input.now }));
    }
  }
}

interface HistoryUpsertRow {
  customer_id: string;
  feature: string;
  bucket_start: number;
  period_start: number;
  value: number;
  latest_at: number | null;
  updated_at: number;
}

/** A history row's columns, in the order the insert lists them. */
const historyColumns = [
  'customer_id',
  'feature',
  'bucket_start',
  'period_start',
  'value',
  'latest_at',
  'updated_at',
] as const;

/** The multi-row history upsert, compiled once per mode and row count (see precompiledByShape). */
const upsertHistoryQuery = precompiledByShape(
  (db: Db, input: { mode: HistoryChange['mode']; rows: HistoryUpsertRow[]; now: number }) => {
    const { mode, rows, now } = input;
    return db
      .insertInto('usage_history')
      .values(rows)
      .onConflict((oc) =>
        oc
          .columns(['customer_id', 'feature', 'bucket_start', 'period_start'])
          .doUpdateSet(mergeRule('usage_history', mode, now)),
      );
  },
  (input) => `${input.mode}:${input.rows.length}`,
  (input) => rowParameters(input.rows, historyColumns, input.now),
);

/**
 * PostgreSQL: the history upsert of any number of rows, bound as one array a column: one text per
 * mode, kept prepared (see `precompiled`).
 */
function upsertFromArrays(mode: HistoryChange['mode']) {
  return precompiled(
    (
      db: Db,
      now: number,
      customers: string[],
      features: string[],
      buckets: number[],
      periods: number[],
      values: number[],
      latestAt: (number | null)[],
      updatedAt: number,
    ) =>
      db
        .insertInto('usage_history')
        .columns(['customer_id', 'feature', 'bucket_start', 'period_start', 'value', 'latest_at', 'updated_at'])
        .expression(
          sql`select *, ${now}::bigint from unnest(${customers}::text[], ${features}::text[], ${buckets}::bigint[],
                                                 ${periods}::bigint[], ${values}::float8[], ${latestAt}::bigint[])`,
        )
        .onConflict((oc) =>
          oc
            .columns(['customer_id', 'feature', 'bucket_start', 'period_start'])
            .doUpdateSet(mergeRule('usage_history', mode, updatedAt)),
        ),
  );
}
const historyFromArrays = {
  add: upsertFromArrays('add'),
  max: upsertFromArrays('max'),
  latest: upsertFromArrays('latest'),
};

/** Adds to one hour of one counter's history. Parameters in SQL order. */
const addOneHour = precompiled(
  (
    db: Db,
    customerId: string,
    feature: string,
    bucketStart: number,
    periodStart: number,
    amount: number,
    latestAt: null,
    now: number,
    updatedAt: number,
  ) =>
    db
      .insertInto('usage_history')
      .values({
        customer_id: customerId,
        feature,
        bucket_start: bucketStart,
        period_start: periodStart,
        value: amount,
        latest_at: latestAt,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.columns(['customer_id', 'feature', 'bucket_start', 'period_start']).doUpdateSet((eb) => ({
          value: eb(eb.ref('usage_history.value'), '+', eb.ref('excluded.value')),
          updated_at: updatedAt,
        })),
      ),
);

/**
 * Lowers every hour of one counter that holds more than `level` to it: what a `max` counter's
 * history needs when the counter itself goes down (a released hold), so that the largest hour
 * is still the counter.
 */
export async function lowerHistory(
  db: Db,
  input: { customerId: string; feature: string; periodStart: number; level: number; now: number },
): Promise<void> {
  await db
    .updateTable('usage_history')
    .set({ value: input.level, updated_at: input.now })
    .where('customer_id', '=', input.customerId)
    .where('feature', '=', input.feature)
    .where('period_start', '=', input.periodStart)
    .where('value', '>', input.level)
    .execute();
}

/**
 * One customer's stored hours of a feature in [from, to), one row per hour; only the hours of
 * counters whose period starts in `periods` ([from, to], inclusive, as `readUsage` reads them)
 * when given. Hours of several counters (a billing period starting mid-hour, a rolling window's
 * minutes) are combined here for the aggregations that add or take the largest; `latest` keeps
 * every row, for the caller to pick the last observation.
 */
export async function readHistory(
  db: Db,
  input: {
    customerId: string;
    feature: string;
    aggregation: MeterAggregation;
    from: number;
    to: number;
    periods: { from: number; to: number } | null;
  },
): Promise<HistoryRow[]> {
  let query = db
    .selectFrom('usage_history')
    .where('customer_id', '=', input.customerId)
    .where('feature', '=', input.feature)
    .where('bucket_start', '>=', input.from)
    .where('bucket_start', '<', input.to);
  if (input.periods) {
    query = query.where('period_start', '>=', input.periods.from).where('period_start', '<=', input.periods.to);
  }
  const mode = historyMode(input.aggregation);
  if (mode === 'latest') {
    const rows = await query.select(['bucket_start', 'value', 'latest_at']).execute();
    return rows.map((row) => ({
      hour: Number(row.bucket_start),
      value: Number(row.value),
      latestAt: row.latest_at === null ? null : Number(row.latest_at),
    }));
  }
  const rows = await query
    .select((eb) => ['bucket_start', (mode === 'max' ? eb.fn.max('value') : eb.fn.sum<number>('value')).as('value')])
    .groupBy('bucket_start')
    .execute();
  return rows.map((row) => ({ hour: Number(row.bucket_start), value: Number(row.value), latestAt: null }));
}

/**
 * A `unique_count` meter's history over a rolling window, from the distinct values themselves:
 * each value that one-minute buckets starting in `periods` (inclusive) saw counts once, in the
 * hour of the first of them — what `readUsage` counts for a window, spread over hours in [from, to).
 */
export async function readWindowDistinctHistory(
  db: Db,
  input: { customerId: string; feature: string; from: number; to: number; periods: { from: number; to: number } },
): Promise<HistoryRow[]> {
  const firsts = db
    .selectFrom('usage_distinct')
    .where('customer_id', '=', input.customerId)
    .where('feature', '=', input.feature)
    .where('period_start', '>=', input.periods.from)
    .where('period_start', '<=', input.periods.to)
    .groupBy('value')
    .select((eb) => eb.fn.min('period_start').as('first_seen'));
  const rows = await db
    .selectFrom(firsts.as('firsts'))
    .select((eb) => [
      eb(eb.ref('firsts.first_seen'), '-', eb(eb.ref('firsts.first_seen'), '%', hourMs)).as('hour'),
      eb.fn.countAll<number>().as('value'),
    ])
    .groupBy('hour')
    .execute();
  return rows
    .map((row) => ({ hour: Number(row.hour), value: Number(row.value), latestAt: null }))
    .filter((row) => row.hour >= input.from && row.hour < input.to);
}

/** The first hour with history for one counter (a usage that never resets), or null when none. */
export async function firstHistoryHour(
  db: Db,
  input: { customerId: string; feature: string; periodStart: number },
): Promise<number | null> {
  const row = await db
    .selectFrom('usage_history')
    .where('customer_id', '=', input.customerId)
    .where('feature', '=', input.feature)
    .where('period_start', '=', input.periodStart)
    .select((eb) => eb.fn.min('bucket_start').as('first'))
    .executeTakeFirst();
  return row?.first === null || row?.first === undefined ? null : Number(row.first);
}
