import type { IngestResult } from '@keymaster/contract';
import { type FieldError, readCloudEvent, readEvent, type UsageEvent } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import { eventKey, existingCustomers, insertNewEvents } from './store.js';

export type EventService = ReturnType<typeof createEventService>;

export type EventFormat = 'keymaster' | 'cloudevents';

function describe(errors: FieldError[]): string {
  return errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
}

/**
 * Usage event ingestion. Each event is read on its own, so a bad one is reported by its index
 * and the rest are stored. Events for customers Keymaster does not know are rejected and not
 * stored (PUT the customer first): usage that nobody can be entitled to would otherwise pile up
 * unseen. The answer is given only after the batch is committed.
 */
export function createEventService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;
  return {
    async ingest(input: { events: unknown[]; format: EventFormat }): Promise<IngestResult> {
      const now = clock.now();
      const read = input.format === 'cloudevents' ? readCloudEvent : readEvent;
      const rejected: IngestResult['rejected'] = [];
      const valid: { index: number; event: UsageEvent }[] = [];
      input.events.forEach((raw, index) => {
        const result = read({ raw, now });
        if ('errors' in result) rejected.push({ index, error: describe(result.errors) });
        else valid.push({ index, event: result.event });
      });
      return withTransaction(db, async (tx) => {
        const known = await existingCustomers(tx, [...new Set(valid.map((v) => v.event.customerId))]);
        const storable: UsageEvent[] = [];
        for (const { index, event } of valid) {
          if (known.has(event.customerId)) storable.push(event);
          else rejected.push({ index, error: `unknown customer "${event.customerId}"` });
        }
        const inserted = await insertNewEvents(tx, { events: storable, receivedAt: now });
        rejected.sort((a, b) => a.index - b.index);
        // A repeat within the batch is a duplicate too: only its first occurrence is stored.
        let accepted = 0;
        const seen = new Set<string>();
        for (const event of storable) {
          const key = eventKey(event.source, event.id);
          if (inserted.has(key) && !seen.has(key)) accepted++;
          seen.add(key);
        }
        return { accepted, duplicates: storable.length - accepted, rejected };
      });
    },
  };
}
