import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, expect, it, vi } from 'vitest';
import { openSqliteConnection, statementCacheSize } from './database.js';

afterEach(() => {
  vi.restoreAllMocks();
});

it('keeps the SQLite statements used recently, dropping the least recently used past its size', async () => {
  const db = openSqliteConnection(':memory:');
  const prepare = vi.spyOn(SqliteDatabase.prototype, 'prepare');
  const prepared = () => prepare.mock.calls.map(([text]) => text);
  // Each number gives a statement of its own: the literal is in the text.
  const read = async (n: number) => {
    const { rows } = await sql<{ n: number }>`select ${sql.lit(n)} as n`.execute(db);
    expect(rows).toEqual([{ n }]);
  };
  try {
    for (let n = 0; n < statementCacheSize; n++) await read(n);
    expect(prepare).toHaveBeenCalledTimes(statementCacheSize);
    await read(0); // kept, and now the most recently used: 1 is the least
    await read(statementCacheSize); // one more than fits: 1 goes
    prepare.mockClear();
    await read(0);
    await read(2);
    await read(statementCacheSize);
    expect(prepared()).toEqual([]);
    await read(1);
    expect(prepared()).toEqual(['select 1 as n']);
  } finally {
    await db.destroy();
  }
});
