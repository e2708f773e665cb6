import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';
import { createFeedTriggers, dropFeedTriggers } from '../dialect-sql.js';

/**
 * PostgreSQL: the usage counters' feed trigger gets a condition, so a row written while its
 * scope is muted (a batch announcing its customers in one change, see `muteFeedScope`) queues no
 * trigger call at all; before, the trigger function ran for every row to find it muted. SQLite's
 * triggers had their condition from the start.
 */
export function mutedFeedCondition(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return;
      await dropFeedTriggers({ db, dialect, table: 'usage_counters' });
      await createFeedTriggers({
        db,
        dialect,
        sources: [{ table: 'usage_counters', scope: 'usage', customerColumn: 'customer_id', mutable: true }],
      });
    },
  };
}
