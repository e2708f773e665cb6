import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';
import { createFeedTriggers, dropFeedTriggers } from '../dialect-sql.js';

/**
 * A batch of events announces the usage of all its customers in one change row, `customer_ids`
 * (a JSON array), instead of one row per counter it wrote: a thousand-customer batch had every
 * node read a thousand rows. The counters' triggers become mutable for that (see
 * `muteFeedScope`); SQLite keeps the mute mark in `feed_muted`, PostgreSQL in a setting.
 */
export function usageBatches(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('changes').addColumn('customer_ids', 'text').execute();
      if (dialect === 'sqlite') {
        await db.schema
          .createTable('feed_muted')
          .addColumn('scope', 'text', (c) => c.primaryKey())
          .execute();
      }
      await dropFeedTriggers({ db, dialect, table: 'usage_counters' });
      await createFeedTriggers({
        db,
        dialect,
        sources: [{ table: 'usage_counters', scope: 'usage', customerColumn: 'customer_id', mutable: true }],
      });
    },
  };
}
