import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from './database.js';
import { createGroupCommit } from './group-commit.js';

let handle: DatabaseHandle | undefined;
let dir: string | undefined;
afterEach(async () => {
  await handle?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open() {
  dir = mkdtempSync(join(tmpdir(), 'km-group-'));
  handle = openDatabase({ dialect: 'sqlite', file: join(dir, 'db.sqlite') });
  await sql`create table t (k text primary key, v integer not null)`.execute(handle.db);
  return handle.db;
}

it('runs units queued together in one transaction, each in its own savepoint', async () => {
  const db = await open();
  const group = createGroupCommit(db as never);
  const seen: string[] = [];
  const results = await Promise.allSettled([
    group.run(async (tx) => {
      await sql`insert into t values ('a', 1)`.execute(tx);
      return 'a';
    }),
    group.run(async (tx) => {
      await sql`insert into t values ('b', 2)`.execute(tx);
      throw new Error('b fails after writing');
    }),
    group.run(async (tx) => {
      // Sees the earlier unit's write, not the failed one's.
      const rows = await sql<{ k: string }>`select k from t order by k`.execute(tx);
      seen.push(...rows.rows.map((row) => row.k));
      await sql`insert into t values ('c', 3)`.execute(tx);
      return 'c';
    }),
  ]);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect(seen).toEqual(['a']);
  const rows = await sql<{ k: string }>`select k from t order by k`.execute(db);
  expect(rows.rows.map((row) => row.k)).toEqual(['a', 'c']);
  // The queue goes on after a batch.
  await expect(group.run(async () => 'later')).resolves.toBe('later');
});
