import type { Kysely, Migration } from 'kysely';

/**
 * Drops `events_customer_time` (customer, type, timestamp): no query reads events by customer
 * (usage lives in the counters and their history; events are read only by their `(source, id)`
 * key, to skip duplicates), and keeping a second B-tree on the hottest insert in Keymaster cost
 * every ingested event. An index for a future read of events can come back with that read.
 */
export function eventsIndex(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('events_customer_time').ifExists().execute();
    },
  };
}
