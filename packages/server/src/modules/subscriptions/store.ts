import { LiveStatuses } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { fromDbSubscription, type SubscriptionRecord, toDbSubscription } from './convert.js';

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
