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

  it('0012 splits the legacy {"or": [rule, "<variant>"]} of flags import into the rule and default_variant', async () => {
    const fresh = await createTestDatabase(dialect);
    const other = openDatabase(fresh.target);
    try {
      await migrateToLatest(other, { migrations: without('0012-feature-defaults') });
      const rule = { if: [{ '==': [{ var: 'email' }, 'a@b.c'] }, 'on', null] };
      const row = (key: string, targeting: unknown, variants: unknown = null) => ({
        id: `fea_${key}`,
        key,
        name: key,
        description: null,
        type: key.startsWith('cfg') ? 'config' : 'boolean',
        unit: null,
        status: 'active',
        options: key.startsWith('cfg') ? JSON.stringify(['x', 'y']) : null,
        meter: null,
        credit_cost: null,
        targeting: targeting === null ? null : JSON.stringify(targeting),
        variants: variants === null ? null : JSON.stringify(variants),
        created_at: 0,
        updated_at: 0,
      });
      await other.db
        .insertInto('features')
        .values([
          row('wrapped', { or: [rule, 'off'] }),
          row('only_default', { or: ['on'] }),
          row('cfg_named', { or: [rule, 'big'] }, { big: 'y' }),
          row('cfg_option', { or: ['x'] }),
          row('plain_or', { or: [{ var: 'a' }, { var: 'b' }] }),
          row('unknown_variant', { or: [rule, 'nope'] }),
          row('untargeted', null),
        ])
        .execute();
      await migrateToLatest(other);
      const stored = await other.db
        .selectFrom('features')
        .select(['key', 'targeting', 'default_variant'])
        .orderBy('key')
        .execute();
      const parsed = Object.fromEntries(
        stored.map((r) => [r.key, [r.targeting === null ? null : JSON.parse(r.targeting), r.default_variant]]),
      );
      expect(parsed).toEqual({
        cfg_named: [rule, 'big'],
        cfg_option: [null, 'x'],
        only_default: [null, 'on'],
        plain_or: [{ or: [{ var: 'a' }, { var: 'b' }] }, null],
        unknown_variant: [{ or: [rule, 'nope'] }, null],
        untargeted: [null, null],
        wrapped: [rule, 'off'],
      });
    } finally {
      await other.close();
      await fresh.drop();
    }
  });
});
