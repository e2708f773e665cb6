import { describe, expect, it } from 'vitest';
import { describeEachDialect, useMigratedDatabase } from '../test-support/databases.js';
import { openDatabase } from './database.js';
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
  const database = useMigratedDatabase(dialect);

  it('read as many rows as the literal limit says', async () => {
    await database()
      .db.insertInto('changes')
      .values([{ scope: 'catalog' }, { scope: 'catalog' }, { scope: 'catalog' }])
      .execute();
    const rows = await database()
      .db.selectFrom('changes')
      .select('seq')
      .orderBy('seq')
      .limit(literalLimit(2))
      .execute();
    expect(rows).toHaveLength(2);
  });

  // SQLite prepares a statement with a bound LIMIT again on every run: the statement cache
  // refuses one, so that a store written the slow way fails its tests rather than quietly costing.
  it.runIf(dialect === 'sqlite')('refuses a bound limit on SQLite', async () => {
    await expect(database().db.selectFrom('changes').select('seq').limit(2).execute()).rejects.toThrow(/literalLimit/);
  });
});
