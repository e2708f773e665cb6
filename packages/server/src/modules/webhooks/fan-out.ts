import type { Insertable } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import type { WebhookDeliveryTable } from '../../db/schema.js';
import { newId } from '../../ids.js';
import { toIso } from '../../json-column.js';
import { createOutboxConsumer } from '../outbox/consumer.js';
import { wants } from './convert.js';
import { enabledEndpoints, insertDeliveries } from './store.js';

/** This consumer's row in `outbox_consumers`. */
export const webhooksConsumer = 'webhooks';

/** The body of a delivery, as the receiver gets it (Standard Webhooks' `{type, timestamp, data}` plus the event id). */
export function deliveryBody(event: {
  seq: number;
  id: string;
  type: string;
  occurred_at: number;
  data: string;
}): string {
  const data = JSON.parse(event.data) as unknown;
  // `version` is the outbox position: it only grows, so a receiver that sees deliveries out of
  // order can drop one older than what it already holds for the same object.
  const versioned =
    data !== null && typeof data === 'object' && !Array.isArray(data)
      ? { ...(data as Record<string, unknown>), version: event.seq }
      : { value: data, version: event.seq };
  return JSON.stringify({ id: event.id, type: event.type, timestamp: toIso(event.occurred_at), data: versioned });
}

/**
 * Turns outbox events into one delivery per interested endpoint, and moves the webhooks cursor in
 * the same transaction (see `createOutboxConsumer`): each event is fanned out exactly once, whichever
 * node runs it.
 */
export function createFanOut(deps: { db: Db; dialect: Dialect; clock: Clock }) {
  return createOutboxConsumer({
    ...deps,
    name: webhooksConsumer,
    async take({ tx, events, now }) {
      const endpoints = await enabledEndpoints(tx);
      const deliveries: Insertable<WebhookDeliveryTable>[] = [];
      for (const event of events) {
        let body: string | undefined;
        for (const endpoint of endpoints) {
          // An endpoint hears of what happened after it was registered, not of the past.
          if (event.created_at < endpoint.created_at || !wants(endpoint, event.type)) continue;
          body ??= deliveryBody(event);
          deliveries.push({
            id: newId('whd'),
            endpoint_id: endpoint.id,
            event_id: event.id,
            event_type: event.type,
            customer_id: event.customer_id,
            payload: body,
            status: 'pending',
            attempts: 0,
            next_attempt_at: now,
            created_at: now,
            updated_at: now,
          });
        }
      }
      await insertDeliveries(tx, deliveries);
    },
  });
}
