import type { Kysely, Migration } from 'kysely';
import type { Dialect } from '../database.js';
import { serialPrimaryKey } from '../dialect-sql.js';

/**
 * Audit rows waiting to be sealed into the chain (modules/audit/sealer.ts). A change's
 * transaction inserts its row here — one statement, no lock — and the sealer, one at a time
 * across nodes under the head's lock, gives committed rows their `seq` and hash in `audit_events`
 * and deletes them here. `data` is the change's JSON as written (canonicalised when sealed).
 */
export function auditPending(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_pending')
        // The order rows are sealed in, as far as their commits allow (see the sealer).
        .addColumn('id', serialPrimaryKey(dialect))
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor_type', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target_type', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text')
        .addColumn('data', 'text')
        .execute();
    },
  };
}
