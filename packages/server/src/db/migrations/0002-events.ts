import type { Kysely, Migration } from 'kysely';

/**
 * Usage events, stored once each: `(source, id)` is the identity (`""` for plain API events, the
 * CloudEvents source otherwise), so a retried batch cannot count an event twice.
 */
export function events(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('events')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('timestamp', 'bigint', (c) => c.notNull())
        .addColumn('properties', 'text', (c) => c.notNull())
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('events_pk', ['source', 'id'])
        .execute();
      await db.schema
        .createIndex('events_customer_time')
        .on('events')
        .columns(['customer_id', 'type', 'timestamp'])
        .execute();
    },
  };
}
