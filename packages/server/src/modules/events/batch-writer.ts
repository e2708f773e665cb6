import { type AlertRule, historyHour, type MeterAggregation, type Period } from '@keymaster/core';
import type { Db, Dialect } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import { fireAlerts, limitFired, mayFire, rememberFired, type UsageWatch } from '../alerts/fire.js';
import { announcingUsageOnce } from '../changes/announce.js';
import { recordWithCredits } from '../counters/grant-units.js';
import {
  applyCounterChanges,
  type CounterChange,
  counterKey,
  type HourChange,
  readCounterValues,
  readUsage,
} from '../counters/store.js';
import { heldThread } from './held-thread.js';
import { eventKey, insertNewEvents, type StoredEvents, storedEventKeys } from './store.js';

/**
 * What a batch's events add to counters, one entry per contribution, in event order: `event` is
 * the index of the event in `StoredEvents`, `periodStart` the period of the counter it adds to.
 * Decided while planning, from the customers' entitlements; a credit pool's share is an entry of
 * its own.
 */
export interface PlannedAdds {
  event: number[];
  feature: string[];
  aggregation: MeterAggregation[];
  amount: number[];
  /** unique_count: the value counted once. */
  distinct: (string | null)[];
  periodStart: number[];
}

/**
 * A batch ready to write: plain data only, column by column, so that it is cheap to hand to
 * another thread (a structured clone of one object per event cost twice as much). The planning
 * (reading the events, metering them, resolving entitlements) needs the catalog and the cached
 * snapshots; the writing needs only this.
 */
export interface BatchPlan {
  now: number;
  events: StoredEvents;
  adds: PlannedAdds;
  /**
   * `customer \0 feature` → its allowance, for the counters of customers holding one-off credits:
   * usage past the allowance is drawn from the credits, as a consume would.
   */
  creditAllowances: Map<string, number>;
  /**
   * `customer \0 feature \0 period start` → what the alert check needs of a counter the batch
   * adds to, for counters that alert rules watch or that have a limit (see alerts/fire.ts).
   */
  watches: Map<string, PlannedWatch>;
}

/** A counter to check for alerts once the batch is written: its usage is read in the transaction. */
export interface PlannedWatch {
  customerId: string;
  feature: string;
  aggregation: MeterAggregation;
  /** The counters its usage is read from (a rolling window's buckets at the batch's time). */
  from: number;
  to: number;
  limit: number | null;
  period: Period;
  windowed: boolean;
  rules: readonly AlertRule[];
  credited: boolean;
}

/** Writes planned batches and answers how many of each batch's events were new. */
export interface BatchWriter {
  write(plan: BatchPlan): Promise<number>;
  close(): Promise<void>;
}

/** A writer on the caller's own connection (PostgreSQL, SQLite in memory, a caller's transaction). */
export function localBatchWriter(db: Db, dialect: Dialect): BatchWriter {
  return { write: (plan) => writeBatch({ db, dialect, plan }), close: async () => {} };
}

/**
 * A writer that writes nothing: it answers how many of each batch's events would be new — not
 * stored yet, and not in an earlier batch it was given or earlier in the same batch — for a dry
 * run (`keymaster events import --dry-run`). It only reads.
 */
export function previewBatchWriter(db: Db): BatchWriter {
  const seen = new Set<string>();
  return {
    async write(plan) {
      const stored = await storedEventKeys(db, plan.events);
      let fresh = 0;
      for (let event = 0; event < plan.events.id.length; event++) {
        const key = eventKey(plan.events.source[event]!, plan.events.id[event]!);
        if (stored.has(key) || seen.has(key)) continue;
        seen.add(key);
        fresh++;
      }
      return fresh;
    },
    close: async () => {},
  };
}

// Run from the TypeScript sources (by the test runner), the thread still runs the build's JavaScript
// — which the test run's global setup (vitest.global-setup.ts) first builds from those sources.
const threadScript = import.meta.url.endsWith('.ts')
  ? new URL('../../../dist/modules/events/batch-thread.js', import.meta.url)
  : new URL('./batch-thread.js', import.meta.url);

