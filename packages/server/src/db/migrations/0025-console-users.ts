import type { Kysely, Migration } from 'kysely';

/**
 * The people who use the console (modules/users): `users`, each with a role and a scrypt
 * password hash, and `user_sessions`, the signed-in browsers — each a random token kept only as
 * its SHA-256 (the cookie holds the token), the CSRF token every state-changing request of the
 * session must echo, and when it expires.
 */
export function consoleUsers(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        // Lower-cased: one account per address, however it is typed.
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text')
        // owner | admin | support | finance | viewer
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('user_sessions')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('csrf_token', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('user_sessions_user').on('user_sessions').column('user_id').execute();
    },
  };
}
