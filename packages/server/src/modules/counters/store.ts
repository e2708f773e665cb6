import type { MeterAggregation } from '@keymaster/core';
import { CompiledQuery, sql } from 'kysely';
import { type DatabaseHandle, type Db, onPostgres } from '../../db/database.js';
import { precompiled, precompiledByShape, rowParameters } from '../../db/precompiled.js';
import { keepPrepared } from '../../db/prepared.js';
import { type HistoryChange, historyMode, recordHistory } from './history-store.js';
import { type MergeMode, mergeRule } from './merge-rule.js';

/** What a batch adds to one hour of a counter, combined as the counter combines. */
export interface HourChange {
  amount: number;
  observedAt: number;
}

/** The change one batch makes to one counter, already combined across the batch's events. */
export interface CounterChange {
  customerId: string;
  feature: string;
  periodStart: number;
  aggregation: MeterAggregation;
  /** count / sum: the amount to add; max: the largest amount seen; latest: the newest amount. */
  amount: number;
  /** latest: when `amount` was observed. */
  observedAt: number;
  /** unique_count: the distinct values seen, each with the hour of its earliest event in the batch. */
  distinct: Map<string, number>;
  /** The same change by the UTC hour of the events' timestamps (count, sum, max, latest). */
  hours: Map<number, HourChange>;
}

type UpsertKind = MergeMode;

/** Counter rows a statement: 6 values each, well inside both databases' bind-parameter limits. */
const countersPerStatement = 500;
/** Distinct-value rows a statement (4 values each). */
const distinctPerStatement = 1000;

/** One counter's identity, as a map key. */
export function counterKey(customerId: string, feature: string, periodStart: number): string {
  return `${customerId}\u0000${feature}\u0000${periodStart}`;
}

/** A one-period counter's identity. */
export interface CounterId {
  customerId: string;
  feature: string;
  periodStart: number;
}

/** Orders counters as every multi-row write of them does (see `applyCounterChanges`). */
export function byCounterId(a: CounterId, b: CounterId): number {
  if (a.customerId !== b.customerId) return a.customerId < b.customerId ? -1 : 1;
  if (a.feature !== b.feature) return a.feature < b.feature ? -1 : 1;
  return a.periodStart - b.periodStart;
}

/**
 * Applies a batch's counter changes in a few multi-row upserts (one per kind of update, in
 * chunks) so concurrent batches compose (no read-then-write): sums add, maxima keep the larger,
 * `latest` keeps the newest observation, and `unique_count` adds only the values the distinct
 * table had not seen in that period. A batch touches hundreds of counters; one statement each
 * cost more than the rest of the batch. Rows go in one order (customer, feature, period, value),
 * so two batches sharing counters lock them in the same order and cannot deadlock on PostgreSQL.
 * Each change's hours go to the usage history in the same transaction (the caller's); a new
 * unique value counts in the hour of the event that brought it. On PostgreSQL it answers the
 * values of the counters it wrote, keyed by `counterKey`; on SQLite nothing (reading one back
 * there costs no round trip).
 */
