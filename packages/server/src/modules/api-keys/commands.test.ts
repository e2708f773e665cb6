import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../db/database.js';
import { runKeymaster } from '../../test-support/cli.js';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { listKeys } from './store.js';

describeEachDialect('keymaster keys', (dialect) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
  });
  afterAll(() => database?.drop());

  const keys = async () => {
    const handle = openDatabase(database.target);
    try {
      return await listKeys(handle.db, { after: undefined, limit: 100 });
    } finally {
      await handle.close();
    }
  };

  it('creates a scoped key, lists it with its scopes, rolls it and revokes it', async () => {
    const created = await runKeymaster(database.target, [
      'keys',
      'create',
      '--name',
      'usage pipeline',
      '--scope',
      'usage:write',
      '--scope',
      'check,usage:read',
      '--expires',
      '90d',
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/with usage:write, check, usage:read\. Store the secret now[\s\S]*km_sk_\w{32}/);
    const [key] = await keys();
    expect(key).toMatchObject({ name: 'usage pipeline', scopes: '["usage:write","check","usage:read"]' });
    expect(key!.expires_at! - Date.now()).toBeGreaterThan(89 * 86_400_000);

    const listed = await runKeymaster(database.target, ['keys', 'list']);
    expect(listed.stdout).toContain(`${key!.id}  ${key!.prefix}…  usage pipeline  [usage:write check usage:read]`);

    const rolled = await runKeymaster(database.target, ['keys', 'roll', key!.prefix, '--previous-expires', '2h']);
    expect(rolled.code, rolled.stderr).toBe(0);
    expect(rolled.stdout).toContain(`Rolled ${key!.id}`);
    const after = await keys();
    expect(after).toHaveLength(2);
    const old = after.find((k) => k.id === key!.id)!;
    expect(Math.abs(old.expires_at! - (Date.now() + 2 * 3_600_000))).toBeLessThan(60_000);
    expect(after.find((k) => k.id !== key!.id)).toMatchObject({ name: 'usage pipeline', expires_at: null });

    const revoked = await runKeymaster(database.target, ['keys', 'revoke', key!.id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await keys()).find((k) => k.id === key!.id)?.revoked_at).not.toBeNull();
  }, 60_000);

  it('refuses a key without a scope, or with one it does not know, naming the scopes there are', async () => {
    for (const args of [[], ['--scope', 'everything']]) {
      const refused = await runKeymaster(database.target, ['keys', 'create', '--name', 'x', ...args]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('--scope');
      expect(refused.stderr).toContain('catalog:read');
    }
    expect((await keys()).filter((k) => k.name === 'x')).toEqual([]);
  }, 60_000);
});
