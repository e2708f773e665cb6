import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Checkpoints of the audit trail (modules/audit/checkpoints.ts): a `seq` of the chain with its
 * hash, the rows held up to it and when, signed with Ed25519 when a key is configured. `manual`
 * ones are made for an auditor to keep outside the database; a `retention` one is made in the
 * transaction that prunes the rows up to it, and verification then starts from the latest of
 * those instead of from the genesis hash. One retention checkpoint per `seq`: two nodes pruning
 * the same rows at once collide on it, and one of them rolls back.
 */
export function auditCheckpoints(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('count', 'bigint', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('signature', 'text')
        .addColumn('public_key', 'text')
        .execute();
      await db.schema.createIndex('audit_checkpoints_seq').on('audit_checkpoints').column('seq').execute();
      await sql`create unique index audit_checkpoints_retention on audit_checkpoints (seq) where reason = 'retention'`.execute(
        db,
      );
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('audit_checkpoints').execute();
    },
  };
}
