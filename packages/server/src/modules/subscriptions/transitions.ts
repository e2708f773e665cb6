import { type DomainEventType, dueStep } from '@keymaster/core';
import type { Db, Dialect } from '../../db/database.js';
import { actorOf, appendAudit, changedFields } from '../audit/trail.js';
import { type CatalogSource, entitlementsAround } from '../entitlements/around.js';
import type { RenewalHook } from '../grants/rollover.js';
import { listCurrentGrants } from '../grants/store.js';
import { emitDomainEvents } from '../outbox/emit.js';
import { fromDbSubscription, type SubscriptionRecord, toApiSubscription, toDbSubscription } from './convert.js';

/** Who made a change: `key:<id>` for an API key, `scheduler` for time. */
export type Actor = string;

export const schedulerActor: Actor = 'scheduler';

/** Steps one catch-up may take; a subscription idle for 80 years of monthly renewals is not plausible. */
const maxSteps = 1000;

/**
 * Writes down one change to a subscription: a history row (who, when, why, before and after) and
 * the domain events it emits, into the outbox — in the caller's transaction, so a change and
 * its record commit or roll back together.
 */
export async function recordChange(
  tx: Db,
  input: {
    before: SubscriptionRecord | null;
    after: SubscriptionRecord;
    action: string;
    actor: Actor;
    /** The API request that made the change, for the audit trail. */
    requestId?: string | null | undefined;
    reason: string | null;
    at: number;
    now: number;
    events: readonly DomainEventType[];
    /** The catalog `entitlements.updated` resolves against (default: read from the database). */
    catalog?: CatalogSource | undefined;
  },
): Promise<void> {
  const { before, after, at } = input;
  // History keeps the stored form (every field, anchor included), so the subscription can be
  // rebuilt as it was at any instant; the API form goes to the events.
  await tx
    .insertInto('subscription_history')
    .values({
      subscription_id: after.id,
      customer_id: after.customerId,
      at,
      action: input.action,
      actor: input.actor,
      reason: input.reason,
      before: before && JSON.stringify(toDbSubscription(before)),
      after: JSON.stringify(toDbSubscription(after)),
      recorded_at: input.now,
    })
    .execute();
  const afterJson = toApiSubscription(after, at);
  const beforeJson = before && toApiSubscription(before, at);
  const changed = changedFields(
    beforeJson as unknown as Record<string, unknown> | null,
    afterJson as unknown as Record<string, unknown>,
  );
  await appendAudit(tx, [
    {
      at: input.now,
      actor: actorOf(input.actor, input.requestId),
      action: `subscription.${input.action}`,
      target: { type: 'subscription', id: after.id },
      customerId: after.customerId,
      data: { ...changed, reason: input.reason, effective_at: at },
    },
  ]);
  const data = { subscription: afterJson, previous: beforeJson, reason: input.reason };
  // Receivers of `entitlements.updated` learn what changed, feature by feature, not just that something did.
  const entitlements = input.events.includes('entitlements.updated')
    ? await entitlementsAround(tx, {
        customerId: after.customerId,
        at,
        catalog: input.catalog,
        ...(await sidesOf(tx, { before, after, at })),
      })
    : null;
  await emitDomainEvents(
    tx,
    input.events.map((type) => ({
      type,
      customerId: after.customerId,
      subscriptionId: after.id,
      occurredAt: at,
      data: type === 'entitlements.updated' ? { ...data, entitlements } : data,
    })),
    input.now,
  );
}

/** The customer's state on either side of a subscription change: the same grants, the subscription before and after. */
async function sidesOf(tx: Db, input: { before: SubscriptionRecord | null; after: SubscriptionRecord; at: number }) {
  const grants = await listCurrentGrants(tx, { customerId: input.after.customerId, now: input.at });
  return { before: { subscription: input.before, grants }, after: { subscription: input.after, grants } };
}

/**
 * Reads a subscription for changing it: on PostgreSQL the row is locked for the transaction, so
 * the scheduler and an API call (or two nodes' schedulers) never both change it from the same
 * state. SQLite has one writer at a time already. With `dueBy`, only a row with work due by
 * then; a row another transaction holds is skipped rather than waited for.
 */
export async function lockSubscription(
  tx: Db,
  input: { dialect: Dialect; id: string; dueBy?: number },
): Promise<SubscriptionRecord | undefined> {
  let query = tx.selectFrom('subscriptions').selectAll().where('id', '=', input.id);
  if (input.dueBy !== undefined) query = query.where('next_due_at', '<=', input.dueBy);
  if (input.dialect === 'postgres')
    query = input.dueBy !== undefined ? query.forUpdate().skipLocked() : query.forUpdate();
  const row = await query.executeTakeFirst();
  return row && fromDbSubscription(row);
}

/**
 * Applies everything time has made due on a subscription by `now`, one step at a time, each
 * recorded at its own instant, and answers the subscription as it stands at `now`. The caller
 * stores it (with the change it came to make, if any): storing also moves the row's next due
 * instant, which is what keeps the scheduler from taking the same step twice.
 */
export async function catchUp(
  tx: Db,
  input: {
    subscription: SubscriptionRecord;
    now: number;
    onRenewal?: RenewalHook | undefined;
    catalog?: CatalogSource | undefined;
  },
): Promise<SubscriptionRecord> {
  let current = input.subscription;
  let steps = 0;
  for (let step = dueStep(current, input.now); step; step = dueStep(current, input.now)) {
    if (++steps > maxSteps) break;
    const after: SubscriptionRecord = { ...current, ...step.after, updatedAt: input.now };
    await recordChange(tx, {
      before: current,
      after,
      action: step.kind,
      actor: schedulerActor,
      reason: null,
      at: step.at,
      now: input.now,
      events: step.events,
      catalog: input.catalog,
    });
    if (step.kind === 'renewal') await input.onRenewal?.(tx, { before: current, after, at: step.at, now: input.now });
    current = after;
  }
  return current;
}
