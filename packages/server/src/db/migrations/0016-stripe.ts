import type { Kysely, Migration } from 'kysely';

/**
 * Stripe in (docs/stripe.md). `stripe_events` keeps every event Stripe delivered, as received,
 * before it is applied: the unique `event_id` is what applies an event once when Stripe delivers
 * it twice, even to two nodes at the same moment, and the stored payload is what `keymaster stripe
 * replay` applies again. Plans and customers name their Stripe counterparts.
 *
 * Numbered 0016 so that it does not collide with the billing seam's migration being written
 * beside it; migrations may land out of order (see `migrations` in migrate.ts).
 */
export function stripe(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('stripe_events')
        // Ours, time-sortable: the list's order (newest first) and cursor.
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('event_id', 'text', (c) => c.notNull().unique())
        .addColumn('type', 'text', (c) => c.notNull())
        // The event's `created`, in epoch ms: the order of changes to one subscription.
        .addColumn('created', 'bigint', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        // `received` until it is applied or recorded; then applied, duplicate, stale, ignored or failed.
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('detail', 'text')
        .addColumn('stripe_subscription', 'text')
        .addColumn('customer_id', 'text')
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addColumn('applied_at', 'bigint')
        .execute();
      await db.schema.createIndex('stripe_events_customer').on('stripe_events').column('customer_id').execute();
      await db.schema.alterTable('plan_versions').addColumn('stripe_product', 'text').execute();
      await db.schema
        .createIndex('plan_versions_stripe_product')
        .on('plan_versions')
        .column('stripe_product')
        .execute();
      await db.schema.alterTable('customers').addColumn('stripe_customer', 'text').execute();
      await db.schema.createIndex('customers_stripe_customer').on('customers').column('stripe_customer').execute();
    },
  };
}
