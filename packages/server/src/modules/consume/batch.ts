import { historyHour } from '@keymaster/core';
import type { Transaction } from 'kysely';
import type { Dialect } from '../../db/database.js';
import type { Database } from '../../db/schema.js';
import { fireAlerts, rememberFired, type UsageWatch } from '../alerts/fire.js';
import { recordHistory } from '../counters/history-store.js';
import { addWithinLimit } from '../counters/store.js';

/** One counter a batch adds to: the same for every consume in it. */
export interface BatchCounter {
  customerId: string;
  feature: string;
  periodStart: number;
  limit: number | null;
}

/** What a consume in a batch got: as `grantUnits` answers for a plain period counter. */
export interface BatchOutcome {
  granted: boolean;
  /** After its own units when granted; the counter as it stood when refused. */
  usage: number;
}

interface Unit {
  cost: number;
  now: number;
  resolve: (outcome: BatchOutcome | 'alone') => void;
  reject: (error: unknown) => void;
}

/**
 * What the alert check watches after a batch: the counter at its usage after the batch, and
 * whether any consume in it was refused — null when nothing can fire (see `mayFire`).
 */
export type BatchAlerts = (input: { usage: number; refused: boolean }) => UsageWatch | null;

interface Queue {
  counter: BatchCounter;
  units: Unit[];
  alerts: BatchAlerts | undefined;
}

/** Thrown inside a batch's transaction when the counter moved under it: roll back, go one by one. */
class CounterMoved extends Error {}

const batchLimit = 500;

/**
 * Consumes of one plain period counter (a count or sum meter, no rolling window, no credit
 * grants, no idempotency key) queued while one of that counter runs (alone, or a batch) are decided together
 * with two statements instead of two per consume: one conditional upsert adding all their units,
 * and the total to the hour's history. When they do not all fit, the counter is read (on
 * PostgreSQL its row is locked by then) and each is decided in arrival order exactly as one
 * conditional upsert each would — granted while its units fit under the limit, refused otherwise
 * — and the granted total added with the same conditional upsert.
 *
 * The database still decides: the upsert refuses to pass the limit, and the value it returns
 * must be the one the decisions assumed. When it is not (the row did not exist yet and another
 * process created it meanwhile, or anything else moved it), the batch's writes are rolled back
 * and every consume in it is answered `alone`: the caller runs it on the one-at-a-time path.
 * On SQLite the batch is one unit of the group commit (its own savepoint); on PostgreSQL its own
 * transaction, whose row lock makes other processes wait as they would for one consume.
 */
