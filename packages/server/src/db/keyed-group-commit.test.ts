import { sql } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { asOwner, createTestDatabase, describeEachDialect, type TestDatabase } from '../test-support/databases.js';
import { type DatabaseHandle, openDatabase } from './database.js';
import { createKeyedGroupCommit } from './group-commit.js';

describeEachDialect('keyed group commit', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  beforeEach(async () => {
    database = await createTestDatabase(dialect);
    // A table of the test's own: made by the schema's owner, used as the server's role.
    await asOwner(database.target, async ({ db }) => {
      await sql`create table t (k text primary key, v integer not null)`.execute(db);
    });
    handle = openDatabase(database.target);
    await sql`insert into t values ('hot', 0)`.execute(handle.db);
  });
  afterEach(async () => {
    await handle.close();
    await database.drop();
  });

  /** One unit: adds 1 to the hot row if it stays within `limit`, answering the value or null. */
  const addOne =
    (limit: number) => async (tx: Parameters<Parameters<ReturnType<typeof createKeyedGroupCommit>['run']>[1]>[0]) => {
      const rows = await sql<{
        v: number;
      }>`update t set v = v + 1 where k = 'hot' and v + 1 <= ${limit} returning v`.execute(tx);
      return rows.rows[0]?.v ?? null;
    };

  it('shares transactions between units of one key, in order, and never passes the limit', async () => {
    const group = createKeyedGroupCommit(handle.db as never);
    const results = await Promise.all(Array.from({ length: 50 }, () => group.run('hot', addOne(30))));
    expect(results.filter((v) => v !== null)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(results.slice(30)).toEqual(Array.from({ length: 20 }, () => null));
    const row = await sql<{ v: number }>`select v from t where k = 'hot'`.execute(handle.db);
    expect(Number(row.rows[0]!.v)).toBe(30);
  });

  it('runs every unit of a batch alone when one fails: the others keep their writes', async () => {
    const group = createKeyedGroupCommit(handle.db as never);
    const results = await Promise.allSettled([
      group.run('hot', addOne(100)),
      group.run('hot', addOne(100)),
      group.run('hot', async (tx) => {
        await addOne(100)(tx);
        throw new Error('fails after writing');
      }),
      group.run('hot', addOne(100)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'x'))).toEqual([1, 2, 'x', 3]);
    const row = await sql<{ v: number }>`select v from t where k = 'hot'`.execute(handle.db);
    expect(Number(row.rows[0]!.v)).toBe(3);
    await expect(group.run('hot', async () => 'later')).resolves.toBe('later');
  });
});
