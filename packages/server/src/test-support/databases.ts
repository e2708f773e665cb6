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
  await admin.query(`create schema ${schema}`);
  await admin.end();
  return {
    target: { dialect: 'postgres', url: postgresUrl, schema, poolSize: 5 },
    async drop() {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
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
