import { afterEach, beforeEach, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../db/database.js';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';

const adminKey = 'km_sk_audit_processes_admin_key_01';

/**
 * Three server processes on one database write audited changes at once while readers on each
 * seal the trail too (every read seals first; each node's background sealer runs every 250 ms):
 * every change gets exactly one row, `seq` runs 1, 2, 3, … without a gap, and every link holds.
 */
describeEachDialect('the audit trail across processes', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let servers: ServerProcess[] = [];
  beforeEach(async () => {
    database = await createMigratedTestDatabase(dialect);
    handle = openDatabase(database.target);
  });
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
    await handle.close();
    await database.drop();
  });

  it('chains every change once, in seq order, whichever node wrote or sealed it', async () => {
    servers = await Promise.all([0, 1, 2].map(() => startServerProcess({ target: database.target, adminKey })));
    const writesPerServer = 60;
    let writing = true;
    const readers = servers.map(async (server) => {
      let reads = 0;
      while (writing) {
        const { status, json } = await server.call('GET', '/v1/audit-events/verify');
        expect(status).toBe(200);
        expect(json, JSON.stringify(json)).toMatchObject({ ok: true });
        reads++;
      }
      return reads;
    });
    await Promise.all(
      servers.map(async (server, node) => {
        for (let batch = 0; batch < writesPerServer / 10; batch++) {
          await Promise.all(
            Array.from({ length: 10 }, async (_, i) => {
              const id = `n${node}-c${batch * 10 + i}`;
              const { status } = await server.call(
                'PUT',
                `/v1/customers/${id}`,
                { name: id },
                {
                  headers: { 'x-request-id': `req-${id}` },
                },
              );
              expect(status).toBe(201);
            }),
          );
        }
      }),
    );
    writing = false;
    expect((await Promise.all(readers)).every((reads) => reads > 0)).toBe(true);

    const verdict = await servers[1]!.call('GET', '/v1/audit-events/verify');
    expect(verdict.json).toMatchObject({ ok: true, count: 3 * writesPerServer });
    const rows = await handle.db.selectFrom('audit_events').select(['seq', 'request_id']).orderBy('seq').execute();
    expect(rows.map((row) => Number(row.seq))).toEqual(rows.map((_, i) => i + 1));
    const requests = rows.map((row) => row.request_id).sort();
    const expected = servers
      .flatMap((_, node) => Array.from({ length: writesPerServer }, (_, i) => `req-n${node}-c${i}`))
      .sort();
    expect(requests).toEqual(expected);
    expect(await handle.db.selectFrom('audit_pending').select('id').execute()).toEqual([]);
  }, 60_000);
});
