import { historyHour } from '@keymaster/core';
import type { Transaction } from 'kysely';
import type { Db, Dialect } from '../../db/database.js';
import type { Database } from '../../db/schema.js';
import { fireAlerts, rememberFired, type UsageWatch } from '../alerts/fire.js';
import { type HistoryChange, recordHistory } from '../counters/history-store.js';
import {
  addToCounters,
  addWithinLimit,
  addWithinLimits,
  byCounterId,
  type CounterId,
  counterKey,
  readCounterValues,
} from '../counters/store.js';

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

/** The alert check of a counter's batches. */
export interface BatchAlerts {
  /**
   * What the check watches after a batch: the counter at its usage after the batch, and whether
   * any consume in it was refused — null when nothing can fire (see `mayFire`).
   */
  watch: (input: { usage: number; refused: boolean }) => UsageWatch | null;
  /**
   * The usage from which `watch` may answer a watch though nothing was refused: the allowance
   * (where `usage.limit_reached` fires); −Infinity when alert rules watch the counter (any usage
   * is checked); null when only a refusal can fire anything.
   */
  from: number | null;
}

interface Queue {
  counter: BatchCounter;
  units: Unit[];
  alerts: BatchAlerts | undefined;
}

/** A queue's consumes taken into a batch. */
interface Picked {
  queue: Queue;
  units: Unit[];
}

const keyOf = (counter: CounterId) => counterKey(counter.customerId, counter.feature, counter.periodStart);

/** Thrown inside a batch's transaction when the counter moved under it: roll back, go one by one. */
class CounterMoved extends Error {}

/** PostgreSQL's answer when it broke a deadlock by aborting this transaction: nothing of it happened. */
const deadlockDetected = '40P01';

const batchLimit = 500;
/**
 * PostgreSQL: how many batches one node runs at once. Consumes arriving meanwhile wait for the
 * next, which takes them all in one statement and commit. One alone leaves the node waiting on
 * each commit; four or more make the batches small, and each statement costs the node and the
 * database about as much as the rows in it (see bench/HISTORY.md, #20).
 */
const batchesInFlight = 2;

/** Decides consumes in arrival order from a counter's value, as one conditional upsert each would. */
function decideInOrder(before: number, limit: number | null, units: readonly Unit[]) {
  let running = before;
  const outcomes = units.map((unit) => {
    if (limit !== null && running + unit.cost > limit) return { granted: false, usage: running };
    running += unit.cost;
    return { granted: true, usage: running };
  });
  return { outcomes, usage: running, granted: running - before, refused: outcomes.some((o) => !o.granted) };
}

/**
 * Consumes of plain period counters (a count or sum meter, no rolling window, no credit grants,
 * no idempotency key) are decided in batches instead of one transaction each.
 *
 * SQLite: consumes of one counter queued while one of that counter runs (alone, or a batch) are
 * decided together, in one unit of the group commit (its own savepoint).
 *
 * PostgreSQL: every consume arriving while the node's batches run (up to `batchesInFlight`)
 * joins the next one, whatever its counter — a counter is in one running batch at a time, so
 * one hot customer's consumes queue behind their counter's batch while other customers' go on.
 * A batch's counters whose consumes all fit, and leave usage short of where an alert fires, are
 * written by one statement in a transaction of its own (`addWithinLimits`: counters, history and
 * change feed at once, one round trip and one commit for the whole batch). The rest — a counter
 * its consumes would take past its limit or to an alert, or that alert rules watch — are decided
 * in a transaction: one conditional upsert for a single counter, or for many their rows locked in
 * one statement, each counter's consumes decided from its value, and the granted units added in
 * one more, with the alerts they fire.
 *
 * Either way a counter's consumes are decided in arrival order exactly as one conditional upsert
 * each would — granted while its units fit under the limit, refused otherwise — and the granted
 * totals go to the hour's history, in the same transaction.
 *
 * The database still decides: the upsert refuses to pass the limit, or the rows are locked while
 * the decisions are made, and the values the writes return must be the ones the decisions
 * assumed. When they are not (a row did not exist yet and another process created it meanwhile),
 * or PostgreSQL broke a deadlock by aborting the batch, its writes are rolled back and every
 * consume in it is answered `alone`: the caller runs it on the one-at-a-time path.
 */
