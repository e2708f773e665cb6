import type { Db, Dialect } from '../../db/database.js';
import { muteFeedScope, unmuteFeedScope } from '../../db/dialect-sql.js';

/**
 * Runs `write`, which changes the usage counters of `customers` (and no one else's), so that the
 * change feed gets one row naming them all instead of one row per counter written: the counters'
 * triggers are muted meanwhile (see `muteFeedScope`) and the row is appended after, in the same
 * transaction. For one customer the triggers announce as usual. Every node reads a
 * thousand-customer batch of events as one change (see ChangeFeed), not a thousand.
 */
export async function announcingUsageOnce<T>(input: {
  tx: Db;
  dialect: Dialect;
  customers: Iterable<string>;
  write: () => Promise<T>;
}): Promise<T> {
  const { tx, dialect } = input;
  const customers = [...new Set(input.customers)];
  if (customers.length < 2) return input.write();
  await muteFeedScope({ db: tx, dialect, scope: 'usage' });
  const result = await input.write();
  await unmuteFeedScope({ db: tx, dialect, scope: 'usage' });
  await tx
    .insertInto('changes')
    .values({ scope: 'usage', customer_id: null, customer_ids: JSON.stringify(customers) })
    .execute();
  return result;
}
