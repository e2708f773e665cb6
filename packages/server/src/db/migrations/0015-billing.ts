import type { Kysely, Migration } from 'kysely';

/**
 * What the billing seam (`modules/billing/`) needs to apply a billing system's changes at most
 * once and never backwards, and what contracts keep of each revision.
 *
 * - `billing_links`: one row per subscription in a billing system (`source`, `external_id`: a
 *   Stripe `sub_…`, a contract's `<system>:<deal_id>`) naming the Keymaster subscription it
 *   drives and the ordering token of the last change applied to it. A change with a lower token
 *   is stale. The primary key makes two nodes creating the same link at once collide.
 * - `billing_changes`: the idempotency ids of the changes applied. The primary key is what makes
 *   a change delivered twice at the same moment (two nodes, two webhooks) apply once: the second
 *   insert fails and its transaction rolls back.
 * - `contract_revisions`: each applied revision of a contract, its first answer (a repeat answers
 *   it again) and the grants it created (a later revision revokes them).
 *
 * Every table names its customer, so erasing the customer erases them (`customerTables`).
 */
export function billing(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('billing_links')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('external_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('last_ordering', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('billing_links_pkey', ['source', 'external_id'])
        .execute();
      await db.schema.createIndex('billing_links_customer').on('billing_links').column('customer_id').execute();

      await db.schema
        .createTable('billing_changes')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('idempotency_id', 'text', (c) => c.notNull())
        .addColumn('external_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('ordering', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('applied_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('billing_changes_pkey', ['source', 'idempotency_id'])
        .execute();
      await db.schema.createIndex('billing_changes_customer').on('billing_changes').column('customer_id').execute();

      await db.schema
        .createTable('contract_revisions')
        .addColumn('system', 'text', (c) => c.notNull())
        .addColumn('deal_id', 'text', (c) => c.notNull())
        .addColumn('revision', 'bigint', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('subscription_id', 'text', (c) => c.notNull())
        .addColumn('grant_ids', 'text', (c) => c.notNull())
        .addColumn('answer', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('contract_revisions_pkey', ['system', 'deal_id', 'revision'])
        .execute();
      await db.schema
        .createIndex('contract_revisions_customer')
        .on('contract_revisions')
        .column('customer_id')
        .execute();
    },
  };
}
