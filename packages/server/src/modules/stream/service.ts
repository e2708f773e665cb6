import type { Db } from '../../db/database.js';
import type { StreamConnection } from './connection.js';
import { changeBounds, readChangesAfter } from './store.js';

export type StreamService = ReturnType<typeof createStreamService>;

const page = 1000;

/**
 * Resuming a stream without gaps. Event ids are change-feed positions (`changes.seq`), the same
 * numbers on every node, so a client may resume on any node. A connection is subscribed to the
 * live feed *before* the missed changes are read from the table, and live changes are held until
 * that read is done: a change committed in between is seen by one or the other (or both — the
 * held copy is then skipped), never by neither.
 */
export function createStreamService(deps: {
  db: Db;
  /** Reads the change feed up to now, so the cache and `position` include every commit so far. */
  sync: () => Promise<void>;
  position: () => number;
}) {
  const { db } = deps;

  /** Whether a resume point can no longer be served from the retained changes. */
  async function tooOld(lastEventId: number): Promise<boolean> {
    const { min, max } = await changeBounds(db);
    if (max === null || min === null) return lastEventId > 0;
    // Ahead of the feed: an id from another database (a restore); behind it: pruned away.
    return lastEventId > max || lastEventId < min - 1;
  }

  return {
    /**
     * Queues what the client missed since `lastEventId` (nothing for a new client, who fetches
     * snapshots after `ready`), or a `reset` when that point is gone. Answers the id `ready`
     * carries and which held live changes are already covered.
     */
    async prepare(input: {
      connection: StreamConnection;
      customer: string | undefined;
      lastEventId: number | undefined;
    }): Promise<{ readyId: number; skip: (seq: number) => boolean }> {
      const { connection, customer, lastEventId } = input;
      await deps.sync();
      const position = deps.position();
      const reset = { readyId: position, skip: (seq: number) => seq <= position };
      if (lastEventId !== undefined && (await tooOld(lastEventId))) {
        connection.reset(position);
        return reset;
      }
      const after = lastEventId ?? position;
      const replayed = new Set<number>();
      for (let from = after; ; ) {
        const read = await readChangesAfter(db, { after: from, customer, limit: page });
        for (const change of read.changes) {
          replayed.add(change.seq);
          // Above the feed's position a lower number may still commit: resume from below it.
          connection.enqueue({
            scope: change.scope,
            customerId: change.customer_id,
            id: Math.max(after, Math.min(change.seq, position)),
          });
        }
        if (read.rows < page) break;
        from = read.lastSeq;
      }
      // Pruning may have raced the read: what it removed cannot be replayed.
      if (lastEventId !== undefined && (await tooOld(lastEventId))) {
        connection.reset(position);
        return reset;
      }
      return { readyId: after, skip: (seq) => seq <= after || replayed.has(seq) };
    },
  };
}
