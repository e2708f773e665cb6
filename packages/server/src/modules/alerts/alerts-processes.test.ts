import { afterAll, beforeAll, expect, it } from 'vitest';
import { openDatabase } from '../../db/database.js';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, seedTeamCustomer, startServerProcess } from '../../test-support/processes.js';

const adminKey = 'km_sk_alerts_processes_key_0001';
const processes = 4;
const callersPerProcess = 50;
const consumesPerCaller = 6; // 4 × 50 × 6 = 1,200 attempts on a limit of 1,000: every threshold is crossed
const limit = 1000;

async function call(server: ServerProcess, path: string, body: unknown) {
  return server.call('POST', path, body);
}

describeEachDialect('alerts crossed by several server processes at once', (dialect) => {
  let database: TestDatabase;
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
    servers = await Promise.all(
      Array.from({ length: processes }, () => startServerProcess({ target: database.target, adminKey })),
    );
    await seedTeamCustomer({ servers, adminKey, limit });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
  });

  it('fires each rule exactly once per customer, and the limit once', async () => {
    // No process has consumed yet, so each reads the rules at its first consume.
    const rules: string[] = [];
    for (const rule of [
      { feature: 'calls', type: 'percent', value: 50, plan: 'team' },
      { feature: 'calls', type: 'percent', value: 90, plan: 'team' },
      { feature: 'calls', type: 'units', value: 999, plan: 'team' },
    ]) {
      const { status, json } = await call(servers[0]!, '/v1/alert-rules', rule);
      expect(status).toBe(201);
      rules.push(json.id as string);
    }
    const caller = async (server: ServerProcess) => {
      for (let i = 0; i < consumesPerCaller; i++) {
        const { status } = await call(server, '/v1/consume', { customer: 'acme', feature: 'calls' });
        expect(status).toBe(200);
      }
    };
    await Promise.all(servers.flatMap((server) => Array.from({ length: callersPerProcess }, () => caller(server))));

    const handle = openDatabase(database.target);
    try {
      const events = await handle.db
        .selectFrom('domain_events')
        .select(['type', 'customer_id', 'data'])
        .where('type', 'in', ['usage.threshold_reached', 'usage.limit_reached'])
        .execute();
      const fired = events.map(
        (event): Record<string, unknown> => ({
          event: event.type,
          ...(JSON.parse(event.data) as Record<string, unknown>),
        }),
      );
      const thresholds = fired.filter((event) => event.event === 'usage.threshold_reached');
      expect(thresholds.map((event) => event.rule).sort()).toEqual([...rules].sort());
      for (const event of thresholds) {
        expect(event).toMatchObject({ customer: 'acme', feature: 'calls', limit });
        expect(event.usage as number).toBeGreaterThanOrEqual(
          event.type === 'units' ? 999 : ((event.value as number) * limit) / 100,
        );
      }
      const limits = fired.filter((event) => event.event === 'usage.limit_reached');
      expect(limits).toHaveLength(1);
      expect(limits[0]).toMatchObject({ customer: 'acme', feature: 'calls', limit });
    } finally {
      await handle.close();
    }
  }, 120_000);
});
