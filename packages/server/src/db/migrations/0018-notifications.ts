import { type Kysely, type Migration, sql } from 'kysely';

/**
 * In-app notifications to customers (`modules/notifications/`).
 *
 * - `notifications`: one row per outbox event that concerns the customer (an alert, a trial
 *   ending, a plan change, a cancellation or expiry), made by the `notifications` consumer of the
 *   outbox. `event_id` is unique: an event becomes at most one notification, however often it is
 *   read. `read_at` is null until the customer (or the operator) marks it read.
 * - Its cursor in `outbox_consumers` starts at the end of the outbox: customers are not told
 *   today about what happened before notifications existed.
 *
 * Rows name their customer, so erasure removes them.
 */
export function notifications(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('notifications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull().unique())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('title', 'text', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('read_at', 'bigint')
        .execute();
      // Listing pages through a customer's notifications by id (ids sort by creation).
      await db.schema
        .createIndex('notifications_customer')
        .on('notifications')
        .columns(['customer_id', 'id'])
        .execute();
      await sql`insert into outbox_consumers (name, position, updated_at)
        select 'notifications', coalesce(max(seq), 0), 0 from domain_events`.execute(db);
    },
  };
}
