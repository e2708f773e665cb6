import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { runKeymaster } from '../test-support/cli.js';
import { appRole, createTestDatabase, type TestDatabase, testDialects } from '../test-support/databases.js';
import { startTestServerOn, type TestServer } from '../test-support/server.js';

describe('KEYMASTER_MIGRATION_DATABASE_URL', () => {
  it('is the role migrations run as, beside the one the server serves as', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://keymaster_app@db/keymaster',
      KEYMASTER_MIGRATION_DATABASE_URL: 'postgres://keymaster_owner@db/keymaster',
    });
    expect(config.database).toEqual({
      dialect: 'postgres',
      url: 'postgres://keymaster_app@db/keymaster',
      migrationUrl: 'postgres://keymaster_owner@db/keymaster',
    });
  });

  it('is refused without a PostgreSQL DATABASE_URL, or when it is not one itself', () => {
    expect(() => loadConfig({ KEYMASTER_MIGRATION_DATABASE_URL: 'postgres://owner@db/keymaster' })).toThrow(
      'KEYMASTER_MIGRATION_DATABASE_URL needs a postgres:// DATABASE_URL',
    );
    expect(() =>
      loadConfig({ DATABASE_URL: 'postgres://app@db/k', KEYMASTER_MIGRATION_DATABASE_URL: 'mysql://owner@db/k' }),
    ).toThrow('KEYMASTER_MIGRATION_DATABASE_URL must be a postgres:// URL');
  });
});

/**
 * The suites' servers connect as a role granted only DML on their schema (test-support/databases.ts),
 * as docs/deployment.md tells operators to: this proves they do, and that migrations then need the
 * owner's connection.
 */
describe.skipIf(!testDialects.includes('postgres'))('the server on PostgreSQL as a role that owns nothing', () => {
  let database: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    server = await startTestServerOn({ target: database.target });
  });
  afterAll(async () => {
    await server?.close();
    await database?.drop();
  });

  it('serves as the application role, whose every table is the owner’s', async () => {
    const { db } = server.keymaster.database;
    const who = await sql<{ user: string }>`select current_user as user`.execute(db);
    expect(who.rows[0]!.user).toBe(appRole);
    const owned = await sql<{ n: number }>`
      select count(*)::int as n from pg_tables where schemaname = current_schema() and tableowner = ${appRole}`.execute(
      db,
    );
    expect(owned.rows[0]!.n).toBe(0);
    const writes = await server.request({ method: 'PUT', url: '/v1/customers/acme', body: {} });
    expect(writes.statusCode).toBe(201);
  });

  it('cannot change the schema', async () => {
    const { db } = server.keymaster.database;
    await expect(sql`create table not_ours (id text)`.execute(db)).rejects.toMatchObject({ code: '42501' });
    await expect(sql`alter table customers add column extra text`.execute(db)).rejects.toMatchObject({
      code: '42501',
    });
    await expect(sql`truncate customers`.execute(db)).rejects.toMatchObject({ code: '42501' });
  });

  it('migrates a new database only through KEYMASTER_MIGRATION_DATABASE_URL (keymaster migrate)', async () => {
    const fresh = await createTestDatabase('postgres');
    try {
      const asApp = await runKeymaster(fresh.target, ['migrate'], {
        env: { KEYMASTER_MIGRATION_DATABASE_URL: undefined },
      });
      expect(asApp.code).not.toBe(0);
      expect(asApp.stderr).toMatch(/permission denied/);
      const asOwner = await runKeymaster(fresh.target, ['migrate']);
      expect(asOwner.stderr).toBe('');
      expect(asOwner.code).toBe(0);
      expect(asOwner.stdout).toMatch(/Success: 0001-initial/);
      expect((await runKeymaster(fresh.target, ['migrate'])).stdout).toMatch('Already up to date.');
      // Migrated, the database takes a server that has only the application role's connection.
      if (fresh.target.dialect !== 'postgres') throw new Error('a PostgreSQL target');
      const appOnly = await startTestServerOn({ target: { ...fresh.target, migrationUrl: undefined } });
      try {
        expect((await appOnly.request({ method: 'PUT', url: '/v1/customers/acme', body: {} })).statusCode).toBe(201);
      } finally {
        await appOnly.close();
      }
    } finally {
      await fresh.drop();
    }
  }, 60_000);
});
