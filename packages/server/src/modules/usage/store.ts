import type { MeterAggregation } from '@keymaster/core';
import type { Db } from '../../db/database.js';

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
  /** unique_count: the distinct values seen. */
  distinct: Set<string>;
}

/**
 * Applies a batch's counter changes, each in one upsert so concurrent batches compose (no
 * read-then-write): sums add, maxima keep the larger, `latest` keeps the newest observation, and
 * `unique_count` adds only the values the distinct table had not seen in that period.
 */
export async function applyCounterChanges(
  db: Db,
  input: { changes: Iterable<CounterChange>; now: number },
): Promise<void> {
  for (const change of input.changes) {
    let amount = change.amount;
    if (change.aggregation === 'unique_count') {
      const values = [...change.distinct];
      if (values.length === 0) continue;
      const inserted = await db
        .insertInto('usage_distinct')
        .values(
          values.map((value) => ({
            customer_id: change.customerId,
            feature: change.feature,
            period_start: change.periodStart,
            value,
          })),
        )
        .onConflict((oc) => oc.doNothing())
        .returning('value')
        .execute();
      if (inserted.length === 0) continue;
      amount = inserted.length;
    }
    const row = {
      customer_id: change.customerId,
      feature: change.feature,
      period_start: change.periodStart,
      value: amount,
      latest_at: change.aggregation === 'latest' ? change.observedAt : null,
      updated_at: input.now,
    };
    await db
      .insertInto('usage_counters')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['customer_id', 'feature', 'period_start']).doUpdateSet((eb) => {
          const stored = eb.ref('usage_counters.value');
          const incoming = eb.ref('excluded.value');
          switch (change.aggregation) {
            case 'max':
              return {
                value: eb.case().when(incoming, '>', stored).then(incoming).else(stored).end(),
                updated_at: input.now,
              };
            case 'latest': {
              const newer = eb.or([
                eb('usage_counters.latest_at', 'is', null),
                eb(eb.ref('excluded.latest_at'), '>=', eb.ref('usage_counters.latest_at')),
              ]);
              return {
                value: eb.case().when(newer).then(incoming).else(stored).end(),
                latest_at: eb
                  .case()
                  .when(newer)
                  .then(eb.ref('excluded.latest_at'))
                  .else(eb.ref('usage_counters.latest_at'))
                  .end(),
                updated_at: input.now,
              };
            }
            default:
              return { value: eb(stored, '+', incoming), updated_at: input.now };
          }
        }),
      )
      .execute();
  }
}

/**
 * A metered feature's usage over the counters whose period starts in [from, to]: one counter for
 * a calendar or billing period (from = to), the one-minute buckets of a rolling window otherwise.
 * Buckets combine as their aggregation does: sums add, maxima take the largest, `latest` takes
 * the newest, and `unique_count` counts values distinct across the whole window.
 */
export async function readUsage(
  db: Db,
  input: { customerId: string; feature: string; aggregation: MeterAggregation; from: number; to: number },
): Promise<number> {
  const { customerId, feature, from, to } = input;
  const counters = db
    .selectFrom('usage_counters')
    .where('customer_id', '=', customerId)
    .where('feature', '=', feature)
    .where('period_start', '>=', from)
    .where('period_start', '<=', to);
  switch (input.aggregation) {
    case 'max': {
      const row = await counters.select((eb) => eb.fn.max('value').as('usage')).executeTakeFirst();
      return Number(row?.usage ?? 0);
    }
    case 'latest': {
      const row = await counters.select('value').orderBy('latest_at', 'desc').limit(1).executeTakeFirst();
      return Number(row?.value ?? 0);
    }
    case 'unique_count': {
      if (from === to) {
        const row = await counters.select('value').executeTakeFirst();
        return Number(row?.value ?? 0);
      }
      const row = await db
        .selectFrom('usage_distinct')
        .where('customer_id', '=', customerId)
        .where('feature', '=', feature)
        .where('period_start', '>=', from)
        .where('period_start', '<=', to)
        .select((eb) => eb.fn.count<number>('value').distinct().as('usage'))
        .executeTakeFirst();
      return Number(row?.usage ?? 0);
    }
    default: {
      const row = await counters.select((eb) => eb.fn.sum<number>('value').as('usage')).executeTakeFirst();
      return Number(row?.usage ?? 0);
    }
  }
}

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
    .onConflict((oc) => {
      const update = oc.columns(['customer_id', 'feature', 'period_start']).doUpdateSet((eb) => ({
        value: eb(eb.ref('usage_counters.value'), '+', eb.ref('excluded.value')),
        updated_at: input.now,
      }));
      if (limit === null) return update;
      if (credits <= 0) {
        return update.where((eb) => eb(eb(eb.ref('usage_counters.value'), '+', eb.ref('excluded.value')), '<=', limit));
      }
      return update.where((eb) => {
        const stored = eb.ref('usage_counters.value');
        const allowance = eb.case().when(stored, '>', limit).then(stored).else(eb.val(limit)).end();
        return eb(eb(stored, '+', eb.ref('excluded.value')), '<=', eb(allowance, '+', credits));
      });
    })
    .returning('value')
    .executeTakeFirst();
  return row ? Number(row.value) : null;
}
