import type { Kysely, Migration } from 'kysely';

/**
 * The audit trail (modules/audit): `audit_events`, one row per change in the change's own
 * transaction, each hash committing to the row and to the previous row's hash; `audit_head`, the
 * one row holding the chain's last `seq` and hash, which every append reads and moves under its
 * lock — so appends from several processes line up one after another, in `seq` order.
 *
 * What a row says about a person (`data`: the change's before and after, the client's address)
 * is covered by its digest, not by the hash directly: erasing a customer empties their rows'
 * `data` and the chain still verifies.
 */
export function auditEvents(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_events')
        .addColumn('seq', 'bigint', (c) => c.primaryKey())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor_type', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text', (c) => c.notNull())
        .addColumn('request_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target_type', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text')
        .addColumn('data', 'text')
        .addColumn('data_digest', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_events_customer').on('audit_events').column('customer_id').execute();
      await db.schema
        .createIndex('audit_events_target')
        .on('audit_events')
        .columns(['target_type', 'target_id'])
        .execute();
      await db.schema
        .createTable('audit_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await (db as Kysely<{ audit_head: { id: number; seq: number; hash: string } }>)
        .insertInto('audit_head')
        .values({ id: 1, seq: 0, hash: '0'.repeat(64) })
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('audit_head').execute();
      await db.schema.dropTable('audit_events').execute();
    },
  };
}
