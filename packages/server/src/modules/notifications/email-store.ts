import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../../db/database.js';
import type { NotificationEmailTable } from '../../db/schema.js';

/**
 * Queues emails; one for a customer, type and period that already has one is skipped (the key
 * is unique): at most one email per customer, notice type and period.
 */
export async function insertEmails(db: Db, rows: Insertable<NotificationEmailTable>[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('notification_emails')
    .values(rows)
    .onConflict((oc) => oc.columns(['customer_id', 'type', 'period_start']).doNothing())
    .execute();
}

/** A customer's emails, newest first, after the cursor (an id) when given. */
export async function listEmails(
  db: Db,
  page: { customer: string; before: string | undefined; limit: number },
): Promise<Selectable<NotificationEmailTable>[]> {
  let query = db
    .selectFrom('notification_emails')
    .selectAll()
    .where('customer_id', '=', page.customer)
    .orderBy('id', 'desc')
    .limit(page.limit);
  if (page.before !== undefined) query = query.where('id', '<', page.before);
  return query.execute();
}