export function createConsumeBatcher(deps: {
  dialect: Dialect;
  transaction: <T>(key: string, work: (tx: Transaction<Database>) => Promise<T>) => Promise<T>;
}) {
  const queues = new Map<string, Queue>();

  async function readCounter(tx: Transaction<Database>, counter: BatchCounter): Promise<number> {
    const query = tx
      .selectFrom('usage_counters')
      .select('value')
      .where('customer_id', '=', counter.customerId)
      .where('feature', '=', counter.feature)
      .where('period_start', '=', counter.periodStart);
    const row = await (deps.dialect === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
    return Number(row?.value ?? 0);
  }

  async function addToHistory(tx: Transaction<Database>, counter: BatchCounter, amount: number, now: number) {
    const change = {
      customerId: counter.customerId,
      feature: counter.feature,
      periodStart: counter.periodStart,
      bucketStart: historyHour(now),
      mode: 'add' as const,
      amount,
      observedAt: now,
    };
    await recordHistory(tx, { changes: [change], now });
  }

  /** Fires the alerts the batch's usage meets, in its transaction (see alerts/fire.ts). */
  async function alert(input: {
    tx: Transaction<Database>;
    queue: Queue;
    usage: number;
    refused: boolean;
    now: number;
    seen: string[];
  }) {
    const watch = input.queue.alerts?.({ usage: input.usage, refused: input.refused });
    if (watch) await fireAlerts(input.tx, { watches: [watch], now: input.now, seen: input.seen });
  }

  async function decide(
    tx: Transaction<Database>,
    queue: Queue,
    units: Unit[],
    seen: string[],
  ): Promise<BatchOutcome[]> {
    const { counter } = queue;
    let now = 0;
    let all = 0;
    for (const unit of units) {
      now = Math.max(now, unit.now);
      all += unit.cost;
    }
    if (all > 0) {
      // The common case: they all fit. One conditional upsert for all of them; it is atomic, so
      // the counter before it is exactly its value after less what it added.
      const value = await addWithinLimit(tx, { ...counter, quantity: all, now });
      if (value !== null) {
        let running = value - all;
        const outcomes = units.map((unit) => {
          running += unit.cost;
          return { granted: true, usage: running };
        });
        await addToHistory(tx, counter, all, now);
        await alert({ tx, queue, usage: value, refused: false, now, seen });
        return outcomes;
      }
    }
    // Not all fit: decide each in order from the counter as it stands (the refused upsert locked
    // its row on PostgreSQL; SQLite has one writer), then add what was granted.
    const before = await readCounter(tx, counter);
    const { limit } = counter;
    let running = before;
    const outcomes = units.map((unit) => {
      if (limit !== null && running + unit.cost > limit) return { granted: false, usage: running };
      running += unit.cost;
      return { granted: true, usage: running };
    });
    const granted = running - before;
    const refused = outcomes.some((outcome) => !outcome.granted);
    if (granted > 0) {
      const value = await addWithinLimit(tx, { ...counter, quantity: granted, now });
      if (value !== running) throw new CounterMoved();
      await addToHistory(tx, counter, granted, now);
    }
    await alert({ tx, queue, usage: running, refused, now, seen });
    return outcomes;
  }

  async function drain(key: string, queue: Queue): Promise<void> {
    while (queue.units.length > 0) {
      const units = queue.units.splice(0, batchLimit);
      try {
        const seen: string[] = [];
        const outcomes = await deps.transaction(key, (tx) => decide(tx, queue, units, seen));
        rememberFired(seen);
        for (const [i, unit] of units.entries()) unit.resolve(outcomes[i]!);
      } catch (error) {
        if (error instanceof CounterMoved) for (const unit of units) unit.resolve('alone');
        else for (const unit of units) unit.reject(error);
      }
    }
    queues.delete(key);
  }

  return {
    /**
     * Joins the batch of the counter's queue when one is waiting or running: `batched` answers
     * the outcome once the batch has committed, or `alone` when the batch could not decide it
     * (run it on the one-at-a-time path then). On SQLite, for an idle counter, nothing is queued:
     * the caller runs its consume on the one-at-a-time path at once (in the shared commit, where a
     * batch of one costs more CPU than that) and must call `release` when it is done, which runs
     * whatever queued meanwhile as a batch.
     */
    join(input: {
      counter: BatchCounter;
      cost: number;
      now: number;
      /** The alert check of the counter's batches (the first consume queued brings it). */
      alerts?: BatchAlerts | undefined;
    }): { batched: Promise<BatchOutcome | 'alone'> } | { release: () => void } {
      const { counter } = input;
      // One batch per counter, limit and history hour: everything in it is decided alike.
      const key = `${counter.customerId}\u0000${counter.feature}\u0000${counter.periodStart}\u0000${counter.limit}\u0000${historyHour(input.now)}`;
      const queue = queues.get(key);
      if (queue) {
        return {
          batched: new Promise((resolve, reject) => {
            queue.units.push({ cost: input.cost, now: input.now, resolve, reject });
          }),
        };
      }
      const created: Queue = { counter, units: [], alerts: input.alerts };
      queues.set(key, created);
      if (deps.dialect === 'sqlite') return { release: () => void drain(key, created) };
      // PostgreSQL: a lone consume would take a commit (a flush) of its own before the batch
      // queued behind it could start; a batch of one starts now and costs that flush only.
      const batched = new Promise<BatchOutcome | 'alone'>((resolve, reject) => {
        created.units.push({ cost: input.cost, now: input.now, resolve, reject });
      });
      void drain(key, created);
      return { batched };
    },
  };
}
