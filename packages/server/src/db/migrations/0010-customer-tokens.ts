import type { Kysely, Migration } from 'kysely';

/**
 * Server-wide settings every node must agree on. The first is the key customer tokens are signed
 * with (unless KEYMASTER_TOKEN_SECRET supplies one): a token minted by one node must verify on
 * every other, so the key lives where all of them read it, created by whichever starts first.
 */
export function customerTokens(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}
