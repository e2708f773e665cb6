import type { Transaction } from 'kysely';
import type { Db } from './database.js';
import type { Database } from './schema.js';

/**
 * Runs `work` in a transaction — the caller's, when the service was built on one. Services
 * never care which: built on the database they open their own; re-bound to a transaction (a
 * catalog apply, a later batch) they join it, so several operations commit or fail together.
 */
export function withTransaction<T>(db: Db, work: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}
