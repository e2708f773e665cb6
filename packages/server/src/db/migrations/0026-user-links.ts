import type { Kysely, Migration } from 'kysely';

/**
 * One-time links for console users (modules/users/links.ts): an invitation (an address and a
 * role, accepted with a password), a password reset (for one user) and the first start's setup
 * link (creates the first owner). Each is a random token kept only as its SHA-256, used once,
 * and good until `expires_at`.
 */
export function userLinks(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('user_links')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        // invitation | password_reset | setup
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('role', 'text')
        .addColumn('name', 'text')
        .addColumn('user_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
    },
  };
}
