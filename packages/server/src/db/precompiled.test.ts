import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../test-support/databases.js';
import { type DatabaseHandle, openDatabase } from './database.js';
import { migrateToLatest } from './migrate.js';
import { literalLimit } from './precompiled.js';

describe('literalLimit', () => {
  it('writes the limit into the SQL text, not as a parameter', () => {
    const handle = openDatabase({ dialect: 'sqlite', file: ':memory:' });
    const compiled = handle.db
      .selectFrom('changes')
      .select('seq')
      .where('seq', '>', 7)
      .limit(literalLimit(1000))
      .compile();
    expect(compiled.sql).toMatch(/ limit 1000$/);
    expect(compiled.parameters).toEqual([7]);
    void handle.close();
  });

  it('takes whole numbers only', () => {
    for (const bad of [1.5, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => literalLimit(bad)).toThrow(/whole number/);
    }
  });
});

describeEachDialect('row limits', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.target);
    await migrateToLatest(handle);
  });
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });

  it('read as many rows as the literal limit says', async () => {
    await handle.db
      .insertInto('changes')
      .values([{ scope: 'catalog' }, { scope: 'catalog' }, { scope: 'catalog' }])
      .execute();
    const rows = await handle.db.selectFrom('changes').select('seq').orderBy('seq').limit(literalLimit(2)).execute();
    expect(rows).toHaveLength(2);
  });

  // SQLite prepares a statement with a bound LIMIT again on every run: the statement cache
  // refuses one, so that a store written the slow way fails its tests rather than quietly costing.
  it.runIf(dialect === 'sqlite')('refuses a bound limit on SQLite', async () => {
    await expect(handle.db.selectFrom('changes').select('seq').limit(2).execute()).rejects.toThrow(/literalLimit/);
  });
});