export function createConsumeBatcher(deps: {
  dialect: Dialect;
  /** The database outside any transaction (PostgreSQL's one-statement batches run there). */
  db: Db;
  /** A transaction of the batch's own (SQLite: a unit of the group commit). */
  transaction: <T>(work: (tx: Transaction<Database>) => Promise<T>) => Promise<T>;
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

  const historyChange = (counter: BatchCounter, amount: number, now: number): HistoryChange => ({
    customerId: counter.customerId,
    feature: counter.feature,
    periodStart: counter.periodStart,
    bucketStart: historyHour(now),
    mode: 'add',
    amount,
    observedAt: now,
  });

  const latest = (units: readonly Unit[]) => units.reduce((now, unit) => Math.max(now, unit.now), 0);

  /** One counter's consumes. */
  async function decide(
    tx: Transaction<Database>,
    queue: Queue,
    units: Unit[],
    seen: string[],
  ): Promise<BatchOutcome[]> {
    const { counter } = queue;
    const now = latest(units);
    const all = units.reduce((sum, unit) => sum + unit.cost, 0);
    const watches: UsageWatch[] = [];
    const watch = (usage: number, refused: boolean) => {
      const watched = queue.alerts?.watch({ usage, refused });
      if (watched) watches.push(watched);
    };
    let outcomes: BatchOutcome[] | undefined;
    if (all > 0) {
      // The common case: they all fit. One conditional upsert for all of them; it is atomic, so
      // the counter before it is exactly its value after less what it added.
      const value = await addWithinLimit(tx, { ...counter, quantity: all, now });
      if (value !== null) {
        let running = value - all;
        outcomes = units.map((unit) => {
          running += unit.cost;
          return { granted: true, usage: running };
        });
        await recordHistory(tx, { changes: [historyChange(counter, all, now)], now });
        watch(value, false);
      }
    }
    if (outcomes === undefined) {
      // Not all fit: decide each in order from the counter as it stands (the refused upsert locked
      // its row on PostgreSQL; SQLite has one writer), then add what was granted.
      const before = await readCounter(tx, counter);
      const decided = decideInOrder(before, counter.limit, units);
      if (decided.granted > 0) {
        const value = await addWithinLimit(tx, { ...counter, quantity: decided.granted, now });
        if (value !== decided.usage) throw new CounterMoved();
        await recordHistory(tx, { changes: [historyChange(counter, decided.granted, now)], now });
      }
      outcomes = decided.outcomes;
      watch(decided.usage, decided.refused);
    }
    if (watches.length > 0) await fireAlerts(tx, { watches, now, seen });
    return outcomes;
  }

  /** Many counters' consumes (PostgreSQL): lock, decide, add, record — four statements in all. */
  async function decideMany(tx: Transaction<Database>, batch: Picked[], seen: string[]): Promise<BatchOutcome[][]> {
    const counters = batch.map((picked) => picked.queue.counter);
    const values = await readCounterValues(tx, counters, { lock: true });
    const decided = batch.map(({ queue: { counter }, units }) => ({
      ...decideInOrder(values.get(keyOf(counter)) ?? 0, counter.limit, units),
      now: latest(units),
    }));
    const now = decided.reduce((max, d) => Math.max(max, d.now), 0);
    const adds = counters.flatMap((counter, i) =>
      decided[i]!.granted > 0
        ? [{ ...counter, quantity: decided[i]!.granted, expected: decided[i]!.usage, now: decided[i]!.now }]
        : [],
    );
    const after = await addToCounters(tx, { adds, now });
    if (adds.some((add) => after.get(keyOf(add)) !== add.expected)) throw new CounterMoved();
    await recordHistory(tx, { changes: adds.map((add) => historyChange(add, add.quantity, add.now)), now });
    const watches = batch.flatMap(({ queue }, i) => {
      const watched = queue.alerts?.watch({ usage: decided[i]!.usage, refused: decided[i]!.refused });
      return watched ? [watched] : [];
    });
    if (watches.length > 0) await fireAlerts(tx, { watches, now, seen });
    return decided.map((d) => d.outcomes);
  }

  /** Runs a batch in its transaction and answers its consumes. */
  async function run(batch: Picked[]): Promise<void> {
    const seen: string[] = [];
    try {
      const outcomes = await deps.transaction((tx) =>
        batch.length === 1
          ? decide(tx, batch[0]!.queue, batch[0]!.units, seen).then((one) => [one])
          : decideMany(tx, batch, seen),
      );
      rememberFired(seen);
      batch.forEach(({ units }, i) => {
        for (const [j, unit] of units.entries()) unit.resolve(outcomes[i]![j]!);
      });
    } catch (error) {
      const rolledBack = error instanceof CounterMoved || (error as { code?: unknown }).code === deadlockDetected;
      for (const { units } of batch) for (const unit of units) rolledBack ? unit.resolve('alone') : unit.reject(error);
    }
  }

  /**
   * PostgreSQL: the counters whose consumes can all be granted without any alert to fire go in
   * one statement of their own (`addWithinLimits`); whatever it could not add (a counter that
   * would pass its limit or reach where an alert fires), and counters that alert rules watch,
   * are decided in a transaction, consume by consume.
   */
  async function runPostgres(batch: Picked[]): Promise<void> {
    const rest: Picked[] = [];
    const quiet: (Picked & { all: number })[] = [];
    for (const picked of batch) {
      const all = picked.units.reduce((sum, unit) => sum + unit.cost, 0);
      if (all > 0 && picked.queue.alerts?.from !== -Infinity) quiet.push({ ...picked, all });
      else rest.push(picked);
    }
    if (quiet.length > 0) {
      try {
        const values = await addWithinLimits(deps.db, {
          adds: quiet.map(({ queue: { counter, alerts }, units, all }) => ({
            ...counter,
            quantity: all,
            below: alerts?.from ?? null,
            bucketStart: historyHour(latest(units)),
          })),
          now: quiet.reduce((max, { units }) => Math.max(max, latest(units)), 0),
        });
        for (const picked of quiet) {
          const value = values.get(keyOf(picked.queue.counter));
          if (value === undefined) {
            rest.push(picked);
            continue;
          }
          let running = value - picked.all;
          for (const unit of picked.units) {
            running += unit.cost;
            unit.resolve({ granted: true, usage: running });
          }
        }
      } catch (error) {
        // A deadlock aborted the statement: nothing of it happened, decide them the long way.
        if ((error as { code?: unknown }).code === deadlockDetected) rest.push(...quiet);
        else for (const { units } of quiet) for (const unit of units) unit.reject(error);
      }
    }
    if (rest.length > 0) await run(rest.sort((a, b) => byCounterId(a.queue.counter, b.queue.counter)));
  }

  // SQLite: a counter's queue is drained by the consume that found it idle (see `join`).
  async function drain(key: string, queue: Queue): Promise<void> {
    while (queue.units.length > 0) await run([{ queue, units: queue.units.splice(0, batchLimit) }]);
    queues.delete(key);
  }

  // PostgreSQL: the node's batches, each taking what is queued of counters no running batch holds.
  const busy = new Set<string>();
  let inFlight = 0;

  function pick(): Picked[] {
    const batch: Picked[] = [];
    const rows = new Set<string>();
    // One counter per customer in a batch (see `addWithinLimits`).
    const customers = new Set<string>();
    let taken = 0;
    for (const [key, queue] of queues) {
      const row = keyOf(queue.counter);
      if (busy.has(row) || customers.has(queue.counter.customerId)) continue;
      const units = queue.units.splice(0, batchLimit - taken);
      if (queue.units.length === 0) queues.delete(key);
      batch.push({ queue, units });
      rows.add(row);
      customers.add(queue.counter.customerId);
      taken += units.length;
      if (taken >= batchLimit) break;
    }
    for (const row of rows) busy.add(row);
    return batch;
  }

  function schedule(): void {
    while (inFlight < batchesInFlight) {
      const batch = pick();
      if (batch.length === 0) return;
      inFlight++;
      void runPostgres(batch).finally(() => {
        inFlight--;
        for (const { queue } of batch) busy.delete(keyOf(queue.counter));
        schedule();
      });
    }
  }

  return {
    /**
     * Queues a consume for its counter's next batch: `batched` answers its outcome once the batch
     * has committed, or `alone` when the batch could not decide it (run it on the one-at-a-time
     * path then). On SQLite, for an idle counter, nothing is queued: the caller runs its consume
     * on the one-at-a-time path at once (in the shared commit, where a batch of one costs more
     * CPU than that) and must call `release` when it is done, which runs whatever queued meanwhile
     * as a batch.
     */
    join(input: {
      counter: BatchCounter;
      cost: number;
      now: number;
      /** The alert check of the counter's batches (the first consume queued brings it). */
      alerts?: BatchAlerts | undefined;
    }): { batched: Promise<BatchOutcome | 'alone'> } | { release: () => void } {
      const { counter } = input;
      // One queue per counter, limit and history hour: everything in it is decided alike.
      const key = `${keyOf(counter)}\u0000${counter.limit}\u0000${historyHour(input.now)}`;
      let queue = queues.get(key);
      if (!queue && deps.dialect === 'sqlite') {
        const created: Queue = { counter, units: [], alerts: input.alerts };
        queues.set(key, created);
        return { release: () => void drain(key, created) };
      }
      if (!queue) {
        queue = { counter, units: [], alerts: input.alerts };
        queues.set(key, queue);
      }
      const joined = queue;
      const batched = new Promise<BatchOutcome | 'alone'>((resolve, reject) => {
        joined.units.push({ cost: input.cost, now: input.now, resolve, reject });
      });
      if (deps.dialect === 'postgres') schedule();
      return { batched };
    },
  };
}
