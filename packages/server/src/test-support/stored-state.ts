import type { Db } from '../db/database.js';
import type { Database } from '../db/schema.js';
import type { TestServer } from './server.js';

const tables = ['features', 'plans', 'plan_versions', 'customers', 'subscriptions', 'grants'] as const;

/**
 * Every row of the tables that hold what clients create, in a stable order: compare it before
 * and after a request that must change nothing. (The change feed and idempotency records are
 * bookkeeping, and API keys have an advisory `last_used_at`; they are left out.)
 */
export async function storedState(server: TestServer): Promise<Record<string, unknown[]>> {
  const { db } = server.keymaster.database;
  const state: Record<string, unknown[]> = {};
  for (const table of tables) {
    const rows = await db.selectFrom(table).selectAll().execute();
    state[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return state;
}

/** How many rows each of `tables` holds: compare before and after a change that must write nothing. */
export async function rowCounts(db: Db, tables: readonly (keyof Database)[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    counts[table] = Number(row.n);
  }
  return counts;
}
