import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../../db/database.js';
import type { NotificationTable } from '../../db/schema.js';

/**
 * Inserts notifications; one whose event already made one is skipped (`event_id` is unique).
 * Answers the ids of those inserted.
 */
export async function insertNotifications(db: Db, rows: Insertable<NotificationTable>[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await db
    .insertInto('notifications')
    .values(rows)
    .onConflict((oc) => oc.column('event_id').doNothing())
    .returning('id')
    .execute();
  return new Set(inserted.map((row) => row.id));
}

/** A customer's notifications, newest first, after the cursor (an id) when given. */
export async function listNotifications(
  db: Db,
  page: { customer: string; unread: boolean; before: string | undefined; limit: number },
): Promise<Selectable<NotificationTable>[]> {
  let query = db
    .selectFrom('notifications')
    .selectAll()
    .where('customer_id', '=', page.customer)
    .orderBy('id', 'desc')
    .limit(page.limit);
  if (page.unread) query = query.where('read_at', 'is', null);
  if (page.before !== undefined) query = query.where('id', '<', page.before);
  return query.execute();
}

/**
 * Marks one of the customer's notifications read (a second time keeps the first time); undefined
 * when it is not theirs. Marking an unread one appends a `notification` change for the customer:
 * their open streams (another tab, another device) get the shorter unread list. Run it in a
 * transaction, so the change commits with the mark.
 */
export async function markNotificationRead(
  db: Db,
  input: { customer: string; id: string; now: number },
): Promise<Selectable<NotificationTable> | undefined> {
  const marked = await db
    .updateTable('notifications')
    .set({ read_at: input.now })
    .where('id', '=', input.id)
    .where('customer_id', '=', input.customer)
    .where('read_at', 'is', null)
    .executeTakeFirst();
  if (Number(marked.numUpdatedRows) > 0)
    await db.insertInto('changes').values({ scope: 'notification', customer_id: input.customer }).execute();
  return db
    .selectFrom('notifications')
    .selectAll()
    .where('id', '=', input.id)
    .where('customer_id', '=', input.customer)
    .executeTakeFirst();
}
