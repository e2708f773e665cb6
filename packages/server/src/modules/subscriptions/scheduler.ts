import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import type { CatalogSource } from '../entitlements/around.js';
import { noticeExpiringCredits } from '../grants/expiry-notices.js';
import type { RenewalHook } from '../grants/rollover.js';
import { updateSubscription } from './store.js';
import { catchUp, lockSubscription } from './transitions.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

/** Subscriptions looked at per query; the scheduler keeps going until nothing is due. */
const batchSize = 100;

/**
 * Runs what falls due on subscriptions — trial ends, renewals, scheduled changes, cancellations
 * at period end, grace expiries, automatic resumes, contract ends — and then tells of credit
 * grants about to expire (`noticeExpiringCredits`). The queue is the
 * `subscriptions.next_due_at` column: nothing lives in a timer, so a restart that missed an
 * instant catches up on its next run. Each subscription is taken in its own transaction, locked
 * (PostgreSQL: `for update skip locked`) and re-checked as still due, so with any number of
 * nodes every step runs exactly once.
 */
export function createScheduler(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  logger: Logger;
  onRenewal?: RenewalHook | undefined;
  /** The node's cached catalog, for the entitlements an `entitlements.updated` event shows. */
  catalog?: CatalogSource | undefined;
  /** How long before a credit grant expires `credits.expiring` is emitted; 0 or unset: never. */
  creditsNoticeMs?: number | undefined;
}) {
  const { db, dialect } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = false;

  async function runOnce(now: number): Promise<number> {
    const advanced = await advanceSubscriptions(now);
    if (stopped) return advanced;
    return advanced + (await noticeExpiringCredits(db, { now, noticeMs: deps.creditsNoticeMs ?? 0 }));
  }

  async function advanceSubscriptions(now: number): Promise<number> {
    let done = 0;
    let after = '';
    for (;;) {
      const due = await db
        .selectFrom('subscriptions')
        .select('id')
        .where('next_due_at', '<=', now)
        .where('id', '>', after)
        .orderBy('id')
        .limit(batchSize)
        .execute();
      for (const { id } of due) {
        // Stopping leaves the rest for the next run, on this node or another: nothing is lost.
        if (stopped) return done;
        const advanced = await withTransaction(db, async (tx) => {
          const subscription = await lockSubscription(tx, { dialect, id, dueBy: now });
          if (!subscription) return false; // another node has it, or has done it
          await updateSubscription(
            tx,
            await catchUp(tx, { subscription, now, onRenewal: deps.onRenewal, catalog: deps.catalog }),
          );
          return true;
        });
        if (advanced) done++;
      }
      if (due.length < batchSize) return done;
      after = due.at(-1)!.id;
    }
  }

  return {
    /**
     * Brings every subscription up to `now` (default: the clock's now); answers how many were
     * advanced. Calls while a run is in flight wait for it and then run again, so a caller that
     * has just moved the clock always gets a run that saw its time.
     */
    async runDue(now?: number): Promise<number> {
      while (running) await running.catch(() => undefined);
      running = runOnce(now ?? deps.clock.now());
      try {
        return await running;
      } finally {
        running = undefined;
      }
    },

    start(pollMs: number): void {
      stopped = false;
      timer = setInterval(() => {
        if (running) return;
        this.runDue().catch((error: unknown) => deps.logger.warn({ err: error }, 'running due subscriptions failed'));
      }, pollMs);
      timer.unref();
    },

    /** Stops polling and waits for a run in flight to finish the subscription it is on. */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