export async function applyCounterChanges(
  db: Db,
  input: { changes: Iterable<CounterChange>; now: number },
): Promise<Map<string, number>> {
  // PostgreSQL: the values the upserts left, keyed by `counterKey` (see `countersFromArrays`).
  const written = new Map<string, number>();
  const changes = [...input.changes].sort(byCounterId);
  const newlySeen = await insertDistinctValues(db, changes);
  const rows: Record<UpsertKind, CounterRow[]> = { add: [], max: [], latest: [] };
  const history: HistoryChange[] = [];
  for (const change of changes) {
    let amount = change.amount;
    const hourChange = (bucketStart: number, hour: HourChange): HistoryChange => ({
      customerId: change.customerId,
      feature: change.feature,
      periodStart: change.periodStart,
      bucketStart,
      mode: historyMode(change.aggregation),
      ...hour,
    });
    if (change.aggregation === 'unique_count') {
      const values = newlySeen.get(counterKey(change.customerId, change.feature, change.periodStart)) ?? [];
      if (values.length === 0) continue;
      amount = values.length;
      const newByHour = new Map<number, number>();
      for (const value of values) {
        const hour = change.distinct.get(value)!;
        newByHour.set(hour, (newByHour.get(hour) ?? 0) + 1);
      }
      for (const [hour, count] of newByHour) history.push(hourChange(hour, { amount: count, observedAt: hour }));
    } else {
      for (const [hour, hourly] of change.hours) history.push(hourChange(hour, hourly));
    }
    const kind: UpsertKind = change.aggregation === 'max' ? 'max' : change.aggregation === 'latest' ? 'latest' : 'add';
    rows[kind].push({
      customer_id: change.customerId,
      feature: change.feature,
      period_start: change.periodStart,
      value: amount,
      latest_at: change.aggregation === 'latest' ? change.observedAt : null,
      updated_at: input.now,
    });
  }
  for (const kind of ['add', 'max', 'latest'] as const) {
    const all = rows[kind];
    if (all.length > 0 && onPostgres(db)) {
      const column = <K extends keyof CounterRow>(name: K) => all.map((row) => row[name]);
      const { rows: values } = await db.executeQuery<CounterValueRow>(
        countersFromArrays[kind](
          db,
          input.now,
          column('customer_id'),
          column('feature'),
          column('period_start'),
          column('value'),
          column('latest_at'),
          input.now,
        ),
      );
      for (const [key, value] of valuesByKey(values)) written.set(key, value);
      continue;
    }
    for (let start = 0; start < all.length; start += countersPerStatement) {
      await upsertCounters(db, { kind, rows: all.slice(start, start + countersPerStatement), now: input.now });
    }
  }
  await recordHistory(db, { changes: history, now: input.now });
  return written;
}

interface CounterRow {
  customer_id: string;
  feature: string;
  period_start: number;
  value: number;
  latest_at: number | null;
  updated_at: number;
}

/** Stores the unique_count values not seen before and answers which were new, per counter. */
async function insertDistinctValues(db: Db, changes: CounterChange[]): Promise<Map<string, string[]>> {
  const newlySeen = new Map<string, string[]>();
  const rows: { customer_id: string; feature: string; period_start: number; value: string }[] = [];
  for (const change of changes) {
    if (change.aggregation !== 'unique_count') continue;
    for (const value of [...change.distinct.keys()].sort()) {
      rows.push({ customer_id: change.customerId, feature: change.feature, period_start: change.periodStart, value });
    }
  }
  for (let start = 0; start < rows.length; start += distinctPerStatement) {
    const inserted = await db
      .insertInto('usage_distinct')
      .values(rows.slice(start, start + distinctPerStatement))
      .onConflict((oc) => oc.doNothing())
      .returning(['customer_id', 'feature', 'period_start', 'value'])
      .execute();
    for (const row of inserted) {
      const key = counterKey(row.customer_id, row.feature, Number(row.period_start));
      const values = newlySeen.get(key);
      if (values) values.push(row.value);
      else newlySeen.set(key, [row.value]);
    }
  }
  return newlySeen;
}

async function upsertCounters(db: Db, input: { kind: UpsertKind; rows: CounterRow[]; now: number }): Promise<void> {
  await db.executeQuery(upsertCountersQuery(db, input));
}

/** A counter row's columns, in the order the insert lists them. */
const counterColumns = ['customer_id', 'feature', 'period_start', 'value', 'latest_at', 'updated_at'] as const;

/** The multi-row counter upsert, compiled once per kind and row count (see precompiledByShape). */
const upsertCountersQuery = precompiledByShape(
  (db: Db, input: { kind: UpsertKind; rows: CounterRow[]; now: number }) => {
    const { kind, now } = input;
    return db
      .insertInto('usage_counters')
      .values(input.rows)
      .onConflict((oc) =>
        oc.columns(['customer_id', 'feature', 'period_start']).doUpdateSet(mergeRule('usage_counters', kind, now)),
      );
  },
  (input) => `${input.kind}:${input.rows.length}`,
  (input) => rowParameters(input.rows, counterColumns, input.now),
);

/**
 * PostgreSQL: the counter upsert of any number of rows, bound as one array a column: one text per
 * kind of update, kept prepared (see `precompiled`), where a multi-row insert is planned anew for
 * every batch and takes a statement per 500 rows. It answers the values it left, which the alert
 * check of a batch would otherwise read again.
 */
