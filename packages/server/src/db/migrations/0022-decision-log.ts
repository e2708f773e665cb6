import type { Kysely, Migration } from 'kysely';

/**
 * The decision log (docs/decisions.md): `features.decision_log` says which decisions of a feature
 * are kept (null: `denied`), and `decisions` keeps them — written in batches off the hot path,
 * read by customer and time, pruned after `KEYMASTER_DECISION_RETAIN_DAYS`.
 */
export function decisionLog(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('features').addColumn('decision_log', 'text').execute();
      await db.schema
        .createTable('decisions')
        // Time-sortable: the list's order and cursor.
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('feature', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        // `check` or `consume`.
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('allowed', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('quantity', 'bigint')
        .addColumn('usage', 'bigint')
        .addColumn('limit', 'bigint')
        // JSON: which layer decided (kill switch, grants, targeting, plan and version, default).
        .addColumn('provenance', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('decisions_customer_at').on('decisions').columns(['customer_id', 'at']).execute();
      await db.schema.createIndex('decisions_at').on('decisions').column('at').execute();
    },
  };
}
