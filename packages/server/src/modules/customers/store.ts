import type { Db } from '../../db/database.js';
import { type CustomerRecord, fromDbCustomer, toDbCustomer } from './convert.js';

export async function findCustomer(db: Db, id: string): Promise<CustomerRecord | undefined> {
  const row = await db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
  return row && fromDbCustomer(row);
}

export async function listCustomers(
  db: Db,
  page: { after: string | undefined; limit: number },
): Promise<CustomerRecord[]> {
  let query = db.selectFrom('customers').selectAll().orderBy('id').limit(page.limit);
  if (page.after !== undefined) query = query.where('id', '>', page.after);
  return (await query.execute()).map(fromDbCustomer);
}

export async function insertCustomer(db: Db, customer: CustomerRecord): Promise<void> {
  await db.insertInto('customers').values(toDbCustomer(customer)).execute();
}

export async function updateCustomer(db: Db, customer: CustomerRecord): Promise<void> {
  const { id, created_at: _created, ...changes } = toDbCustomer(customer);
  await db.updateTable('customers').set(changes).where('id', '=', id).execute();
}

/** Removes the customer and everything stored about them. */
export async function eraseCustomer(db: Db, id: string): Promise<boolean> {
  await db.deleteFrom('grants').where('customer_id', '=', id).execute();
  await db.deleteFrom('subscriptions').where('customer_id', '=', id).execute();
  const result = await db.deleteFrom('customers').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
