import { type Kysely, type Migration, sql } from 'kysely';
import type { Dialect } from '../database.js';
import { serialPrimaryKey } from '../dialect-sql.js';

/**
 * The lifecycle engine's state: what each subscription is waiting for (`next_due_at`, the
 * scheduler's queue — due work lives in the database, not in a timer), the instants it counts
 * from, the history of every change, and the outbox of domain events written in the same
 * transaction as the change they describe.
 */
export function lifecycle(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('subscriptions').addColumn('billing_anchor', 'bigint').execute();
      await sql`update subscriptions set billing_anchor = current_period_start`.execute(db);
      await db.schema
        .alterTable('subscriptions')
        .addColumn('trial_notice_sent', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.alterTable('subscriptions').addColumn('grace_ends_at', 'bigint').execute();
      await db.schema.alterTable('subscriptions').addColumn('resumes_at', 'bigint').execute();
      // Existing subscriptions are looked at once by the scheduler, which then stores the real instant.
      await db.schema.alterTable('subscriptions').addColumn('next_due_at', 'bigint').execute();
      await sql`update subscriptions set next_due_at = 0 where status in ('trialing', 'active', 'past_due', 'paused')`.execute(
        db,
      );
      await db.schema.createIndex('subscriptions_due').on('subscriptions').column('next_due_at').execute();

      await db.schema
        .createTable('subscription_history')
        .addColumn('seq', serialPrimaryKey(dialect))
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('reason', 'text')
        .addColumn('before', 'text')
        .addColumn('after', 'text', (c) => c.notNull())
        .addColumn('recorded_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('subscription_history_subscription')
        .on('subscription_history')
        .columns(['subscription_id', 'seq'])
        .execute();
      await db.schema
        .createIndex('subscription_history_customer')
        .on('subscription_history')
        .columns(['customer_id', 'at'])
        .execute();

      await db.schema
        .createTable('domain_events')
        .addColumn('seq', serialPrimaryKey(dialect))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('subscription_id', 'text')
        .addColumn('occurred_at', 'bigint', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('delivered_at', 'bigint')
        .execute();
    },
  };
}
