import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Usage history: what each change to a metered counter added, by UTC hour, written in the same
 * transaction as the counter so the hours of a period always add up to it. `period_start` is the
 * counter the usage went to (a period, a rolling window's one-minute bucket, or 0), so the hours
 * of exactly the counters a check reads can be summed even when a billing period starts mid-hour.
 * Not on the change feed: no answer of a check depends on it.
 *
 * Usage counted before this migration has no hours: each metered counter is carried over whole
 * into the hour of its last change, so a period's hours add up to its counter from the start.
 */
export function usageHistory(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('usage_history')
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('feature', 'text', (c) => c.notNull())
        .addColumn('bucket_start', 'bigint', (c) => c.notNull())
        .addColumn('period_start', 'bigint', (c) => c.notNull())
        .addColumn('value', 'double precision', (c) => c.notNull())
        .addColumn('latest_at', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_history_pk', ['customer_id', 'feature', 'bucket_start', 'period_start'])
        .execute();
      await sql`
        insert into usage_history (customer_id, feature, bucket_start, period_start, value, latest_at, updated_at)
        select c.customer_id, c.feature, c.updated_at - (c.updated_at % 3600000), c.period_start, c.value,
               c.latest_at, c.updated_at
        from usage_counters c join features f on f.key = c.feature
        where f.type = 'metered'`.execute(db);
    },
  };
}
