import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';
import { createFeedTriggers } from '../dialect-sql.js';

/**
 * Usage alerts (`modules/alerts/`).
 *
 * - `alert_rules`: what to watch. Writes announce themselves on the change feed as catalog
 *   changes, so every node's cached rules (and the planning thread's) are dropped and reloaded.
 * - `alert_firings`: one row per alert fired, keyed (rule, customer, feature, period start) —
 *   `rule_id` is `limit` for `usage.limit_reached`. The primary key is what makes an alert fire
 *   exactly once: every usage write that finds a rule met inserts the row if absent, in its own
 *   transaction, and only the writer whose insert went in emits the event. A later period has
 *   another key: the rule re-arms.
 *
 * Both name their customer (a rule on one customer, every firing), so erasure removes them.
 */
export function alertRules(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('alert_rules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('feature', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('value', 'bigint', (c) => c.notNull())
        .addColumn('plan', 'text')
        .addColumn('customer_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('alert_firings')
        .addColumn('rule_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('feature', 'text', (c) => c.notNull())
        .addColumn('period_start', 'bigint', (c) => c.notNull())
        .addColumn('fired_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('alert_firings_pkey', ['rule_id', 'customer_id', 'feature', 'period_start'])
        .execute();
      await db.schema.createIndex('alert_firings_customer').on('alert_firings').column('customer_id').execute();
      await createFeedTriggers({ db, dialect, sources: [{ table: 'alert_rules', scope: 'catalog' }] });
    },
  };
}
