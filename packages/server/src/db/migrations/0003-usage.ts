import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';
import { createFeedTriggers } from '../dialect-sql.js';

/**
 * Usage balances: one counter per customer, metered feature and period (`period_start` is the
 * start of the usage period, of a one-minute bucket for rolling windows, or 0 when usage never
 * resets), and the distinct values seen for `unique_count` meters. Counter writes are announced
 * on the change feed like every other write that changes an answer.
 */
export function usage(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('usage_counters')
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('feature', 'text', (c) => c.notNull())
        .addColumn('period_start', 'bigint', (c) => c.notNull())
        .addColumn('value', 'double precision', (c) => c.notNull())
        .addColumn('latest_at', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_counters_pk', ['customer_id', 'feature', 'period_start'])
        .execute();
      await db.schema
        .createTable('usage_distinct')
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('feature', 'text', (c) => c.notNull())
        .addColumn('period_start', 'bigint', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_distinct_pk', ['customer_id', 'feature', 'period_start', 'value'])
        .execute();
      await createFeedTriggers({
        db,
        dialect,
        sources: [{ table: 'usage_counters', scope: 'customer', customerColumn: 'customer_id' }],
      });
    },
  };
}
