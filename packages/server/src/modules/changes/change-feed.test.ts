import { describe, expect, it } from 'vitest';
import { withTransaction } from '../../db/transaction.js';
import { describeEachDialect, testDialects, useMigratedDatabase } from '../../test-support/databases.js';
import { announcingUsageOnce } from './announce.js';
import { ChangeFeed, type ChangeListener } from './change-feed.js';

function recorder() {
  const seen: string[] = [];
  const listener: ChangeListener = {
    catalogChanged: () => seen.push('catalog'),
    customerChanged: (id) => seen.push(`customer:${id}`),
    usageChanged: (id) => seen.push(`usage:${id}`),
    apiKeysChanged: () => seen.push('api_keys'),
    reset: () => seen.push('reset'),
  };
  return { seen, listener };
}

const silent = { warn() {} };
const customerRow = (id: string) => ({ id, name: null, email: null, traits: '{}', created_at: 0, updated_at: 0 });

describeEachDialect('change feed', (dialect) => {
  const database = useMigratedDatabase(dialect);
  /** A feed following from now, polled only by `sync()`. */
  const startFeed = async () => {
    const { seen, listener } = recorder();
    // On SQLite the feed reads on the read-only connection, as the server's does.
    const feed = new ChangeFeed({
      db: database().db,
      readColumnNow: database().readColumnNow,
      listener,
      pollMs: 60_000,
      logger: silent,
    });
    await feed.start();
    return { seen, feed };
  };

  it('reports writes to every source table, by scope, and only committed ones', async () => {
    const { seen, feed } = await startFeed();
    await database().db.insertInto('customers').values(customerRow('c1')).execute();
    await database()
      .db.transaction()
      .execute(async (tx) => {
        await tx.insertInto('customers').values(customerRow('rolled-back')).execute();
        throw new Error('roll back');
      })
      .catch(() => undefined);
    await database().db.updateTable('customers').set({ name: 'C1' }).where('id', '=', 'c1').execute();
    await database()
      .db.insertInto('features')
      .values({
        id: 'feat_1',
        key: 'sso',
        name: 'SSO',
        description: null,
        type: 'boolean',
        unit: null,
        status: 'active',
        options: null,
        meter: null,
        credit_cost: null,
        targeting: null,
        variants: null,
        created_at: 0,
        updated_at: 0,
      })
      .execute();
    await database()
      .db.insertInto('usage_counters')
      .values({ customer_id: 'c1', feature: 'calls', period_start: 0, value: 1, latest_at: null, updated_at: 0 })
      .execute();
    // Any id survives the read: on SQLite a change arrives as one string, split on its first two spaces.
    await database().db.insertInto('customers').values(customerRow('acme corp  eu')).execute();
    await feed.sync();
    feed.stop();
    expect(seen).toEqual(['customer:c1', 'customer:c1', 'catalog', 'usage:c1', 'customer:acme corp  eu']);
    // Stopped (the node is shutting down), a write's sync answers at once and reads nothing.
    await database().db.insertInto('customers').values(customerRow('c2')).execute();
    await feed.sync();
    expect(seen).toEqual(['customer:c1', 'customer:c1', 'catalog', 'usage:c1', 'customer:acme corp  eu']);
  });

  it("announces a write of many customers' counters as one change naming them all, then unmutes", async () => {
    const { seen, feed } = await startFeed();
    const observed: string[] = [];
    feed.observe({
      changed: (change) => observed.push(`${change.seq}:${change.scope}:${change.customerId}`),
      reset: () => observed.push('reset'),
    });
    const start = feed.position;
    const counter = (customer: string, feature: string) => ({
      customer_id: customer,
      feature,
      period_start: 0,
      value: 1,
      latest_at: null,
      updated_at: 0,
    });
    const customers = ['m1', 'm2', 'm3'];
    await withTransaction(database().db, (tx) =>
      announcingUsageOnce({
        tx,
        dialect,
        customers: [...customers, 'm1'],
        write: () =>
          tx
            .insertInto('usage_counters')
            .values([...customers.map((id) => counter(id, 'calls')), counter('m1', 'tokens')])
            .execute(),
      }),
    );
    // Muted for that transaction only: the next counter write announces itself again.
    await database().db.insertInto('usage_counters').values(counter('m4', 'calls')).execute();
    // A write that rolls back leaves no change behind, muted or not.
    await withTransaction(database().db, async (tx) => {
      await announcingUsageOnce({
        tx,
        dialect,
        customers: ['x1', 'x2'],
        write: () =>
          tx
            .insertInto('usage_counters')
            .values([counter('x1', 'calls'), counter('x2', 'calls')])
            .execute(),
      });
      throw new Error('roll back');
    }).catch(() => undefined);
    await database().db.insertInto('usage_counters').values(counter('m5', 'calls')).execute();
    await feed.sync();
    feed.stop();
    expect(seen).toEqual(['usage:m1', 'usage:m2', 'usage:m3', 'usage:m4', 'usage:m5']);
    const rows = await database()
      .db.selectFrom('changes')
      .select(['scope', 'customer_id', 'customer_ids'])
      .where('seq', '>', start)
      .orderBy('seq')
      .execute();
    expect(rows).toEqual([
      { scope: 'usage', customer_id: null, customer_ids: JSON.stringify(customers) },
      { scope: 'usage', customer_id: 'm4', customer_ids: null },
      { scope: 'usage', customer_id: 'm5', customer_ids: null },
    ]);
    // Observers (the stream) get the many-customer change once per customer, with its number.
    const batch = start + 1;
    expect(observed.slice(0, 3)).toEqual(customers.map((id) => `${batch}:usage:${id}`));
    expect(observed).toHaveLength(5);
  });
});

// Only PostgreSQL lets two writers' commits interleave, which is what the gap handling is for.
describe.skipIf(!testDialects.includes('postgres'))('change feed on PostgreSQL', () => {
  const database = useMigratedDatabase('postgres');

  it('does not skip a change whose transaction commits after a later one', async () => {
    const { seen, listener } = recorder();
    const feed = new ChangeFeed({ db: database().db, listener, pollMs: 60_000, logger: silent });
    await feed.start();
    let releaseSlow: () => void = () => {};
    const slowMayCommit = new Promise<void>((resolve) => {
      releaseSlow = resolve;
    });
    let slowInserted: () => void = () => {};
    const slowHasInserted = new Promise<void>((resolve) => {
      slowInserted = resolve;
    });
    // The slow transaction takes the lower sequence number but commits last.
    const slow = database()
      .db.transaction()
      .execute(async (tx) => {
        await tx.insertInto('customers').values(customerRow('slow')).execute();
        slowInserted();
        await slowMayCommit;
      });
    await slowHasInserted;
    await database().db.insertInto('customers').values(customerRow('fast')).execute();
    await feed.sync();
    expect(seen).toEqual(['customer:fast']);
    releaseSlow();
    await slow;
    await feed.sync();
    feed.stop();
    expect(seen).toEqual(['customer:fast', 'customer:slow']);
  });
});
