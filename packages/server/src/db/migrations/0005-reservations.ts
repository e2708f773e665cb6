import type { Kysely, Migration } from 'kysely';

/**
 * Holds on usage: a reservation's units are added to its counter when it is granted (so they
 * count against the limit), and corrected when it is committed, released or expires.
 */
export function reservations(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('reservations')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('feature', 'text', (c) => c.notNull())
        .addColumn('period_start', 'bigint', (c) => c.notNull())
        .addColumn('quantity', 'bigint', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('committed_quantity', 'bigint')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('settled_at', 'bigint')
        .execute();
      await db.schema.createIndex('reservations_due').on('reservations').columns(['status', 'expires_at']).execute();
    },
  };
}
