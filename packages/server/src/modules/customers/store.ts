import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { type CustomerRecord, fromDbCustomer, toDbCustomer } from './convert.js';

export async function findCustomer(db: Db, id: string): Promise<CustomerRecord | undefined> {
  const row = await db.selectFrom('customers').selectAll().where('id', '=', id).executeTakeFirst();
  return row && fromDbCustomer(row);
}

/** The customer who pays as this Stripe customer (`stripe_customer`), if any; the oldest if several do. */
export async function findCustomerByStripeCustomer(
  db: Db,
  stripeCustomer: string,
): Promise<CustomerRecord | undefined> {
  const row = await db
    .selectFrom('customers')
    .selectAll()
    .where('stripe_customer', '=', stripeCustomer)
    .orderBy('created_at')
    .orderBy('id')
    .executeTakeFirst();
  return row && fromDbCustomer(row);
}

/**
 * A page of customers by id. With `prefix`, only those whose id starts with it (exactly) or whose
 * name or email starts with it (case aside): the console's search. It walks the id index and
 * filters, so the first page of a common prefix is as quick as an unfiltered one; a rare prefix
 * reads further. `substr` and `lower` mean the same on both dialects (`lower` folds ASCII only on
 * SQLite); the length is in characters, as `substr` counts.
 */
export async function listCustomers(
  db: Db,
  page: { after: string | undefined; limit: number; prefix?: string | undefined },
): Promise<CustomerRecord[]> {
  let query = db.selectFrom('customers').selectAll().orderBy('id').limit(page.limit);
  if (page.after !== undefined) query = query.where('id', '>', page.after);
  const { prefix } = page;
  if (prefix !== undefined) {
    const length = Array.from(prefix).length;
    const folded = (column: 'name' | 'email') =>
      sql`lower(substr(${sql.ref(column)}, 1, ${length})) = lower(${prefix})`;
    query = query.where(
      sql<boolean>`(substr(id, 1, ${length}) = ${prefix} or ${folded('name')} or ${folded('email')})`,
    );
  }
  return (await query.execute()).map(fromDbCustomer);
}

export async function insertCustomer(db: Db, customer: CustomerRecord): Promise<void> {
  await db.insertInto('customers').values(toDbCustomer(customer)).execute();
}

export async function updateCustomer(db: Db, customer: CustomerRecord): Promise<void> {
  const { id, created_at: _created, ...changes } = toDbCustomer(customer);
  await db.updateTable('customers').set(changes).where('id', '=', id).execute();
}

/**
 * Every table that holds rows about one customer, keyed by `customer_id`; GDPR erasure deletes
 * from each. A new table with a `customer_id` column belongs here: the erasure test fails for any
 * table it finds still holding the erased customer's rows, and the export test for any table no export
 * section reads (see export-sections.ts).
 */
export const customerTables = [
  'grants',
  'subscriptions',
  'subscription_history',
  'domain_events',
  'events',
  'usage_counters',
  'usage_distinct',
  'usage_history',
  'consumptions',
  'reservations',
  'credit_balances',
  'idempotency_keys',
  'stripe_events',
  'billing_links',
  'billing_changes',
  'contract_revisions',
  'webhook_deliveries',
  'webhook_attempts',
  'alert_rules',
  'alert_firings',
  'notifications',
  'decisions',
  'notification_emails',
] as const;

/**
 * Removes the customer and everything stored about them: subscriptions and their history, grants,
 * usage events (a scan: events are indexed only by their id), counters, consumptions,
 * reservations, credits, undelivered domain events, stored idempotent answers, and the Stripe events
 * about their Stripe customer. Run it in a transaction.
 */
export async function eraseCustomer(db: Db, id: string): Promise<boolean> {
  const customer = await findCustomer(db, id);
  for (const table of customerTables) await db.deleteFrom(table).where('customer_id', '=', id).execute();
  // Stripe events name the customer by their Stripe id, also those recorded before any link.
  if (customer?.stripeCustomer) {
    await db.deleteFrom('stripe_events').where('stripe_customer', '=', customer.stripeCustomer).execute();
  }
  const result = await db.deleteFrom('customers').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
