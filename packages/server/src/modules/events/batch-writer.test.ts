import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../db/database.js';
import { migrateToLatest } from '../../db/migrate.js';
import { createTestDatabase, type TestDatabase, testDialects } from '../../test-support/databases.js';
import { type BatchPlan, type BatchWriter, groupedBatchWriter, threadBatchWriter } from './batch-writer.js';

const now = Date.parse('2026-06-15T12:00:00.000Z');
const month = Date.parse('2026-06-01T00:00:00.000Z');

/** A plan of `count` new events for one customer, each adding one to its monthly `api_calls` counter. */
function plan(input: { customer: string; ids: string[]; now?: number }): BatchPlan {
  const { customer, ids } = input;
  return {
    now: input.now ?? now,
    events: {
      source: ids.map(() => ''),
      id: ids,
      customerId: ids.map(() => customer),
      type: ids.map(() => 'api_call'),
      timestamp: ids.map(() => now),
      properties: ids.map(() => '{}'),
    },
    adds: {
      event: ids.map((_, i) => i),
      feature: ids.map(() => 'api_calls'),
      aggregation: ids.map(() => 'count' as const),
      amount: ids.map(() => 1),
      distinct: ids.map(() => null),
      periodStart: ids.map(() => month),
    },
    creditAllowances: new Map(),
    watches: new Map(),
  };
}

const ids = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`);

// The thread writer is SQLite's alone (PostgreSQL writes batches on its own pool).
describe('the batch-writing thread', () => {
  let test: TestDatabase;
  let database: DatabaseHandle;
  let writer: BatchWriter;
  beforeAll(async () => {
    test = await createTestDatabase('sqlite');
    database = openDatabase(test.target);
    await migrateToLatest(database);
    writer = threadBatchWriter({
      file: database.sqliteFile!,
      hold: (work) => database.db.connection().execute(() => work()),
    });
  });
  afterAll(async () => {
    await writer.close();
    await database.close();
    await test.drop();
  });

  const counter = async (customer: string) =>
    (
      await database.db
        .selectFrom('usage_counters')
        .select('value')
        .where('customer_id', '=', customer)
        .where('feature', '=', 'api_calls')
        .where('period_start', '=', month)
        .executeTakeFirst()
    )?.value ?? 0;

  it('stores the new events of concurrent batches once, and counts each once', async () => {
    const batches = [ids('a', 300), ids('b', 300), ids('a', 300), [...ids('c', 200), ...ids('b', 100)]];
    const accepted = await Promise.all(batches.map((batch) => writer.write(plan({ customer: 'acme', ids: batch }))));
    expect(accepted.reduce((sum, n) => sum + n, 0)).toBe(800);
    expect(accepted[2]).toBe(0);
    expect(Number(await counter('acme'))).toBe(800);
  });

  it('gives the main connection back between holds: its own writes interleave with the batches', async () => {
    const writes = Array.from({ length: 6 }, (_, n) =>
      writer.write(plan({ customer: 'globex', ids: ids(`g${n}`, 500) })),
    );
    const own = database.db
      .insertInto('customers')
      .values({ id: 'initech', name: null, email: null, traits: '{}', created_at: now, updated_at: now })
      .execute();
    await Promise.all([...writes, own]);
    expect(Number(await counter('globex'))).toBe(3000);
  });

  it('finishes the batches already sent when closed, and refuses new ones', async () => {
    const other = threadBatchWriter({
      file: database.sqliteFile!,
      hold: (work) => database.db.connection().execute(() => work()),
    });
    const writes = [1, 2, 3].map((n) => other.write(plan({ customer: 'umbrella', ids: ids(`u${n}`, 100) })));
    await writes[0];
    await other.close();
    expect(await Promise.allSettled(writes)).toEqual(writes.map(() => ({ status: 'fulfilled', value: 100 })));
    await expect(other.write(plan({ customer: 'umbrella', ids: ['late'] }))).rejects.toThrow('closed');
    expect(Number(await counter('umbrella'))).toBe(300);
  });
});

describe.runIf(testDialects.includes('postgres'))('batches written together on PostgreSQL', () => {
  let test: TestDatabase;
  let database: DatabaseHandle;
  let writer: BatchWriter;
  beforeAll(async () => {
    test = await createTestDatabase('postgres');
    database = openDatabase(test.target);
    await migrateToLatest(database);
    writer = groupedBatchWriter(database.db);
  });
  afterAll(async () => {
    await writer.close();
    await database.close();
    await test.drop();
  });

  const counter = async (customer: string) =>
    Number(
      (
        await database.db
          .selectFrom('usage_counters')
          .select('value')
          .where('customer_id', '=', customer)
          .where('period_start', '=', month)
          .executeTakeFirst()
      )?.value ?? 0,
    );
  const hour = async (customer: string) =>
    Number(
      (
        await database.db
          .selectFrom('usage_history')
          .select('value')
          .where('customer_id', '=', customer)
          .executeTakeFirst()
      )?.value ?? 0,
    );

  it('counts each event in the first batch that has it, as if written one after the other', async () => {
    // The first is written at once; the others arrive meanwhile and share the next transaction.
    const batches = [
      { customer: 'acme', ids: ids('x', 10), now },
      { customer: 'acme', ids: [...ids('a', 300), 'a-0'], now: now + 1 },
      { customer: 'globex', ids: ids('b', 300), now: now + 2 },
      { customer: 'acme', ids: ids('a', 300), now: now + 3 },
      { customer: 'globex', ids: [...ids('c', 200), ...ids('b', 100)], now: now + 4 },
    ];
    const accepted = await Promise.all(batches.map((batch) => writer.write(plan(batch))));
    expect(accepted).toEqual([10, 300, 300, 0, 200]);
    expect(await counter('acme')).toBe(310);
    expect(await counter('globex')).toBe(500);
    expect(await hour('acme')).toBe(310);
    expect(await hour('globex')).toBe(500);
    // Each event keeps its own batch's receipt time.
    const received = await database.db
      .selectFrom('events')
      .select(['id', 'received_at'])
      .where('id', 'in', ['x-0', 'a-0', 'b-0', 'c-0'])
      .orderBy('id')
      .execute();
    expect(received.map((row) => [row.id, Number(row.received_at)])).toEqual([
      ['a-0', now + 1],
      ['b-0', now + 2],
      ['c-0', now + 4],
      ['x-0', now],
    ]);
  });

  it('writes the others when one batch of a shared transaction fails, and fails that one alone', async () => {
    const broken = plan({ customer: 'initech', ids: ids('broken', 3) });
    // A customer id the events table refuses (not null): the shared transaction fails.
    broken.events.customerId[1] = null as unknown as string;
    const writes = [
      writer.write(plan({ customer: 'initech', ids: ids('first', 5) })),
      writer.write(plan({ customer: 'initech', ids: ids('before', 50) })),
      writer.write(broken),
      writer.write(plan({ customer: 'initech', ids: ids('after', 70) })),
    ];
    const settled = await Promise.allSettled(writes);
    expect(settled.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(await counter('initech')).toBe(125);
  });
});
