import { type Kysely, type Migration, sql } from 'kysely';
import type { Dialect } from '../database.js';
import { createFeedTriggers, serialPrimaryKey } from '../dialect-sql.js';

/** Catalog, customers, subscriptions, grants, API keys, idempotency records and the change feed. */
export function initial(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('features')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('unit', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('options', 'text')
        .addColumn('meter', 'text')
        .addColumn('credit_cost', 'text')
        .addColumn('targeting', 'text')
        .addColumn('variants', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('plans')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('plan_versions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('plan_key', 'text', (c) => c.notNull().references('plans.key'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('price_amount', 'bigint')
        .addColumn('price_currency', 'text')
        .addColumn('price_interval', 'text')
        .addColumn('trial_days', 'integer')
        .addColumn('entitlements', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('published_at', 'bigint')
        .addColumn('archived_at', 'bigint')
        .addUniqueConstraint('plan_versions_key_version', ['plan_key', 'version'])
        .execute();
      // At most one draft per plan: two concurrent edits cannot both open "the next version".
      await db.schema
        .createIndex('plan_versions_one_draft')
        .on('plan_versions')
        .column('plan_key')
        .unique()
        .where(sql.ref('status'), '=', 'draft')
        .execute();

      await db.schema
        .createTable('customers')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text')
        .addColumn('email', 'text')
        .addColumn('traits', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('subscriptions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('plan_key', 'text', (c) => c.notNull())
        .addColumn('plan_version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('current_period_start', 'bigint', (c) => c.notNull())
        .addColumn('current_period_end', 'bigint', (c) => c.notNull())
        .addColumn('billing_interval', 'text', (c) => c.notNull())
        .addColumn('trial_end', 'bigint')
        .addColumn('on_trial_end', 'text', (c) => c.notNull())
        .addColumn('cancel_at', 'bigint')
        .addColumn('canceled_at', 'bigint')
        .addColumn('ends_at', 'bigint')
        .addColumn('scheduled_change', 'text')
        .addColumn('add_ons', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('subscriptions_customer')
        .on('subscriptions')
        .columns(['customer_id', 'created_at'])
        .execute();
      // One live base subscription per customer, enforced by the database under any concurrency.
      await db.schema
        .createIndex('subscriptions_one_live')
        .on('subscriptions')
        .column('customer_id')
        .unique()
        .where(sql.ref('status'), 'in', ['trialing', 'active', 'past_due', 'paused'])
        .execute();

      await db.schema
        .createTable('grants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('feature', 'text', (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('terms', 'text', (c) => c.notNull())
        .addColumn('starts_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('grants_customer').on('grants').columns(['customer_id', 'id']).execute();

      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text')
        .addColumn('prefix', 'text', (c) => c.notNull())
        .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();

      await db.schema
        .createTable('idempotency_keys')
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('response_status', 'integer')
        .addColumn('response_body', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pk', ['scope', 'key'])
        .execute();
      await db.schema.createIndex('idempotency_keys_expiry').on('idempotency_keys').column('expires_at').execute();

      await db.schema
        .createTable('changes')
        .addColumn('seq', serialPrimaryKey(dialect))
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text')
        .execute();

      await createFeedTriggers({
        db,
        dialect,
        sources: [
          { table: 'features', scope: 'catalog' },
          { table: 'plan_versions', scope: 'catalog' },
          { table: 'customers', scope: 'customer', customerColumn: 'id' },
          { table: 'subscriptions', scope: 'customer', customerColumn: 'customer_id' },
          { table: 'grants', scope: 'customer', customerColumn: 'customer_id' },
          { table: 'api_keys', scope: 'api_keys', updateOf: ['revoked_at'] },
        ],
      });
    },
  };
}
