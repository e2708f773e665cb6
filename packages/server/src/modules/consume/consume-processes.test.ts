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

  it('grants each of many customers exactly its limit when their consumes race on every process', async () => {
    const customers = Array.from({ length: 20 }, (_, i) => `racer-${i}`);
    const [first] = servers;
    for (const id of customers) {
      await first!.call('PUT', `/v1/customers/${id}`, {}, { key: adminKey });
      await first!.call('POST', `/v1/customers/${id}/subscriptions`, { plan: 'team' }, { key: adminKey });
      await first!.call(
        'POST',
        `/v1/customers/${id}/grants`,
        { feature: 'calls', limit: 30, reason: 'race' },
        {
          key: adminKey,
        },
      );
    }
    // Every process has heard of the last grant before the race starts.
    const last = customers.at(-1)!;
    for (const server of servers) {
      for (let attempt = 0; ; attempt++) {
        const { json } = await call(server, '/v1/check', { customer: last, feature: 'calls', quantity: 0 });
        if (json.limit === 30) break;
        if (attempt > 200) throw new Error(`a process never learned of the grant: ${JSON.stringify(json)}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    // 4 processes × 25 callers × 8 consumes, each caller moving through the customers: 40 a customer.
    const granted = new Map<string, number>();
    const caller = async (server: ServerProcess, start: number) => {
      for (let i = 0; i < 8; i++) {
        const customer = customers[(start + i) % customers.length]!;
        const { status, json } = await call(server, '/v1/consume', { customer, feature: 'calls' });
        expect(status).toBe(200);
        if (json.allowed === true) granted.set(customer, (granted.get(customer) ?? 0) + 1);
        else expect(json.reason).toBe('limit_reached');
      }
    };
    await Promise.all(
      servers.flatMap((server, p) => Array.from({ length: 25 }, (_, j) => caller(server, (p * 25 + j) * 8))),
    );
    expect(Object.fromEntries(granted)).toEqual(Object.fromEntries(customers.map((id) => [id, 30])));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const server of servers) {
      for (const customer of customers) {
        const { json } = await call(server, '/v1/check', { customer, feature: 'calls', quantity: 0 });
        expect(json.usage).toBe(30);
      }
    }
  }, 120_000);
});
