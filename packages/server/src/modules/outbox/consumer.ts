import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';

/** An outbox event as consumers read it. */
export interface OutboxEvent {
  seq: number;
  id: string;
  type: string;
  customer_id: string;
  occurred_at: number;
  /** JSON text, as `emitDomainEvents` wrote it. */
  data: string;
  created_at: number;
}

/** Outbox events taken per transaction. */
const batchSize = 500;

/**
 * How long a hole in the outbox's `seq` is waited for before it is passed over. Numbers are drawn
 * at insert and become visible at commit, so on PostgreSQL a lower one can appear after a higher
 * one; a rolled-back transaction leaves a hole that never fills. Writes that emit events are short
 * transactions: one still open after this long has almost surely rolled back. (SQLite has one
 * writer at a time and never shows a hole.)
 */
export const holeWaitMs = 5000;

/**
 * One consumer of the outbox (`domain_events`): reads the events after its cursor (its row in
 * `outbox_consumers`, which its migration adds), hands each batch to `take` and moves the cursor
 * in the same transaction, so each event is taken exactly once whichever node runs it. Consumers
 * keep cursors of their own and never see or wait on each other.
 */
export function createOutboxConsumer(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  /** The consumer's row in `outbox_consumers`. */
  name: string;
  /** Records what the consumer makes of the events, in the transaction that moves its cursor. */
  take: (input: { tx: Db; events: OutboxEvent[]; now: number }) => Promise<void>;
}) {
  const { db, dialect, name } = deps;
  let hole: { seq: number; since: number } | undefined;

  /** Whether an event past the cursor is visible: read without a transaction. */
  async function anythingNew(): Promise<boolean> {
    const row = await db.selectFrom('outbox_consumers').select('position').where('name', '=', name).executeTakeFirst();
    if (!row) return false;
    const next = await db
      .selectFrom('domain_events')
      .select('seq')
      .where('seq', '>', Number(row.position))
      .limit(1)
      .executeTakeFirst();
    return next !== undefined;
  }

  /** One batch; answers how many events it took (0 when none, or another node holds the cursor). */
  async function runBatch(): Promise<number> {
    // On SQLite a write transaction waits for the database's one write lock, and the wait blocks
    // this process's event loop (better-sqlite3 is synchronous): a poll with nothing to take must
    // not open one while another process writes. Look first.
    if (dialect === 'sqlite' && !(await anythingNew())) return 0;
    return withTransaction(db, async (tx) => {
      let cursor = tx.selectFrom('outbox_consumers').select('position').where('name', '=', name);
      // One node consumes at a time; the others find the row taken and leave it to that one.
      if (dialect === 'postgres') cursor = cursor.forUpdate().skipLocked();
      const row = await cursor.executeTakeFirst();
      if (!row) return 0;
      const position = Number(row.position);
      const events = await tx
        .selectFrom('domain_events')
        .select(['seq', 'id', 'type', 'customer_id', 'occurred_at', 'data', 'created_at'])
        .where('seq', '>', position)
        .orderBy('seq')
        .limit(batchSize)
        .execute();
      let next = position;
      const taken: OutboxEvent[] = [];
      for (const event of events) {
        const seq = Number(event.seq);
        if (seq !== next + 1) {
          const waited = hole?.seq === next + 1 ? performance.now() - hole.since : 0;
          if (hole?.seq !== next + 1) hole = { seq: next + 1, since: performance.now() };
          if (waited < holeWaitMs) break;
        }
        hole = undefined;
        taken.push({ ...event, seq });
        next = seq;
      }
      if (taken.length === 0) return 0;
      const now = deps.clock.now();
      await deps.take({ tx, events: taken, now });
      await tx
        .updateTable('outbox_consumers')
        .set({ position: next, updated_at: now })
        .where('name', '=', name)
        .execute();
      return taken.length;
    });
  }

  return {
    /**
     * Whether the cursor has reached the newest event committed when first asked (`target`,
     * else the newest now): for callers that want every event of now taken, holes waited for included.
     */
    async behind(target?: number): Promise<{ target: number; behind: boolean }> {
      const newest =
        target ??
        Number(
          (
            await db
              .selectFrom('domain_events')
              .select((eb) => eb.fn.max('seq').as('seq'))
              .executeTakeFirst()
          )?.seq ?? 0,
        );
      const row = await db
        .selectFrom('outbox_consumers')
        .select('position')
        .where('name', '=', name)
        .executeTakeFirst();
      return { target: newest, behind: Number(row?.position ?? 0) < newest };
    },

    /** Takes everything visible now; answers how many events were taken. */
    async run(): Promise<number> {
      let total = 0;
      for (;;) {
        const taken = await runBatch();
        total += taken;
        if (taken < batchSize) return total;
      }
    },
  };
}
