import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asOwner, createTestDatabase, type TestDatabase, testDialects } from '../test-support/databases.js';
import { type DatabaseHandle, openDatabase } from './database.js';
import { keepPrepared } from './prepared.js';

describe.runIf(testDialects.includes('postgres'))('statements kept prepared on PostgreSQL', () => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    await asOwner(database.target, async (owner) => {
      await owner.db.executeQuery(CompiledQuery.raw('create table prepared_probe (id int primary key, name text)'));
      await owner.db.executeQuery(CompiledQuery.raw("insert into prepared_probe values (1, 'one'), (2, 'two')"));
    });
    if (database.target.dialect !== 'postgres') throw new Error('a PostgreSQL database was expected');
    handle = openDatabase({ ...database.target, poolSize: 1 });
  });
  afterAll(async () => {
    await handle?.close();
    await database?.drop();
  });

  const text = 'select * from prepared_probe where id = $1';
  const read = async (id: number) => (await handle.db.executeQuery(CompiledQuery.raw(text, [id]))).rows;
  const prepared = async () =>
    (
      await handle.db.executeQuery<{ name: string; statement: string }>(
        CompiledQuery.raw('select name, statement from pg_prepared_statements order by name'),
      )
    ).rows;

  it('runs a registered statement as a named one, prepared once per connection', async () => {
    expect(await read(1)).toEqual([{ id: 1, name: 'one' }]);
    expect(await prepared()).toEqual([]);
    keepPrepared(text);
    expect(await read(1)).toEqual([{ id: 1, name: 'one' }]);
    expect(await read(2)).toEqual([{ id: 2, name: 'two' }]);
    expect(await prepared()).toEqual([{ name: expect.stringMatching(/^km_\d+$/), statement: text }]);
  });

  it('prepares it again when a schema change alters what it returns, and answers', async () => {
    keepPrepared(text);
    expect(await read(1)).toEqual([{ id: 1, name: 'one' }]);
    // As another node's migration would, while this one serves.
    await asOwner(database.target, (owner) =>
      owner.db.executeQuery(CompiledQuery.raw("alter table prepared_probe add column note text default 'n'")),
    );
    expect(await read(1)).toEqual([{ id: 1, name: 'one', note: 'n' }]);
    expect(await read(2)).toEqual([{ id: 2, name: 'two', note: 'n' }]);
  });
});