function upsertFromArrays(kind: UpsertKind) {
  return precompiled(
    (
      db: Db,
      now: number,
      customers: string[],
      features: string[],
      periods: number[],
      values: number[],
      latestAt: (number | null)[],
      updatedAt: number,
    ) =>
      db
        .insertInto('usage_counters')
        .columns(['customer_id', 'feature', 'period_start', 'value', 'latest_at', 'updated_at'])
        .expression(
          sql`select *, ${now}::bigint from unnest(${customers}::text[], ${features}::text[], ${periods}::bigint[],
                                                 ${values}::float8[], ${latestAt}::bigint[])`,
        )
        .onConflict((oc) =>
          oc
            .columns(['customer_id', 'feature', 'period_start'])
            .doUpdateSet(mergeRule('usage_counters', kind, updatedAt)),
        )
        .returning(['customer_id', 'feature', 'period_start', 'value']),
  );
}
const countersFromArrays = {
  add: upsertFromArrays('add'),
  max: upsertFromArrays('max'),
  latest: upsertFromArrays('latest'),
};

/**
 * A metered feature's usage over the counters whose period starts in [from, to]: one counter for
 * a calendar or billing period (from = to), the one-minute buckets of a rolling window otherwise.
 * Buckets combine as their aggregation does: sums add, maxima take the largest, `latest` takes
 * the newest, and `unique_count` counts values distinct across the whole window.
 */
export async function readUsage(db: Db, input: UsageRead): Promise<number> {
  const { rows } = await db.executeQuery(usageQuery(db, input));
  return usageFrom(rows);
}

/**
 * The usage of many one-period counters (a window of one period, `from === to`) in one statement:
 * for every aggregation, one period's usage is its counter's value. Keyed by `counterKey`; a
 * counter with no row is absent (no usage). A batch of events watching a thousand customers'
 * limits reads them in one round trip rather than a thousand.
 *
 * `lock` (PostgreSQL): the rows are locked too (`for update`, in `byCounterId` order, so two
 * transactions locking overlapping sets cannot deadlock); a counter with no row is not locked:
 * whoever creates it first wins.
 */
export async function readCounterValues(
  db: Db,
  counters: readonly CounterId[],
  options: { lock?: boolean } = {},
): Promise<Map<string, number>> {
  if (counters.length === 0) return new Map();
  const locking = options.lock
    ? sql`order by customer_id collate "C", feature collate "C", period_start for update`
    : sql``;
  const { rows } = await sql<CounterValueRow>`
    select customer_id, feature, period_start, value from usage_counters
    where (customer_id, feature, period_start) in (
      select * from unnest(${counters.map((c) => c.customerId)}::text[], ${counters.map((c) => c.feature)}::text[],
                           ${counters.map((c) => c.periodStart)}::bigint[]))
    ${locking}`.execute(db);
  return valuesByKey(rows);
}

type CounterValueRow = { customer_id: string; feature: string; period_start: number | string; value: number };

function valuesByKey(rows: readonly CounterValueRow[]): Map<string, number> {
  const values = new Map<string, number>();
  for (const row of rows)
    values.set(counterKey(row.customer_id, row.feature, Number(row.period_start)), Number(row.value));
  return values;
}

/**
 * PostgreSQL: adds units to many counters in one upsert (rows in the order given: pass them in
 * `byCounterId` order) and answers each counter's new value, keyed by `counterKey`. No limit is
 * checked here: the caller has decided under `readCounterValues`' lock and compares the values.
 */
export async function addToCounters(
  db: Db,
  input: { adds: readonly (CounterId & { quantity: number })[]; now: number },
): Promise<Map<string, number>> {
  const { adds, now } = input;
  if (adds.length === 0) return new Map();
  const { rows } = await sql<CounterValueRow>`
    insert into usage_counters as stored (customer_id, feature, period_start, value, latest_at, updated_at)
    select customer_id, feature, period_start, quantity, null, ${now}::bigint
    from unnest(${adds.map((a) => a.customerId)}::text[], ${adds.map((a) => a.feature)}::text[],
                ${adds.map((a) => a.periodStart)}::bigint[], ${adds.map((a) => a.quantity)}::float8[])
         as added(customer_id, feature, period_start, quantity)
    on conflict (customer_id, feature, period_start)
    do update set value = stored.value + excluded.value, updated_at = excluded.updated_at
    returning customer_id, feature, period_start, value`.execute(db);
  return valuesByKey(rows);
}

