import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';
import { createFeedTriggers } from '../dialect-sql.js';

/**
 * One-off credits: what is left of each `credit` grant, drawn once usage passes the period's
 * allowance and kept across period resets (see core's entitlements README). Written only under
 * the (customer, feature) usage lock, and announced on the change feed so every node's checks see
 * the new balance. Reservations remember which counter they hold units on (a feature drawing from
 * a pool holds credits of the pool) and, when credit grants paid for them, the allowance that was
 * in force, so settling gives back to the grants exactly what falls back below it.
 */
export function credits(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('credit_balances')
        .addColumn('grant_id', 'text', (c) => c.primaryKey())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('feature', 'text', (c) => c.notNull())
        .addColumn('remaining', 'double precision', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('credit_balances_customer')
        .on('credit_balances')
        .columns(['customer_id', 'feature'])
        .execute();
      await createFeedTriggers({
        db,
        dialect,
        sources: [{ table: 'credit_balances', scope: 'customer', customerColumn: 'customer_id' }],
      });
      await db.schema.alterTable('reservations').addColumn('counter_feature', 'text').execute();
      await db.schema.alterTable('reservations').addColumn('per_unit', 'double precision').execute();
      await db.schema.alterTable('reservations').addColumn('credit_allowance', 'bigint').execute();
    },
  };
}
