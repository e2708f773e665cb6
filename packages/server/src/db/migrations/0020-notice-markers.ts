import type { Kysely, Migration } from 'kysely';

/**
 * Markers that make two customer notices happen once, on any number of nodes (a conditional
 * update claims each): `credit_balances.expiry_noticed_at`, when `credits.expiring` was emitted
 * for a credit grant; `stripe_events.announced_at`, when a Stripe `invoice.payment_failed` was
 * announced as `payment.failed`.
 */
export function noticeMarkers(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('credit_balances').addColumn('expiry_noticed_at', 'bigint').execute();
      await db.schema.alterTable('stripe_events').addColumn('announced_at', 'bigint').execute();
    },
  };
}
