import type { HistoryEntry } from '@keymaster/contract';
import { invalid, isLive, LiveStatuses } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { fromDbSubscription, type SubscriptionRecord, toApiHistoryEntry, toDbSubscription } from './convert.js';

export async function findSubscription(db: Db, id: string): Promise<SubscriptionRecord | undefined> {
  const row = await db.selectFrom('subscriptions').selectAll().where('id', '=', id).executeTakeFirst();
  return row && fromDbSubscription(row);
}

/** The subscription stored as live (or paused), if any: at most one per customer. */
export async function findStoredLiveSubscription(db: Db, customerId: string): Promise<SubscriptionRecord | undefined> {
  const row = await db
    .selectFrom('subscriptions')
    .selectAll()
    .where('customer_id', '=', customerId)
    .where('status', 'in', [...LiveStatuses, 'paused'])
    .executeTakeFirst();
  return row && fromDbSubscription(row);
}

/** The subscription that decides the customer's access: the live one, else the newest. */
export async function findCurrentSubscription(db: Db, customerId: string): Promise<SubscriptionRecord | undefined> {
  const live = await findStoredLiveSubscription(db, customerId);
  if (live) return live;
  const row = await db
    .selectFrom('subscriptions')
    .selectAll()
    .where('customer_id', '=', customerId)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row && fromDbSubscription(row);
}

export async function listSubscriptions(
  db: Db,
  page: { customerId: string; before: string | undefined; limit: number },
): Promise<SubscriptionRecord[]> {
  let query = db
    .selectFrom('subscriptions')
    .selectAll()
    .where('customer_id', '=', page.customerId)
    .orderBy('id', 'desc')
    .limit(page.limit);
  if (page.before !== undefined) query = query.where('id', '<', page.before);
  return (await query.execute()).map(fromDbSubscription);
}

export async function insertSubscription(db: Db, subscription: SubscriptionRecord): Promise<void> {
  await db.insertInto('subscriptions').values(toDbSubscription(subscription)).execute();
}

export async function updateSubscription(db: Db, subscription: SubscriptionRecord): Promise<void> {
  const { id, ...changes } = toDbSubscription(subscription);
  await db.updateTable('subscriptions').set(changes).where('id', '=', id).execute();
}

/** A subscription's history, newest first, keyed for cursor pagination by sequence number. */
export async function listHistory(
  db: Db,
  page: { subscriptionId: string; before: string | undefined; limit: number },
): Promise<{ cursor: string; entry: HistoryEntry }[]> {
  let query = db
    .selectFrom('subscription_history')
    .selectAll()
    .where('subscription_id', '=', page.subscriptionId)
    .orderBy('seq', 'desc')
    .limit(page.limit);
  if (page.before !== undefined) {
    if (!/^\d{1,15}$/.test(page.before)) {
      throw invalid([{ path: '/querystring/cursor', message: 'is not a cursor this API returned' }]);
    }
    query = query.where('seq', '<', Number(page.before));
  }
  return (await query.execute()).map((row) => ({ cursor: String(row.seq), entry: toApiHistoryEntry(row) }));
}

/**
 * The customer's subscription as it stood at `at`, rebuilt from the history: of every
 * subscription's last recorded state at or before then, the one live at that instant, else the
 * newest. Undefined when they had none yet.
 */
export async function findSubscriptionAt(
  db: Db,
  input: { customerId: string; at: number },
): Promise<SubscriptionRecord | undefined> {
  const rows = await db
    .selectFrom('subscription_history')
    .select(['subscription_id', 'after'])
    .where('customer_id', '=', input.customerId)
    .where('at', '<=', input.at)
    .orderBy('seq')
    .execute();
  const latest = new Map<string, SubscriptionRecord>();
  for (const row of rows) latest.set(row.subscription_id, fromDbSubscription(JSON.parse(row.after)));
  const states = [...latest.values()].sort((a, b) => (a.id < b.id ? 1 : -1));
  return states.find((s) => isLive(s, input.at)) ?? states[0];
}