/**
 * A writer on a thread of its own with its own connection to the SQLite file (see
 * `heldThread`), started at the first batch. Storing the events and counters (SQLite's own work
 * mostly) runs beside the thread that plans the batches, which goes on planning the next batch
 * meanwhile. `hold` keeps the planning thread's own writes out of the writer's way (see
 * `heldThread`); where the planning thread has no writes of its own, it is a pass-through.
 */
export function threadBatchWriter(input: {
  file: string;
  hold: <T>(work: () => Promise<T>) => Promise<T>;
  batchesPerHold?: number;
}): BatchWriter {
  const thread = heldThread<{ plan: BatchPlan }, number>({
    script: threadScript,
    workerData: { file: input.file },
    hold: input.hold,
    requestsPerHold: input.batchesPerHold,
    name: 'the batch writer',
  });
  return { write: (plan) => thread.send({ plan }), close: () => thread.close() };
}

export function creditKey(customerId: string, feature: string): string {
  return `${customerId}\u0000${feature}`;
}

/** Folds one reading into what a batch has so far for a counter or an hour of it. */
function fold(input: {
  aggregation: MeterAggregation;
  so: HourChange | undefined;
  amount: number;
  at: number;
}): HourChange {
  const { so, amount, at } = input;
  if (!so) return { amount, observedAt: at };
  switch (input.aggregation) {
    case 'max':
      return { amount: Math.max(so.amount, amount), observedAt: so.observedAt };
    case 'latest':
      return at >= so.observedAt ? { amount, observedAt: at } : so;
    default:
      return { amount: so.amount + amount, observedAt: so.observedAt };
  }
}

/** Adds one contribution of an event to the batch's combined change for its counter and hour. */
function combine(input: { changes: Map<string, CounterChange>; plan: BatchPlan; add: number }): void {
  const { changes, plan, add } = input;
  const { adds } = plan;
  const customerId = plan.events.customerId[adds.event[add]!]!;
  const at = plan.events.timestamp[adds.event[add]!]!;
  const feature = adds.feature[add]!;
  const aggregation = adds.aggregation[add]!;
  const amount = adds.amount[add]!;
  const periodStart = adds.periodStart[add]!;
  const key = `${customerId}\u0000${feature}\u0000${periodStart}`;
  const hour = historyHour(at);
  let change = changes.get(key);
  if (!change) {
    change = {
      customerId,
      feature,
      periodStart,
      aggregation,
      amount: aggregation === 'unique_count' ? 0 : amount,
      observedAt: at,
      distinct: new Map(),
      hours: new Map(),
    };
    changes.set(key, change);
  } else if (aggregation !== 'unique_count') {
    const total = fold({ aggregation, so: change, amount, at });
    change.amount = total.amount;
    change.observedAt = total.observedAt;
  }
  if (aggregation === 'unique_count') {
    const value = adds.distinct[add] ?? null;
    if (value !== null) change.distinct.set(value, Math.min(change.distinct.get(value) ?? hour, hour));
    return;
  }
  change.hours.set(hour, fold({ aggregation, so: change.hours.get(hour), amount, at }));
}

/**
 * Writes a planned batch in one transaction and answers how many of its events were new: stores
 * the events not stored yet, and adds what the new ones bring to each counter (in the period
 * each event's own time falls in) and to the usage history. A duplicate adds nothing, a repeat
 * within the batch included; either the whole batch is written or none of it.
 */
export async function writeBatch(input: { db: Db; dialect: Dialect; plan: BatchPlan }): Promise<number> {
  const [accepted] = await writeBatches({ db: input.db, dialect: input.dialect, plans: [input.plan] });
  return accepted!;
}

/**
 * Writes planned batches together, in one transaction, as `writeBatch` would one after the other:
 * an event in two of them counts in the first. Answers how many of each batch's events were new.
 * What the batches add is combined before it is written: a counter (and an hour of its history)
 * that several batches add to is written once.
 */
