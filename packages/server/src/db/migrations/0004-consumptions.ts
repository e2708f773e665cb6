import type { Kysely, Migration } from 'kysely';

/** The answers to consumes sent with an idempotency key, so a retry counts once. */
export function consumptions(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('consumptions')
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('idempotency_key', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('response', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('consumptions_pk', ['customer_id', 'idempotency_key'])
        .execute();
    },
  };
}
