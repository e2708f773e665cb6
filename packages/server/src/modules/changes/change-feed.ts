import { type CompiledQuery, type Kysely, sql } from 'kysely';
import type { DatabaseHandle, Db } from '../../db/database.js';
import { precompiled } from '../../db/precompiled.js';
import type { Database } from '../../db/schema.js';

/** What a change means to whoever caches answers. */
export interface ChangeListener {
  catalogChanged(): void;
  customerChanged(customerId: string): void;
  /** The customer's usage counters moved; what else is known about the customer still holds. */
  usageChanged(customerId: string): void;
  apiKeysChanged(): void;
  /** The follower lost track (it fell behind the retained feed): drop everything cached. */
  reset(): void;
}

/**
 * One change as read from the feed, for observers that forward changes rather than react. A
 * change of many customers' usage is handed out once per customer, each with its `seq`.
 */
export interface FeedChange {
  seq: number;
  scope: string;
  customerId: string | null;
  /**
   * The feed's position after this change: every change up to it has been handed out (or
   * belonged to a transaction that rolled back). Equal to `seq` unless a lower number is still
   * outstanding, which on PostgreSQL happens while a transaction that drew it has not committed.
   */
  position: number;
}

/** Sees every change in the order this node reads them (the stream). */
export interface ChangeObserver {
  changed(change: FeedChange): void;
  /** The feed lost track (see ChangeListener.reset); `position` is where it starts over. */
  reset(position: number): void;
}

/** A change as read: `customerIds` when it concerns many customers (then `customerId` is null). */
type ChangeRow = [seq: number, scope: string, customerId: string | null, customerIds: string[] | undefined];

/** Changes read at a time. */
const pageSize = 1000;

// Every write's `sync()` reads the feed: compiled once (see precompiled.ts), not built per read.
const changesAfter = precompiled((db: Db, cursor: number) =>
  db
    .selectFrom('changes')
    .select(['seq', 'scope', 'customer_id', 'customer_ids'])
    .where('seq', '>', cursor)
    .orderBy('seq')
    .limit(pageSize),
);
const changesAfterJoined = precompiled((db: Db, cursor: number) =>
  db
    .selectFrom('changes')
    .select(
      sql<string>`"seq" || ' ' || "scope" || ' ' || coalesce("customer_id", char(9) || "customer_ids", '')`.as(
        'change',
      ),
    )
    .where('seq', '>', cursor)
    .orderBy('seq')
    .limit(pageSize),
);

/** The ids of a change of many customers (`changes.customer_ids`, a JSON array). */
export function customerList(json: string): string[] {
  return JSON.parse(json) as string[];
}

interface Logger {
  warn(obj: object, msg: string): void;
}

/**
 * Follows the `changes` table that triggers append to in every writer's transaction, and tells
 * the listener. Every node polls it (a change made on another node is seen within one poll
 * interval), and a node that has just written calls `sync()` before answering, so its own
 * writes are visible to its next check at once.
 *
 * Polling a table rather than LISTEN/NOTIFY: NOTIFY takes a global lock at commit that
 * serialises all committing writers under load, and a missed notification is lost for good.
 *
 * Sequence numbers are handed out at insert time but become visible at commit, so on PostgreSQL
 * a lower number can appear after a higher one. The follower therefore remembers holes below
 * the highest number seen and keeps looking for them; a hole still empty after `gapTimeoutMs`
 * belonged to a transaction that rolled back (its number is never reused).
 */
export class ChangeFeed {
  private cursor = 0;
  private readonly seen = new Set<number>();
  private readonly gaps = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private lastPrune = 0;
  private stopped = false;
  private readonly observers: ChangeObserver[] = [];

  constructor(
    private readonly deps: {
      db: Kysely<Database>;
      /**
       * SQLite's read-only connection, if any: polls read there, so that the `sync()` a write
       * makes before answering never queues behind another write holding the main connection.
       */
      readColumnNow?: DatabaseHandle['readColumnNow'];
      listener: ChangeListener;
      pollMs: number;
      logger: Logger;
      /** Monotonic milliseconds, for gap timeouts only. */
      monotonicNow?: () => number;
      gapTimeoutMs?: number;
      retain?: number;
      /** False for a follower that only reads (the planning thread): another prunes the feed. */
      prune?: boolean;
    },
  ) {}

  /** Starts following from the current end of the feed: earlier changes are already in the data. */
  async start(): Promise<void> {
    const row = await this.deps.db
      .selectFrom('changes')
      .select((eb) => eb.fn.max('seq').as('max'))
      .executeTakeFirst();
    this.cursor = Number(row?.max ?? 0);
    this.timer = setInterval(() => {
      this.sync().catch((error: unknown) => this.deps.logger.warn({ err: error }, 'change feed poll failed'));
    }, this.deps.pollMs);
    this.timer.unref();
  }

  /** Observers are told after the listener, so a cache they read from is already up to date. */
  observe(observer: ChangeObserver): void {
    this.observers.push(observer);
  }

  /** Every change up to this number has been read (see FeedChange.position). */
  get position(): number {
    return this.cursor;
  }