/** Units for one counter in `addWithinLimits`, with what bounds them. */
export interface BoundedAdd extends CounterId {
  quantity: number;
  /** The counter may not pass it (null: no limit). */
  limit: number | null;
  /** The counter must stay below it (null: no bound), e.g. where an alert would fire. */
  below: number | null;
  /** The usage history hour the units go to. */
  bucketStart: number;
}

/**
 * PostgreSQL, one statement in a transaction of its own (run it outside any): adds each
 * counter's units where the counter stays within `limit` and below `below`, all of a counter's
 * units or none, and answers the new values of the counters it added to, keyed by `counterKey`.
 * With them, in the same statement: the units to each counter's usage-history hour, and one
 * change-feed row naming every customer moved (the counters' own triggers muted, as
 * `announcingUsageOnce` does). At most one counter per customer: the bounds are found by customer.
 * One round trip in all, where a transaction around the same writes takes five.
 */
export async function addWithinLimits(
  db: Db,
  input: { adds: readonly BoundedAdd[]; now: number },
): Promise<Map<string, number>> {
  const { adds, now } = input;
  if (adds.length === 0) return new Map();
  const customers = adds.map((a) => a.customerId);
  const limits = adds.map((a) => a.limit);
  const below = adds.map((a) => a.below);
  const { rows } = await db.executeQuery<CounterValueRow>(
    CompiledQuery.raw(addWithinLimitsText, [
      customers,
      adds.map((a) => a.feature),
      adds.map((a) => a.periodStart),
      adds.map((a) => a.quantity),
      limits,
      below,
      adds.map((a) => a.bucketStart),
      now,
    ]),
  );
  return valuesByKey(rows);
}

// $1 customers, $2 features, $3 period starts, $4 quantities, $5 limits, $6 bounds below,
// $7 history hours, $8 now. Rows are written in one order (see `byCounterId`); the `muted` row
// is read by the insert, so its `set_config` runs before the counters' triggers, which fire at
// the statement's end.
const addWithinLimitsText = `
with muted as (select set_config('keymaster.muted_scope', 'usage', true)),
batch as (
  select * from unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::bigint[])
    as batch(customer_id, feature, period_start, quantity, max_value, below, bucket_start)
),
added as (
  insert into usage_counters as stored (customer_id, feature, period_start, value, latest_at, updated_at)
  select customer_id, feature, period_start, quantity, null, $8::bigint from batch cross join muted
  where coalesce(quantity <= max_value, true) and coalesce(quantity < below, true)
  order by customer_id collate "C", feature collate "C", period_start
  on conflict (customer_id, feature, period_start) do update
    set value = stored.value + excluded.value, updated_at = excluded.updated_at
    where coalesce(stored.value + excluded.value <= ($5::float8[])[array_position($1::text[], excluded.customer_id)], true)
      and coalesce(stored.value + excluded.value < ($6::float8[])[array_position($1::text[], excluded.customer_id)], true)
  returning customer_id, feature, period_start, value
),
history as (
  insert into usage_history as kept (customer_id, feature, bucket_start, period_start, value, latest_at, updated_at)
  select added.customer_id, added.feature, batch.bucket_start, added.period_start, batch.quantity, null, $8::bigint
  from added join batch on batch.customer_id = added.customer_id
  order by added.customer_id collate "C", added.feature collate "C", added.period_start
  on conflict (customer_id, feature, bucket_start, period_start) do update
    set value = kept.value + excluded.value, updated_at = excluded.updated_at
),
announced as (
  insert into changes (scope, customer_id, customer_ids)
  select 'usage', case when count(*) = 1 then min(customer_id) end,
         case when count(*) > 1 then json_agg(customer_id)::text end
  from added having count(*) > 0
)
select customer_id, feature, period_start, value from added`;
keepPrepared(addWithinLimitsText);

/**
 * `readUsage` at once on SQLite's read-only connection (see DatabaseHandle.readNow): the last
 * committed figure, without waiting behind a transaction in progress. Undefined where there is no
 * such connection or it is busy; read through `readUsage` then.
 */
