import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe } from 'vitest';
import { type DatabaseHandle, type DatabaseTarget, openDatabase } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';

/** A fresh, empty database for one test suite, and how to throw it away. */
export interface TestDatabase {
  target: DatabaseTarget;
  drop(): Promise<void>;
}

export type TestDialect = 'sqlite' | 'postgres';

const postgresUrl = process.env.TEST_DATABASE_URL;

if (!postgresUrl && !process.env.KEYMASTER_QUIET_SKIP) {
  console.warn('TEST_DATABASE_URL is not set: the PostgreSQL runs of the storage and HTTP suites are skipped.');
}

/** Every dialect the suites run against: SQLite always, PostgreSQL when TEST_DATABASE_URL is set. */
export const testDialects: TestDialect[] = postgresUrl ? ['sqlite', 'postgres'] : ['sqlite'];

export async function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'keymaster-test-'));
    return {
      target: { dialect: 'sqlite', file: join(dir, 'test.db') },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (!postgresUrl) throw new Error('TEST_DATABASE_URL is not set');
  // One schema per suite: suites run in parallel without seeing each other's rows.
  const schema = `km_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  try {
    await ensureAppRole(admin);
    // As in production (docs/deployment.md#postgresql-roles): TEST_DATABASE_URL's role owns the
    // schema and migrates it; the suite's server connects as a role that may only use the schema
    // and read and write the rows of its tables, so code that needs more at run time fails here.
    await admin.query(`create schema ${schema}`);
    await admin.query(`grant usage on schema ${schema} to ${appRole}`);
    await admin.query(
      `alter default privileges in schema ${schema} grant select, insert, update, delete on tables to ${appRole}`,
    );
    await admin.query(`alter default privileges in schema ${schema} grant usage, select on sequences to ${appRole}`);
  } finally {
    await admin.end();
  }
  const appUrl = new URL(postgresUrl);
  appUrl.username = appRole;
  appUrl.password = '';
  return {
    target: { dialect: 'postgres', url: appUrl.toString(), schema, poolSize: 5, migrationUrl: postgresUrl },
    async drop() {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
}

/**
 * The login role the suites' servers connect as on PostgreSQL: no superuser, owns nothing, and is
 * granted only DML on each suite's schema. It needs no password: the test database trusts local
 * connections (as CI's does).
 */
export const appRole = 'keymaster_test_app';

async function ensureAppRole(admin: pg.Client): Promise<void> {
  const exists = await admin.query('select 1 from pg_roles where rolname = $1', [appRole]);
  if (exists.rowCount) return;
  try {
    await admin.query(`create role ${appRole} login nosuperuser nocreatedb nocreaterole noinherit`);
  } catch (error) {
    // Suites start in parallel: another may have made it meanwhile (42710 duplicate_object, or
    // 23505 when both inserts raced on the catalog's index).
    const code = (error as { code?: string }).code;
    if (code !== '42710' && code !== '23505') throw error;
  }
}

/** A fresh database of the dialect with the schema migrated: for server processes to start on. */
export async function createMigratedTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  const database = await createTestDatabase(dialect);
  const handle = openDatabase(database.target);
  try {
    await migrateToLatest(handle);
  } finally {
    await handle.close();
  }
  return database;
}

/**
 * Runs `work` on a connection as the role that owns the test database's schema (TEST_DATABASE_URL's),
 * for what a suite does that the server may not: create a table of its own, say. On SQLite, the file.
 */
export async function asOwner<T>(target: DatabaseTarget, work: (handle: DatabaseHandle) => Promise<T>): Promise<T> {
  const handle = openDatabase(
    target.dialect === 'postgres' && target.migrationUrl !== undefined
      ? { dialect: 'postgres', url: target.migrationUrl, schema: target.schema, poolSize: 1 }
      : target,
  );
  try {
    return await work(handle);
  } finally {
    await handle.close();
  }
}

/** Runs a suite once per dialect, named after it. */
export function describeEachDialect(name: string, suite: (dialect: TestDialect) => void): void {
  for (const dialect of testDialects) describe(`${name} [${dialect}]`, () => suite(dialect));
}

/**
 * A fresh database of the dialect, opened and migrated before the suite's tests and thrown away
 * after them: call at the top of a suite, read the handle inside its tests.
 */
export function useMigratedDatabase(dialect: TestDialect): () => DatabaseHandle {
  let database: TestDatabase | undefined;
  let handle: DatabaseHandle | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.target);
    await migrateToLatest(handle);
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });
  return () => {
    if (!handle) throw new Error("the test database is opened before the suite's tests run");
    return handle;
  };
}
