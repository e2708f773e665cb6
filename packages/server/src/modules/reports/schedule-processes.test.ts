import type { StoredReport } from '@keymaster/contract';
import { Cron } from 'croner';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../db/database.js';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, seedTeamCustomer, startServerProcess } from '../../test-support/processes.js';
import { startReceiver } from '../../test-support/webhook-receiver.js';

const adminKey = 'km_sk_report_schedule_admin_key_01';
const quarterly = '0 6 1 1,4,7,10 *';

/**
 * Two server processes on one database, both with the schedule, both moved past a fire time at
 * the same moment: one report, one `report.ready`, one delivery.
 */
describeEachDialect('the quarterly report across processes', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let servers: ServerProcess[] = [];
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeEach(async () => {
    database = await createMigratedTestDatabase(dialect);
    handle = openDatabase(database.target);
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
    await receiver.close();
    await handle.close();
    await database.drop();
  });

  const call = async (server: ServerProcess, method: string, path: string, body?: unknown) => {
    const { status, json } = await server.call(method, path, body);
    expect(status, JSON.stringify(json)).toBeLessThan(300);
    return json;
  };
  const reportRows = async () => (await handle.db.selectFrom('reports').select('id').execute()).length;
  const readyEvents = async () =>
    (await handle.db.selectFrom('domain_events').select('id').where('type', '=', 'report.ready').execute()).length;

  it('makes the report of a fire time once, however many processes see it fire', async () => {
    const env = {
      KEYMASTER_TEST_CLOCK: 'true',
      KEYMASTER_REVENUE_REPORT_CRON: quarterly,
      KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true',
    };
    servers = await Promise.all([
      startServerProcess({ target: database.target, adminKey, env }),
      startServerProcess({ target: database.target, adminKey, env }),
    ]);
    await call(servers[0]!, 'POST', '/v1/webhook-endpoints', { url: receiver.url, events: ['report.ready'] });
    await seedTeamCustomer({ servers, adminKey, limit: 100 });

    // Each process's simulated clock started at the real time: the next fire time is ahead of both.
    const fire = new Cron(quarterly, { timezone: 'UTC' }).nextRun(new Date(Date.now() + 60_000))!.getTime();
    for (const to of [fire + 3_600_000, fire + 7_200_000]) {
      const moved = await Promise.all(
        servers.map((server) => call(server, 'POST', '/v1/test-clock/advance', { to: new Date(to).toISOString() })),
      );
      expect(moved.map((m) => m.now)).toEqual(servers.map(() => new Date(to).toISOString()));
    }

    for (const server of servers) {
      const { data } = (await call(server, 'GET', '/v1/reports')) as { data: StoredReport[] };
      expect(data).toEqual([
        expect.objectContaining({ made: 'schedule', scheduled_for: new Date(fire).toISOString(), customers: 1 }),
      ]);
    }
    expect(await reportRows()).toBe(1);
    expect(await readyEvents()).toBe(1);
    // Delivered by the process that made it, before its move answered; and never a second time.
    expect(receiver.received).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(receiver.received.map((r) => (JSON.parse(r.body) as { type: string }).type)).toEqual(['report.ready']);
  }, 120_000);
});
