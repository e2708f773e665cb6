import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, seedTeamCustomer, startServerProcess } from '../../test-support/processes.js';

const adminKey = 'km_sk_consume_processes_key_0001';
const processes = 4;
const callersPerProcess = 50;
const consumesPerCaller = 6; // 4 × 50 × 6 = 1,200 attempts on a limit of 1,000
const limit = 1000;

async function call(server: ServerProcess, path: string, body: unknown, method = 'POST') {
  return server.call(method, path, body);
}

describeEachDialect('consume from several server processes on one database', (dialect) => {
  let database: TestDatabase;
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
    servers = await Promise.all(
      Array.from({ length: processes }, () => startServerProcess({ target: database.target, adminKey })),
    );
    await seedTeamCustomer({ servers, adminKey, limit: limit });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
  });

  it(`grants exactly ${limit} of ${processes * callersPerProcess * consumesPerCaller} racing consumes and records each`, async () => {
    let granted = 0;
    let refused = 0;
    const caller = async (server: ServerProcess) => {
      for (let i = 0; i < consumesPerCaller; i++) {
        const { status, json } = await call(server, '/v1/consume', { customer: 'acme', feature: 'calls' });
        expect(status).toBe(200);
        if (json.allowed === true) granted++;
        else if (json.reason === 'limit_reached') refused++;
        else throw new Error(`unexpected answer ${JSON.stringify(json)}`);
      }
    };
    await Promise.all(servers.flatMap((server) => Array.from({ length: callersPerProcess }, () => caller(server))));
    expect(granted).toBe(limit);
    expect(refused).toBe(processes * callersPerProcess * consumesPerCaller - limit);
    // Every node agrees on the recorded usage (within the one-second propagation bound).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const server of servers) {
      const { json } = await call(server, '/v1/check', { customer: 'acme', feature: 'calls', quantity: 0 });
      expect(json.usage).toBe(limit);
    }
  }, 120_000);
});
