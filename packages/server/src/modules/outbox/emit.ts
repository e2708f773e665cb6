import type { Db } from '../../db/database.js';
import { newId } from '../../ids.js';

/** One domain event, as a change writes it: what happened, to whom, and what to say about it. */
export interface DomainEventInput {
  type: string;
  customerId: string;
  subscriptionId?: string | null | undefined;
  /** When it happened (a scheduled change happens at its instant, not when the job ran). */
  occurredAt: number;
  /** The event's `data`, as webhooks deliver it. */
  data: unknown;
}

/**
 * Writes domain events into the outbox (`domain_events`), in the caller's transaction: an event
 * exists exactly when the change it describes committed. Everything that tells the world about a
 * change — webhooks, notifications, emails — starts from here; no change writes the table itself.
 */
export async function emitDomainEvents(tx: Db, events: readonly DomainEventInput[], now: number): Promise<void> {
  if (events.length === 0) return;
  await tx
    .insertInto('domain_events')
    .values(
      events.map((event) => ({
        id: newId('dev'),
        type: event.type,
        customer_id: event.customerId,
        subscription_id: event.subscriptionId ?? null,
        occurred_at: event.occurredAt,
        data: JSON.stringify(event.data),
        created_at: now,
        delivered_at: null,
      })),
    )
    .execute();
}