export function readUsageNow(database: DatabaseHandle, input: UsageRead): number | undefined {
  if (database.readNow === undefined) return undefined;
  const rows = database.readNow(usageQuery(database.db, input));
  return rows === undefined ? undefined : usageFrom(rows as UsageRow[]);
}

type UsageRead = { customerId: string; feature: string; aggregation: MeterAggregation; from: number; to: number };
type UsageRow = { usage: number | string | bigint | null };

const usageFrom = (rows: readonly UsageRow[]) => Number(rows[0]?.usage ?? 0);

function usageQuery(db: Db, input: UsageRead): CompiledQuery<UsageRow> {
  const { customerId, feature, from, to } = input;
  // Checks read a counter after every usage change announced for their customer: these are
  // compiled once (see precompiled.ts), as a query built per read cost more than SQLite's work.
  switch (input.aggregation) {
    case 'max':
      return readMax(db, customerId, feature, from, to);
    case 'latest':
      return readLatest(db, customerId, feature, from, to);
    case 'unique_count':
      // One period: the counter holds the distinct count; a window: count across its buckets.
      return from === to ? readSum(db, customerId, feature, from, to) : readDistinct(db, customerId, feature, from, to);
    default:
      return readSum(db, customerId, feature, from, to);
  }
}

type CounterRange = [db: Db, customerId: string, feature: string, from: number, to: number];

const countersIn = (...[db, customerId, feature, from, to]: CounterRange) =>
  db
    .selectFrom('usage_counters')
    .where('customer_id', '=', customerId)
    .where('feature', '=', feature)
    .where('period_start', '>=', from)
    .where('period_start', '<=', to);

const readSum = precompiled((...range: CounterRange) =>
  countersIn(...range).select((eb) => eb.fn.sum<number>('value').as('usage')),
);
const readMax = precompiled((...range: CounterRange) =>
  countersIn(...range).select((eb) => eb.fn.max('value').as('usage')),
);
const readLatest = precompiled((...range: CounterRange) =>
  countersIn(...range)
    .select('value as usage')
    .orderBy('latest_at', 'desc')
    .limit(1),
);
const readDistinct = precompiled((...[db, customerId, feature, from, to]: CounterRange) =>
  db
    .selectFrom('usage_distinct')
    .where('customer_id', '=', customerId)
    .where('feature', '=', feature)
    .where('period_start', '>=', from)
    .where('period_start', '<=', to)
    .select((eb) => eb.fn.count<number>('value').distinct().as('usage')),
);

/** Where a gauge's level lives: one counter that never resets. */
export const gaugePeriodStart = 0;

/**
 * Sets a gauge, or moves it by `delta` — in one conditional statement, so concurrent adjustments
 * compose and none can take the level below zero. Answers the new level, or null when the change
 * would have made it negative (nothing is written then).
 */
export async function adjustGauge(
  db: Db,
  input: { customerId: string; feature: string; set?: number | undefined; delta?: number | undefined; now: number },
): Promise<number | null> {
  const delta = input.delta ?? 0;
  if (input.set === undefined && delta < 0) {
    // Lowering needs a level to lower: an update, never an insert of a negative level.
    const lowered = await db
      .updateTable('usage_counters')
      .set((eb) => ({ value: eb('value', '+', delta), updated_at: input.now }))
      .where('customer_id', '=', input.customerId)
      .where('feature', '=', input.feature)
      .where('period_start', '=', gaugePeriodStart)
      .where((eb) => eb(eb('value', '+', delta), '>=', 0))
      .returning('value')
      .executeTakeFirst();
    return lowered ? Number(lowered.value) : null;
  }
  const start = input.set ?? delta;
  if (start < 0) return null;
  const row = await db
    .insertInto('usage_counters')
    .values({
      customer_id: input.customerId,
      feature: input.feature,
      period_start: gaugePeriodStart,
      value: start,
      latest_at: null,
      updated_at: input.now,
    })
    .onConflict((oc) => {
      const target = oc.columns(['customer_id', 'feature', 'period_start']);
      if (input.set !== undefined) return target.doUpdateSet({ value: input.set, updated_at: input.now });
      return target
        .doUpdateSet((eb) => ({
          value: eb(eb.ref('usage_counters.value'), '+', input.delta ?? 0),
          updated_at: input.now,
        }))
        .where((eb) => eb(eb(eb.ref('usage_counters.value'), '+', input.delta ?? 0), '>=', 0));
    })
    .returning('value')
    .executeTakeFirst();
  return row ? Number(row.value) : null;
}

