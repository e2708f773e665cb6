import type { Grant } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { type CustomerRecord, fromDbCustomer } from '../customers/convert.js';
import { fromDbGrant } from '../grants/convert.js';
import { fromDbSubscription, type SubscriptionRecord } from '../subscriptions/convert.js';

/**
 * Set-wise reads for reports over the whole customer base: each takes a page of customers and
 * answers for all of them in one statement, so a report costs a few queries per page rather
 * than several per customer.
 */

/** Customers with subscription history recorded before `until`, by id. */
export async function listReportedCustomers(db: Db, input: { until: number }): Promise<string[]> {
  const rows = await db
    .selectFrom('subscription_history')
    .select('customer_id')
    .distinct()
    .where('at', '<', input.until)
    .orderBy('customer_id')
    .execute();
  return rows.map((row) => row.customer_id);
}

/** The customers' records, by id. */
export async function findCustomers(db: Db, ids: readonly string[]): Promise<Map<string, CustomerRecord>> {
  const rows = await db.selectFrom('customers').selectAll().where('id', 'in', ids).execute();
  return new Map(rows.map((row) => [row.id, fromDbCustomer(row)]));
}

/** Each customer's subscriptions' recorded states before `until`, oldest first, by customer then subscription. */
export async function listSubscriptionStates(
  db: Db,
  input: { customerIds: readonly string[]; until: number },
): Promise<Map<string, Map<string, { at: number; subscription: SubscriptionRecord }[]>>> {
  const rows = await db
    .selectFrom('subscription_history')
    .select(['customer_id', 'subscription_id', 'at', 'after'])
    .where('customer_id', 'in', input.customerIds)
    .where('at', '<', input.until)
    .orderBy('seq')
    .execute();
  const states = new Map<string, Map<string, { at: number; subscription: SubscriptionRecord }[]>>();
  for (const row of rows) {
    let bySubscription = states.get(row.customer_id);
    if (!bySubscription) {
      bySubscription = new Map();
      states.set(row.customer_id, bySubscription);
    }
    let list = bySubscription.get(row.subscription_id);
    if (!list) {
      list = [];
      bySubscription.set(row.subscription_id, list);
    }
    list.push({ at: Number(row.at), subscription: fromDbSubscription(JSON.parse(row.after)) });
  }
  return states;
}

/** Every grant each customer had been given by `at`, revoked and expired ones included, by customer. */
export async function listGrantsGivenBy(
  db: Db,
  input: { customerIds: readonly string[]; at: number },
): Promise<Map<string, Grant[]>> {
  const rows = await db
    .selectFrom('grants')
    .leftJoin('credit_balances', 'credit_balances.grant_id', 'grants.id')
    .selectAll('grants')
    .select('credit_balances.remaining')
    .where('grants.customer_id', 'in', input.customerIds)
    .where('grants.created_at', '<=', input.at)
    .orderBy('grants.id')
    .execute();
  const grants = new Map<string, Grant[]>();
  for (const row of rows) {
    const grant = fromDbGrant(row);
    const list = grants.get(grant.customerId);
    if (list) list.push(grant);
    else grants.set(grant.customerId, [grant]);
  }
  return grants;
}

/** What each customer used of each feature over [from, until), from the hourly usage history: by customer, then feature. */
export async function sumUsageHistory(
  db: Db,
  input: { customerIds: readonly string[]; from: number; until: number },
): Promise<Map<string, Map<string, number>>> {
  const rows = await db
    .selectFrom('usage_history')
    .select(['customer_id', 'feature'])
    .select((eb) => eb.fn.sum<number>('value').as('total'))
    .where('customer_id', 'in', input.customerIds)
    .where('bucket_start', '>=', input.from)
    .where('bucket_start', '<', input.until)
    .groupBy(['customer_id', 'feature'])
    .execute();
  return byCustomer(rows, (row) => [row.feature, Number(row.total)]);
}

/**
 * The counters of the customers at the given period starts (a period's counter, a gauge's
 * level): by customer, then `counterKey(feature, periodStart)`. One counter is its own sum, maximum and
 * latest value, so these answer every single-period read.
 */
export async function listCountersAt(
  db: Db,
  input: { customerIds: readonly string[]; periodStarts: readonly number[] },
): Promise<Map<string, Map<string, number>>> {
  if (input.periodStarts.length === 0) return new Map();
  const rows = await db
    .selectFrom('usage_counters')
    .select(['customer_id', 'feature', 'period_start', 'value'])
    .where('customer_id', 'in', input.customerIds)
    .where('period_start', 'in', input.periodStarts)
    .execute();
  return byCustomer(rows, (row) => [counterKey(row.feature, Number(row.period_start)), Number(row.value)]);
}

export function counterKey(feature: string, periodStart: number): string {
  return `${feature}\u0000${periodStart}`;
}

/** What the report computes a page of customers' rows from. */
export interface StoredPage {
  customers: string[];
  states: Awaited<ReturnType<typeof listSubscriptionStates>>;
  records: Map<string, CustomerRecord>;
  grants: Map<string, Grant[]>;
  usedInRange: Map<string, Map<string, number>>;
}

function byCustomer<R extends { customer_id: string }>(
  rows: readonly R[],
  entry: (row: R) => [string, number],
): Map<string, Map<string, number>> {
  const map = new Map<string, Map<string, number>>();
  for (const row of rows) {
    const [key, value] = entry(row);
    const of = map.get(row.customer_id);
    if (of) of.set(key, value);
    else map.set(row.customer_id, new Map([[key, value]]));
  }
  return map;
}
