import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeAll, expect, it, vi } from 'vitest';
import { describeEachDialect, useMigratedDatabase } from '../test-support/databases.js';
import type { Db } from './database.js';
import { precompiled } from './precompiled.js';

const seqsAfter = precompiled((db: Db, cursor: number) =>
  db.selectFrom('changes').select('seq').where('seq', '>', cursor).orderBy('seq').limit(2),
);

describeEachDialect('row limits', (dialect) => {
  const database = useMigratedDatabase(dialect);
  let seqs: number[] = [];

  beforeAll(async () => {
    await database()
      .db.insertInto('changes')
      .values([{ scope: 'catalog' }, { scope: 'catalog' }, { scope: 'catalog' }, { scope: 'catalog' }])
      .execute();
    const rows = await database().db.selectFrom('changes').select('seq').orderBy('seq').execute();
    seqs = rows.map((row) => row.seq);
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('reads as many rows as .limit(n) says, from where .offset(n) says', async () => {
    const { db } = database();
    const firstTwo = await db.selectFrom('changes').select('seq').orderBy('seq').limit(2).execute();
    expect(firstTwo.map((row) => row.seq)).toEqual(seqs.slice(0, 2));
    const nextThree = await db.selectFrom('changes').select('seq').orderBy('seq').limit(3).offset(1).execute();
    expect(nextThree.map((row) => row.seq)).toEqual(seqs.slice(1, 4));
  });

  it('reads a limit inside a subquery', async () => {
    const { db } = database();
    const rows = await db
      .selectFrom('changes')
      .select('seq')
      .where('seq', 'in', db.selectFrom('changes').select('seq').orderBy('seq', 'desc').limit(2))
      .orderBy('seq')
      .execute();
    expect(rows.map((row) => row.seq)).toEqual(seqs.slice(2));
  });

  it('reads a limit in a precompiled query', async () => {
    const { db } = database();
    expect((await db.executeQuery(seqsAfter(db, seqs[0]!))).rows).toEqual([{ seq: seqs[1] }, { seq: seqs[2] }]);
    expect((await db.executeQuery(seqsAfter(db, seqs[1]!))).rows).toEqual([{ seq: seqs[2] }, { seq: seqs[3] }]);
  });

  it('reads a limit through a transaction', async () => {
    const rows = await database()
      .db.transaction()
      .execute((trx) => trx.selectFrom('changes').select('seq').orderBy('seq').limit(1).execute());
    expect(rows).toEqual([{ seq: seqs[0] }]);
  });

  it('reads a limit on the read-only connection', () => {
    const { db, readNow } = database();
    if (!readNow) return;
    expect(readNow(db.selectFrom('changes').select('seq').orderBy('seq').limit(1).compile())).toEqual([
      { seq: seqs[0] },
    ]);
  });

  // SQLite (3.51, as better-sqlite3 ships it) plans a statement around a bound LIMIT's value, so
  // it prepares such a statement again every time it runs — more work than a small read itself.
  it.runIf(dialect === 'sqlite')('keeps one prepared statement per distinct limit on SQLite', async () => {
    const { db } = database();
    const prepare = vi.spyOn(SqliteDatabase.prototype, 'prepare');
    const read = (limit: number) =>
      db.selectFrom('changes').select(['seq', 'scope']).where('scope', '=', 'catalog').limit(limit).execute();
    for (const limit of [2, 3, 2, 3, 2]) expect(await read(limit)).toHaveLength(limit);
    const prepared = prepare.mock.calls.map(([text]) => text);
    expect(prepared).toEqual([
      'select "seq", "scope" from "changes" where "scope" = ? limit 2',
      'select "seq", "scope" from "changes" where "scope" = ? limit 3',
    ]);
  });

  it.runIf(dialect === 'sqlite')('still runs a limit bound in raw SQL', async () => {
    const { rows } = await sql<{ seq: number }>`select seq from changes order by seq limit ${2}`.execute(database().db);
    expect(rows.map((row) => row.seq)).toEqual(seqs.slice(0, 2));
  });
});