  /** Stops polling; a `sync()` after this answers at once (the node is shutting down). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Reads everything committed so far. Concurrent callers share one read; a caller arriving while
   * a read is in flight gets the next one, which starts after its own write committed.
   */
  sync(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (!this.running) {
      this.running = this.poll().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    if (!this.queued) {
      this.queued = this.running.then(
        () => this.takeQueued(),
        () => this.takeQueued(),
      );
    }
    return this.queued;
  }

  private takeQueued(): Promise<void> {
    this.queued = undefined;
    return this.sync();
  }

  private async poll(): Promise<void> {
    const now = this.monotonic();
    for (;;) {
      const rows = await this.read();
      let expected = this.cursor + 1;
      for (const [seq, scope, customerId, customerIds] of rows) {
        for (; expected < seq; expected++) {
          if (!this.seen.has(expected) && !this.gaps.has(expected)) this.gaps.set(expected, now);
        }
        expected = seq + 1;
        if (this.seen.has(seq)) continue;
        this.seen.add(seq);
        this.gaps.delete(seq);
        if (customerIds) for (const id of customerIds) this.apply(scope, id);
        else this.apply(scope, customerId);
        if (this.observers.length > 0) {
          // Advanced per row so each change carries the position a client may resume from.
          this.advance(now);
          for (const id of customerIds ?? [customerId]) {
            const change = { seq, scope, customerId: id, position: this.cursor };
            for (const observer of this.observers) observer.changed(change);
          }
        }
      }
      this.advance(now);
      if (rows.length < pageSize) break;
    }
    await this.pruneOccasionally(now);
  }

  /**
   * The next changes after the cursor, up to 1,000; a change of many customers (a batch of
   * events, see `announcingUsageOnce`) comes with their ids. On SQLite's read-only connection
   * each comes as one string, `seq scope customer` or `seq scope \t[ids as JSON]` (customer ids
   * hold no whitespace at their start, see the contract), split here: an object a row (or an
   * array of three values) built through V8's API cost more than the rest of reading them.
   */
  private async read(): Promise<ChangeRow[]> {
    const { db, readColumnNow } = this.deps;
    const joined = readColumnNow?.(changesAfterJoined(db, this.cursor)) as string[] | undefined;
    if (joined) {
      return joined.map((change) => {
        const first = change.indexOf(' ');
        const second = change.indexOf(' ', first + 1);
        const seq = Number(change.slice(0, first));
        const scope = change.slice(first + 1, second);
        if (change.charCodeAt(second + 1) === 9) return [seq, scope, null, customerList(change.slice(second + 2))];
        const customerId = change.slice(second + 1);
        return [seq, scope, customerId === '' ? null : customerId, undefined];
      });
    }
    const { rows } = await db.executeQuery(
      changesAfter(db, this.cursor) as CompiledQuery<{
        seq: number | string;
        scope: string;
        customer_id: string | null;
        customer_ids: string | null;
      }>,
    );
    return rows.map((row) => [
      Number(row.seq),
      row.scope,
      row.customer_id,
      row.customer_ids === null ? undefined : customerList(row.customer_ids),
    ]);
  }

  private advance(now: number): void {
    const timeout = this.deps.gapTimeoutMs ?? 30_000;
    for (;;) {
      const next = this.cursor + 1;
      if (this.seen.delete(next)) {
        this.cursor = next;
        continue;
      }
      const since = this.gaps.get(next);
      if (since !== undefined && now - since >= timeout) {
        this.gaps.delete(next);
        this.cursor = next;
        continue;
      }
      break;
    }
  }

  private apply(scope: string, customerId: string | null): void {
    const { listener } = this.deps;
    if (scope === 'catalog') listener.catalogChanged();
    else if (scope === 'customer' && customerId !== null) listener.customerChanged(customerId);
    else if (scope === 'usage' && customerId !== null) listener.usageChanged(customerId);
    else if (scope === 'api_keys') listener.apiKeysChanged();
  }

  /**
   * Keeps the feed between `retain` and twice that many changes; a follower that fell behind
   * what was pruned starts over. The retained changes are also what a stream client can resume
   * across (see modules/stream).
   */
  private async pruneOccasionally(now: number): Promise<void> {
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    const retain = this.deps.retain ?? 100_000;
    const { db } = this.deps;
    const bounds = await db
      .selectFrom('changes')
      .select((eb) => [eb.fn.min('seq').as('min'), eb.fn.max('seq').as('max')])
      .executeTakeFirst();
    const min = Number(bounds?.min ?? 0);
    const max = Number(bounds?.max ?? 0);
    if (min > this.cursor + 1 && this.gaps.size === 0 && max > this.cursor) {
      this.deps.listener.reset();
      this.cursor = max;
      this.seen.clear();
      for (const observer of this.observers) observer.reset(max);
    }
    if (this.deps.prune !== false && max - min > retain * 2)
      await db
        .deleteFrom('changes')
        .where('seq', '<', max - retain)
        .execute();
  }

  private monotonic(): number {
    return this.deps.monotonicNow ? this.deps.monotonicNow() : performance.now();
  }
}
