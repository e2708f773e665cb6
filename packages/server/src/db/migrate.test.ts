import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../test-support/databases.js';
import { type DatabaseHandle, openDatabase } from './database.js';
import { migrateToLatest, migrations } from './migrate.js';

describeEachDialect('migrations', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.target);
  });
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });

  const all = () => migrations(dialect);
  const without = (name: string) => Object.fromEntries(Object.entries(all()).filter(([key]) => key !== name));

  it('carries usage counted before 0007 into the history, by the hour of its last change', async () => {
    await migrateToLatest(handle, { migrations: without('0007-usage-history') });
    const { db } = handle;
    const feature = (key: string, type: string) => ({
      id: `fea_${key}`,
      key,
      name: key,
      description: null,
      type,
      unit: null,
      status: 'active',
      options: null,
      meter: null,
      credit_cost: null,
      targeting: null,
      variants: null,
      created_at: 0,
      updated_at: 0,
    });
    await db
      .insertInto('features')
      .values([feature('calls', 'metered'), feature('seats', 'gauge')])
      .execute();
    const updatedAt = Date.parse('2026-06-15T10:42:00.000Z');
    const counter = (featureKey: string, value: number) => ({
      customer_id: 'acme',
      feature: featureKey,
      period_start: Date.parse('2026-06-01T00:00:00.000Z'),
      value,
      latest_at: null,
      updated_at: updatedAt,
    });
    await db
      .insertInto('usage_counters')
      .values([counter('calls', 12), counter('seats', 3)])
      .execute();
    await migrateToLatest(handle);
    const rows = await db
      .selectFrom('usage_history')
      .select(['feature', 'bucket_start', 'period_start', 'value'])
      .execute();
    expect(
      rows.map((row) => ({ ...row, bucket_start: Number(row.bucket_start), period_start: Number(row.period_start) })),
    ).toEqual([
      {
        feature: 'calls',
        bucket_start: Date.parse('2026-06-15T10:00:00.000Z'),
        period_start: Date.parse('2026-06-01T00:00:00.000Z'),
        value: 12,
      },
    ]);
  });

  it('runs a migration numbered below one already run (0006 is reserved for another branch)', async () => {
    const reserved = {
      async up(db: Parameters<ReturnType<typeof all>[string]['up']>[0]) {
        await db.schema.createTable('reserved_probe').addColumn('id', 'text').execute();
      },
    };
    const result = await migrateToLatest(handle, { migrations: { ...all(), '0006-reserved': reserved } });
    expect(result.results?.map((r) => [r.migrationName, r.status])).toEqual([['0006-reserved', 'Success']]);
    await handle.db
      .selectFrom('reserved_probe' as never)
      .selectAll()
      .execute();
  });
});
