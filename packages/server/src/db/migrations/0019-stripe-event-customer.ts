import type { Kysely, Migration } from 'kysely';

/**
 * The Stripe customer each stored Stripe event is about (`stripe_events.stripe_customer`), so that
 * erasing a customer also erases the events that name them only by their Stripe id — an event
 * recorded as ignored before any Keymaster customer was linked to it still carries their name
 * and email in its payload.
 */
export function stripeEventCustomer(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('stripe_events').addColumn('stripe_customer', 'text').execute();
      await db.schema
        .createIndex('stripe_events_stripe_customer')
        .on('stripe_events')
        .column('stripe_customer')
        .execute();
    },
  };
}
