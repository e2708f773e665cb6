import type { SelectQueryBuilder } from 'kysely';
import type { Dialect } from '../../db/database.js';

/**
 * Retrying what the outbox sends out (webhook deliveries, notification emails): the same
 * queue shape for each — a row `pending` with `next_attempt_at` due, claimed under a lease, then
 * done, retried after the schedule's next wait, or failed once the schedule is spent.
 */

/**
 * When a failed attempt is tried again: `at` plus the schedule's wait for the attempts made so
 * far (1 after the first), or null when the schedule is spent and the item has failed.
 *
 * @example
 * nextAttemptAt({ schedule: [60_000, 300_000], attempts: 1, at: 0 }); // → 60_000
 * nextAttemptAt({ schedule: [60_000, 300_000], attempts: 3, at: 0 }); // → null
 */
export function nextAttemptAt(input: { schedule: readonly number[]; attempts: number; at: number }): number | null {
  const wait = input.schedule[input.attempts - 1];
  return wait === undefined ? null : input.at + wait;
}

/**
 * The due rows a claim selects, locked for this transaction: on PostgreSQL `for update skip
 * locked`, so two nodes claiming at once never take the same row (each then leases what it took
 * by moving `next_attempt_at` past the lease). SQLite has one writer at a time and needs no lock.
 */
export function lockedForClaim<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  dialect: Dialect,
): SelectQueryBuilder<DB, TB, O> {
  return dialect === 'postgres' ? query.forUpdate().skipLocked() : query;
}

/**
 * Whether a claim would find anything due, asked on SQLite with a plain read before the claim's
 * write transaction: that transaction waits for the database's one write lock, and the wait blocks
 * this process's event loop (better-sqlite3 is synchronous), so a poll with nothing due must not
 * open one while another process writes. Always true on PostgreSQL, whose claim skips what others
 * hold and never blocks the loop.
 */
export async function worthClaiming<DB, TB extends keyof DB, O>(
  due: SelectQueryBuilder<DB, TB, O>,
  dialect: Dialect,
): Promise<boolean> {
  return dialect === 'postgres' || (await due.limit(1).executeTakeFirst()) !== undefined;
}
