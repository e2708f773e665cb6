import type { Transaction } from 'kysely';
import type { Db } from './database.js';
import type { Database } from './schema.js';

/**
 * Run first in the transaction of a write made for a request sent with an `Idempotency-Key`: it
 * records in that transaction that the request took effect (see `http/idempotency.ts`), so that a
 * crash between the commit and the stored answer can never make a retry do the write again. It
 * throws when the request no longer owns its key, which rolls the write back.
 */
export type EffectClaim = (tx: Transaction<Database>) => Promise<void>;

/** The work with the claim run first in its transaction, or the work itself without a claim. */
export function claimed<T>(
  work: (tx: Transaction<Database>) => Promise<T>,
  claim: EffectClaim | undefined,
): (tx: Transaction<Database>) => Promise<T> {
  if (claim === undefined) return work;
  return async (tx) => {
    await claim(tx);
    return work(tx);
  };
}

/**
 * Runs `work` in a transaction — the caller's, when the service was built on one. Services
 * never care which: built on the database they open their own; re-bound to a transaction (a
 * catalog apply, a later batch) they join it, so several operations commit or fail together.
 * A write made for a request with an `Idempotency-Key` passes `{ db, claim }`: the claim commits
 * with the work.
 */
export function withTransaction<T>(
  on: Db | { db: Db; claim: EffectClaim | undefined },
  work: (tx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  const { db, claim } = 'isTransaction' in on ? { db: on, claim: undefined } : on;
  const run = claimed(work, claim);
  return db.isTransaction ? run(db as Transaction<Database>) : db.transaction().execute(run);
}
