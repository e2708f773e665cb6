import type { Selectable } from 'kysely';
import type { Db } from '../../../db/database.js';
import type { StripeEventTable } from '../../../db/schema.js';
import { newId } from '../../../ids.js';
import type { ProductPlans } from './subscription-state.js';

/** What became of a Stripe event; `received` until it is applied or recorded. */
export const StripeOutcomes = ['applied', 'duplicate', 'stale', 'ignored', 'failed'] as const;
export type StripeOutcome = (typeof StripeOutcomes)[number];
/** The outcomes that are final: a delivery of an event already recorded so is a duplicate. */
const settled: readonly string[] = ['applied', 'duplicate', 'stale', 'ignored'];

export type StripeEventRow = Selectable<StripeEventTable>;

/**
 * Stores an event as received, before anything is applied, unless an event of the same id is
 * stored already: answers whether this call stored it, and the stored row. The unique `event_id`
 * decides between two nodes receiving the same event at once.
 */
export async function storeReceived(
  db: Db,
  event: {
    id: string;
    type: string;
    created: number;
    payload: string;
    stripeCustomer: string | undefined;
    receivedAt: number;
  },
): Promise<{ stored: boolean; row: StripeEventRow }> {
  const result = await db
    .insertInto('stripe_events')
    .values({
      id: newId('sevt'),
      event_id: event.id,
      type: event.type,
      created: event.created,
      payload: event.payload,
      outcome: 'received',
      detail: null,
      stripe_subscription: null,
      customer_id: null,
      stripe_customer: event.stripeCustomer ?? null,
      received_at: event.receivedAt,
      applied_at: null,
    })
    .onConflict((oc) => oc.column('event_id').doNothing())
    .executeTakeFirst();
  const row = await findStripeEvent(db, event.id);
  if (!row) throw new Error(`stripe event ${event.id} vanished after it was stored`);
  return { stored: Number(result.numInsertedOrUpdatedRows ?? 0n) > 0, row };
}

/** Whether a stored event's outcome is final (applied, or recorded as ignored or stale). */
export function isSettled(row: StripeEventRow): boolean {
  return settled.includes(row.outcome);
}

export async function findStripeEvent(db: Db, eventId: string): Promise<StripeEventRow | undefined> {
  return db.selectFrom('stripe_events').selectAll().where('event_id', '=', eventId).executeTakeFirst();
}

/**
 * Records what became of an event. `applied` is written in the transaction that applied it;
 * the other outcomes only over an event not yet settled, so that a delivery that lost a race
 * (a `duplicate`) never overwrites the `applied` of the one that won.
 */
export async function recordOutcome(
  db: Db,
  input: {
    eventId: string;
    outcome: StripeOutcome;
    detail: string | null;
    subscription: string | null;
    customer: string | null;
    appliedAt?: number | undefined;
  },
): Promise<void> {
  let query = db
    .updateTable('stripe_events')
    .set({
      outcome: input.outcome,
      detail: input.detail,
      stripe_subscription: input.subscription,
      customer_id: input.customer,
      applied_at: input.appliedAt ?? null,
    })
    .where('event_id', '=', input.eventId);
  if (input.outcome !== 'applied') query = query.where('outcome', 'not in', settled);
  await query.execute();
}

/** Received events, newest first, before the cursor's. */
export async function listStripeEvents(
  db: Db,
  page: { before: string | undefined; limit: number },
): Promise<StripeEventRow[]> {
  let query = db.selectFrom('stripe_events').selectAll().orderBy('id', 'desc').limit(page.limit);
  if (page.before !== undefined) query = query.where('id', '<', page.before);
  return query.execute();
}

/**
 * Which plan each Stripe product is sold as: the `stripe_product` of each plan's latest version
 * (a plan's product can change with a new version; what it is sold as now is what counts).
 */
export async function loadProductPlans(db: Db): Promise<ProductPlans> {
  const rows = await db
    .selectFrom('plan_versions as v')
    .select(['v.plan_key', 'v.kind', 'v.stripe_product'])
    .where('v.version', '=', (eb) =>
      eb
        .selectFrom('plan_versions as w')
        .select((w) => w.fn.max('w.version').as('max'))
        .whereRef('w.plan_key', '=', 'v.plan_key'),
    )
    .where('v.stripe_product', 'is not', null)
    .orderBy('v.plan_key')
    .execute();
  const products = new Map<string, { plan: string; kind: 'base' | 'addon' }>();
  for (const row of rows) {
    if (row.stripe_product !== null && !products.has(row.stripe_product)) {
      products.set(row.stripe_product, { plan: row.plan_key, kind: row.kind === 'addon' ? 'addon' : 'base' });
    }
  }
  return products;
}
