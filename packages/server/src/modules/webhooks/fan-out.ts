import type { Insertable } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import type { WebhookDeliveryTable } from '../../db/schema.js';
import { withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { toIso } from '../../json-column.js';
import { wants } from './convert.js';
import { enabledEndpoints, insertDeliveries } from './store.js';

/** This consumer's row in `outbox_consumers`. */
export const webhooksConsumer = 'webhooks';

/** Outbox events taken per transaction. */
const batchSize = 500;

/**
 * How long a hole in the outbox's `seq` is waited for before it is passed over. Numbers are drawn
 * at insert and become visible at commit, so on PostgreSQL a lower one can appear after a higher
 * one; a rolled-back transaction leaves a hole that never fills. Writes that emit events are short
 * transactions: one still open after this long has almost surely rolled back. (SQLite has one
 * writer at a time and never shows a hole.)
 */
const holeWaitMs = 5000;

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
 * the same transaction: each event is fanned out exactly once, whichever node runs it. Other
 * consumers of the outbox keep cursors of their own and never see this one.
 */
export function createFanOut(deps: { db: Db; dialect: Dialect; clock: Clock }) {
  const { db, dialect } = deps;
  let hole: { seq: number; since: number } | undefined;

  /** One batch; answers how many events it took (0 when none, or another node holds the cursor). */
  async function runBatch(): Promise<number> {
    return withTransaction(db, async (tx) => {
      let cursor = tx.selectFrom('outbox_consumers').select('position').where('name', '=', webhooksConsumer);
      // One node fans out at a time; the others find the row taken and leave it to that one.
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
      const taken: typeof events = [];
      for (const event of events) {
        const seq = Number(event.seq);
        if (seq !== next + 1) {
          const waited = hole?.seq === next + 1 ? performance.now() - hole.since : 0;
          if (hole?.seq !== next + 1) hole = { seq: next + 1, since: performance.now() };
          if (waited < holeWaitMs) break;
        }
        hole = undefined;
        taken.push(event);
        next = seq;
      }
      if (taken.length === 0) return 0;
      const endpoints = await enabledEndpoints(tx);
      const now = deps.clock.now();
      const deliveries: Insertable<WebhookDeliveryTable>[] = [];
      for (const event of taken) {
        let body: string | undefined;
        for (const endpoint of endpoints) {
          // An endpoint hears of what happened after it was registered, not of the past.
          if (event.created_at < endpoint.created_at || !wants(endpoint, event.type)) continue;
          body ??= deliveryBody({ ...event, seq: Number(event.seq) });
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
      await tx
        .updateTable('outbox_consumers')
        .set({ position: next, updated_at: now })
        .where('name', '=', webhooksConsumer)
        .execute();
      return taken.length;
    });
  }

  return {
    /** Fans out everything visible now; answers how many events were taken. */
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