export function writeBatches(input: { db: Db; dialect: Dialect; plans: readonly BatchPlan[] }): Promise<number[]> {
  const { dialect } = input;
  const { plan, ranges, receivedAt } = mergePlans(input.plans);
  const seen: string[] = [];
  return withTransaction(input.db, async (tx) => {
    const { events, adds } = plan;
    const inserted = await insertNewEvents(tx, { events, receivedAt, dialect });
    const counts: boolean[] = new Array(events.id.length).fill(inserted === 'all');
    if (inserted !== 'all') {
      const counted = new Set<string>();
      for (let event = 0; event < events.id.length; event++) {
        const key = eventKey(events.source[event]!, events.id[event]!);
        // A repeat is a duplicate too: only its first occurrence counts.
        if (!inserted.has(key) || counted.has(key)) continue;
        counted.add(key);
        counts[event] = true;
      }
    }
    const changes = new Map<string, CounterChange>();
    for (let add = 0; add < adds.event.length; add++) {
      if (counts[adds.event[add]!]) combine({ changes, plan, add });
    }
    // Counters of customers with one-off credits go through the credit-drawing path; the rest
    // are applied in bulk. Both write each counter's hours to the usage history (a pool's
    // hours hold what every drawing feature's events cost it). The feed gets one change for
    // all the batch's customers.
    const customers = [...changes.values()].map((change) => change.customerId);
    const written = await announcingUsageOnce({
      tx,
      dialect,
      customers,
      write: () => writeCounters({ tx, dialect, plan, changes }),
    });
    await alertOn({ tx, dialect, plan, changes, written, seen });
    return ranges.map(([start, end]) => {
      let accepted = 0;
      for (let event = start; event < end; event++) if (counts[event]) accepted++;
      return accepted;
    });
  }).then((accepted) => {
    rememberFired(seen);
    return accepted;
  });
}

/**
 * Batches as one: their events and adds one after the other (each add pointing at its event in
 * the whole), the watches and credit allowances of all (a later batch's where they overlap, as it
 * was planned later), at the latest batch's time. `ranges`: each batch's events in the whole;
 * `receivedAt`: each event's batch's time.
 */
function mergePlans(plans: readonly BatchPlan[]): {
  plan: BatchPlan;
  ranges: [start: number, end: number][];
  receivedAt: number | number[];
} {
  const only = plans.length === 1 ? plans[0] : undefined;
  if (only) return { plan: only, ranges: [[0, only.events.id.length]], receivedAt: only.now };
  const events: StoredEvents = { source: [], id: [], customerId: [], type: [], timestamp: [], properties: [] };
  const adds: PlannedAdds = { event: [], feature: [], aggregation: [], amount: [], distinct: [], periodStart: [] };
  const ranges: [number, number][] = [];
  const receivedAt: number[] = [];
  const creditAllowances = new Map<string, number>();
  const watches = new Map<string, PlannedWatch>();
  let now = 0;
  for (const plan of plans) {
    const offset = events.id.length;
    for (const column of Object.keys(events) as (keyof StoredEvents)[]) {
      (events[column] as unknown[]).push(...plan.events[column]);
    }
    for (const column of Object.keys(adds) as (keyof PlannedAdds)[]) {
      if (column === 'event') adds.event.push(...plan.adds.event.map((event) => event + offset));
      else (adds[column] as unknown[]).push(...plan.adds[column]);
    }
    ranges.push([offset, events.id.length]);
    for (let event = offset; event < events.id.length; event++) receivedAt.push(plan.now);
    for (const [key, allowance] of plan.creditAllowances) creditAllowances.set(key, allowance);
    for (const [key, watch] of plan.watches) watches.set(key, watch);
    now = Math.max(now, plan.now);
  }
  return { plan: { now, events, adds, creditAllowances, watches }, ranges, receivedAt };
}

/** Events a grouped write takes at most: beyond this the next batches wait for the next write. */
const groupedEventsLimit = 10_000;

/**
 * PostgreSQL: batches that arrive while one is written are written together, in the next
 * transaction (see `writeBatches`). Every batch adds to the counters and history hours of its
 * customers, and concurrent transactions adding to the same rows queue on their locks, each
 * waiting for the one before to commit; together they take each row's lock once, and a batch
 * arriving at an idle writer starts at once. When the shared transaction fails, each batch is
 * written again on its own, so that one batch's failure is its own.
 */
