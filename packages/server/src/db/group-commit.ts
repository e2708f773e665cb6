import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

interface Job {
  work: (tx: Transaction<Database>) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const savepoint = CompiledQuery.raw('savepoint km_job');
const release = CompiledQuery.raw('release savepoint km_job');
const rollbackTo = CompiledQuery.raw('rollback to savepoint km_job');

/**
 * Group commit for SQLite: the units of work queued while a transaction runs (or in the same
 * tick) share the next `begin immediate … commit`. SQLite has one writer and its commit costs
 * more than a consume's own statements; one commit for many writes is most of the difference.
 * Nothing changes for each unit: it runs alone in its own savepoint, after the ones before it
 * (so a conditional upsert sees every earlier unit's write, as with separate transactions); a
 * unit that fails is rolled back to its savepoint and rejected without touching the others; and
 * every unit is answered only once the shared transaction has committed — or rejected, each of
 * them, if it did not.
 */
export function createGroupCommit(db: Kysely<Database>) {
  let queue: Job[] = [];
  let running = false;

  async function runBatch(jobs: Job[]): Promise<void> {
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      await db.transaction().execute(async (tx) => {
        for (const job of jobs) {
          await tx.executeQuery(savepoint);
          try {
            const value = await job.work(tx);
            await tx.executeQuery(release);
            outcomes.push({ ok: true, value });
          } catch (error) {
            await tx.executeQuery(rollbackTo);
            await tx.executeQuery(release);
            outcomes.push({ ok: false, value: error });
          }
        }
      });
    } catch (error) {
      for (const job of jobs) job.reject(error);
      return;
    }
    jobs.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.value);
    });
  }

  async function drain(): Promise<void> {
    running = true;
    try {
      while (queue.length > 0) {
        const jobs = queue;
        queue = [];
        await runBatch(jobs);
      }
    } finally {
      running = false;
    }
  }

  return {
    run<T>(work: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
        // The first unit of an idle queue waits a tick so that those arriving with it join it.
        if (!running) {
          running = true;
          setImmediate(() => void drain());
        }
      });
    },
  };
}