/** The upsert that adds units to a counter; with `limit`, the update applies only within it. */
function addCounterQuery(
  db: Db,
  customerId: string,
  feature: string,
  periodStart: number,
  quantity: number,
  latestAt: null,
  now: number,
  updatedAt: number,
  limit?: number,
) {
  return db
    .insertInto('usage_counters')
    .values({
      customer_id: customerId,
      feature,
      period_start: periodStart,
      value: quantity,
      latest_at: latestAt,
      updated_at: now,
    })
    .onConflict((oc) => {
      const update = oc
        .columns(['customer_id', 'feature', 'period_start'])
        .doUpdateSet(mergeRule('usage_counters', 'add', updatedAt));
      return limit === undefined
        ? update
        : update.where((eb) => eb(eb(eb.ref('usage_counters.value'), '+', eb.ref('excluded.value')), '<=', limit));
    });
}

/** Adds units to a counter whatever it holds; answers the new value. Parameters in SQL order. */
const addUnlimited = precompiled(
  (
    db: Db,
    customerId: string,
    feature: string,
    periodStart: number,
    quantity: number,
    latestAt: null,
    now: number,
    updatedAt: number,
  ) => addCounterQuery(db, customerId, feature, periodStart, quantity, latestAt, now, updatedAt).returning('value'),
);

/** Adds units to a counter only if that keeps it within `limit`; answers the new value, or no row. */
const addLimited = precompiled(
  (
    db: Db,
    customerId: string,
    feature: string,
    periodStart: number,
    quantity: number,
    latestAt: null,
    now: number,
    updatedAt: number,
    limit: number,
  ) =>
    addCounterQuery(db, customerId, feature, periodStart, quantity, latestAt, now, updatedAt, limit).returning('value'),
);

/**
 * Records `quantity` units in one counter if that keeps it within `limit` (null: no limit), in a
 * single conditional upsert — never a read-then-write that two callers could both pass. Answers
 * the counter's new value, or null when the units would pass the limit (nothing is written).
 *
 * With `credits` (units left on one-off credit grants, read under the usage lock): the units fit
 * when what is left of the limit plus the credits covers them — `value + quantity <= max(value,
 * limit) + credits`, since usage already past the limit was paid by credits.
 */
export async function addWithinLimit(
  db: Db,
  input: {
    customerId: string;
    feature: string;
    periodStart: number;
    quantity: number;
    limit: number | null;
    credits?: number;
    now: number;
  },
): Promise<number | null> {
  const { limit, quantity } = input;
  const credits = input.credits ?? 0;
  if (limit !== null && quantity > limit + credits) return null;
  // The common cases (no limit; a limit without credits) run precompiled: they are every
  // consume's and reservation's statement.
  const query =
    limit === null
      ? addUnlimited(db, input.customerId, input.feature, input.periodStart, quantity, null, input.now, input.now)
      : credits <= 0
        ? addLimited(
            db,
            input.customerId,
            input.feature,
            input.periodStart,
            quantity,
            null,
            input.now,
            input.now,
            limit,
          )
        : null;
  if (query) {
    const result = await db.executeQuery<{ value: number }>(query);
    const first = result.rows[0];
    return first ? Number(first.value) : null;
  }
  const row = await db
    .insertInto('usage_counters')
    .values({
      customer_id: input.customerId,
      feature: input.feature,
      period_start: input.periodStart,
      value: quantity,
      latest_at: null,
      updated_at: input.now,
    })
    .onConflict((oc) =>
      oc
        .columns(['customer_id', 'feature', 'period_start'])
        .doUpdateSet((eb) => ({
          value: eb(eb.ref('usage_counters.value'), '+', eb.ref('excluded.value')),
          updated_at: input.now,
        }))
        .where((eb) => {
          const stored = eb.ref('usage_counters.value');
          const allowance = eb.case().when(stored, '>', limit).then(stored).else(eb.val(limit)).end();
          return eb(eb(stored, '+', eb.ref('excluded.value')), '<=', eb(allowance, '+', credits));
        }),
    )
    .returning('value')
    .executeTakeFirst();
  return row ? Number(row.value) : null;
}