export function groupedBatchWriter(db: Db): BatchWriter {
  interface Waiting {
    plan: BatchPlan;
    resolve: (accepted: number) => void;
    reject: (error: unknown) => void;
  }
  let queue: Waiting[] = [];
  let running = false;
  const alone = async (waiting: Waiting) => {
    try {
      waiting.resolve(await writeBatch({ db, dialect: 'postgres', plan: waiting.plan }));
    } catch (error) {
      waiting.reject(error);
    }
  };
  async function drain(): Promise<void> {
    running = true;
    while (queue.length > 0) {
      let events = 0;
      let taken = 0;
      while (
        taken < queue.length &&
        (taken === 0 || events + queue[taken]!.plan.events.id.length <= groupedEventsLimit)
      ) {
        events += queue[taken]!.plan.events.id.length;
        taken++;
      }
      const group = queue.slice(0, taken);
      queue = queue.slice(taken);
      if (group.length === 1) {
        await alone(group[0]!);
        continue;
      }
      try {
        const accepted = await writeBatches({ db, dialect: 'postgres', plans: group.map((waiting) => waiting.plan) });
        for (const [i, waiting] of group.entries()) waiting.resolve(accepted[i]!);
      } catch {
        for (const waiting of group) await alone(waiting);
      }
    }
    running = false;
  }
  return {
    write: (plan) =>
      new Promise<number>((resolve, reject) => {
        queue.push({ plan, resolve, reject });
        if (!running) void drain();
      }),
    close: async () => {},
  };
}

/**
 * Fires the alerts the batch's counters now meet, in its transaction: each watched counter the
 * batch moved is read after the writes (a counter whose limit already fired, with no rule
 * watching it, is not read again) — on PostgreSQL taken from what the writes answered (`written`)
 * where they did.
 */
async function alertOn(input: {
  tx: Db;
  dialect: Dialect;
  plan: BatchPlan;
  changes: Map<string, CounterChange>;
  written: Map<string, number>;
  seen: string[];
}) {
  const { tx, plan } = input;
  if (plan.watches.size === 0) return;
  const read: PlannedWatch[] = [];
  for (const [key, planned] of plan.watches) {
    if (!input.changes.has(key)) continue;
    if (planned.rules.length === 0 && limitFired({ ...planned, periodStart: planned.period.start })) continue;
    read.push(planned);
  }
  // On PostgreSQL every one-period counter the writes did not answer is read in one statement (a
  // round trip each would cost more than the batch's writes); SQLite reads in process, one at a time.
  const { written } = input;
  const onePeriod =
    input.dialect === 'postgres'
      ? read.filter(
          (planned) =>
            planned.from === planned.to && !written.has(counterKey(planned.customerId, planned.feature, planned.from)),
        )
      : [];
  const values = await readCounterValues(
    tx,
    onePeriod.map((planned) => ({
      customerId: planned.customerId,
      feature: planned.feature,
      periodStart: planned.from,
    })),
  );
  const watches: UsageWatch[] = [];
  for (const planned of read) {
    const usage =
      input.dialect === 'postgres' && planned.from === planned.to
        ? (written.get(counterKey(planned.customerId, planned.feature, planned.from)) ??
          values.get(counterKey(planned.customerId, planned.feature, planned.from)) ??
          0)
        : await readUsage(tx, planned);
    const watch = { ...planned, usage, refused: false };
    if (mayFire(watch)) watches.push(watch);
  }
  await fireAlerts(tx, { watches, now: plan.now, seen: input.seen });
}

async function writeCounters(input: {
  tx: Db;
  dialect: Dialect;
  plan: BatchPlan;
  changes: Map<string, CounterChange>;
}): Promise<Map<string, number>> {
  const { tx, dialect, plan } = input;
  const plain: CounterChange[] = [];
  for (const change of input.changes.values()) {
    const allowance = plan.creditAllowances.get(creditKey(change.customerId, change.feature));
    const summed = change.aggregation === 'count' || change.aggregation === 'sum';
    if (allowance === undefined || !summed) {
      plain.push(change);
      continue;
    }
    await recordWithCredits({
      tx,
      dialect,
      customerId: change.customerId,
      feature: change.feature,
      periodStart: change.periodStart,
      amount: change.amount,
      hours: change.hours,
      allowance,
      now: plan.now,
    });
  }
  return applyCounterChanges(tx, { changes: plain, now: plan.now });
}
