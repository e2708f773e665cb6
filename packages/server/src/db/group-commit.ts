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

interface KeyedJob extends Job {
  key: string;
}

/** How many units one keyed batch takes at most, so that none waits behind a long one. */
const keyedBatchLimit = 200;

/**
 * Group commit for PostgreSQL, by key: units of work with the same key (a consume's customer
 * and counter feature) queued while that key's transaction runs share the next transaction.
 * On a hot row each transaction holds the row lock until its commit is flushed, so one commit
 * per unit bounds a customer to about one unit per flush; sharing the commit lifts that bound.
 *
 * What the database enforces is unchanged: every unit runs its own statements (the conditional
 * upsert that refuses to pass a limit) in order in the shared transaction, so each sees the
 * units before it, and any number of processes still serialise on the row lock. A batch touches
 * only the rows one unit of its key touches, so it cannot deadlock where a single unit could not.
 * Units of different keys run in separate transactions, concurrently.
 *
 * No savepoints (each would be two more round trips per unit): when a unit fails, the shared
 * transaction is rolled back — nothing in it was answered — and every unit of the batch runs
 * again in a transaction of its own, so each gets exactly the outcome it would have had alone.
 * A failed commit rejects every unit of the batch, as it would a single unit (the outcome of a
 * commit whose answer was lost is unknown, so nothing is retried).
 */
export function createKeyedGroupCommit(db: Kysely<Database>) {
  const queues = new Map<string, KeyedJob[]>();

  async function runAlone(job: KeyedJob): Promise<void> {
    try {
      job.resolve(await db.transaction().execute(job.work));
    } catch (error) {
      job.reject(error);
    }
  }

  async function runBatch(jobs: KeyedJob[]): Promise<void> {
    if (jobs.length === 1) return runAlone(jobs[0]!);
    const values: unknown[] = [];
    let unitFailed = false;
    try {
      await db.transaction().execute(async (tx) => {
        for (const job of jobs) {
          try {
            values.push(await job.work(tx));
          } catch (error) {
            unitFailed = true;
            throw error;
          }
        }
      });
    } catch (error) {
      if (!unitFailed) {
        for (const job of jobs) job.reject(error);
        return;
      }
      // Rolled back: nothing of the batch happened. Each unit on its own, in order.
      for (const job of jobs) await runAlone(job);
      return;
    }
    for (const [i, job] of jobs.entries()) job.resolve(values[i]);
  }

  async function drain(key: string): Promise<void> {
    for (;;) {
      const queue = queues.get(key)!;
      if (queue.length === 0) {
        queues.delete(key);
        return;
      }
      const jobs = queue.splice(0, keyedBatchLimit);
      await runBatch(jobs);
    }
  }

  return {
    run<T>(key: string, work: (tx: Transaction<Database>) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const job: KeyedJob = { key, work, resolve: resolve as (value: unknown) => void, reject };
        const queue = queues.get(key);
        if (queue) {
          queue.push(job);
          return;
        }
        // An idle key starts at once: a lone consume waits for nothing.
        queues.set(key, [job]);
        void drain(key);
      });
    },
  };
}
