import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';
import { createFeedTriggers, dropFeedTriggers } from '../dialect-sql.js';

/**
 * API keys get scopes (a JSON array of scope names, see modules/users/permissions.ts) and an
 * optional expiry. Keys made before scopes existed could do everything, so they keep `admin`.
 * Setting an expiry (rolling a key) reaches every node through the change feed, like a revocation.
 */
export function apiKeyScopes(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('api_keys')
        .addColumn('scopes', 'text', (c) => c.notNull().defaultTo('["admin"]'))
        .execute();
      await db.schema.alterTable('api_keys').addColumn('expires_at', 'bigint').execute();
      await dropFeedTriggers({ db, dialect, table: 'api_keys' });
      await createFeedTriggers({
        db,
        dialect,
        sources: [{ table: 'api_keys', scope: 'api_keys', updateOf: ['revoked_at', 'expires_at'] }],
      });
    },
  };
}
