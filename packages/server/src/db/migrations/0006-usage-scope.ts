import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';
import { createFeedTriggers, dropFeedTriggers } from '../dialect-sql.js';

/**
 * Counter writes get a change-feed scope of their own. Announced as `customer` changes, every
 * consume or event batch dropped the customer's whole cached snapshot (subscriptions, grants,
 * resolution) and the next check reloaded it; as `usage` changes only the cached balances are
 * dropped, and the next check re-reads one counter.
 */
export function usageScope(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await dropFeedTriggers({ db, dialect, table: 'usage_counters' });
      await createFeedTriggers({
        db,
        dialect,
        sources: [{ table: 'usage_counters', scope: 'usage', customerColumn: 'customer_id' }],
      });
    },
  };
}
