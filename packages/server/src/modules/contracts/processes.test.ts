import type { Contract, ContractCreate, Grant } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMigratedTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';

const adminKey = 'km_sk_contract_processes_key_01';

async function call(server: ServerProcess, input: { method: string; path: string; body?: unknown }) {
  return server.call(input.method, input.path, input.body);
}

/**
 * A CRM's automation retrying one deal's revision against two nodes behind a load balancer at
 * the same moment: each revision is applied once, and every copy gets the same answer.
 */
describeEachDialect('contracts delivered to two server processes on one database', (dialect) => {
  let database: TestDatabase;
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
    servers = await Promise.all([0, 1].map(() => startServerProcess({ target: database.target, adminKey })));
    const feature = { key: 'api_calls', name: 'API calls', type: 'metered', unit: 'calls' };
    expect((await call(servers[0]!, { method: 'POST', path: '/v1/features', body: feature })).status).toBe(201);
    for (const key of ['pro', 'enterprise']) {
      const plan = { key, name: key, entitlements: [{ feature: 'api_calls', limit: 1000 }] };
      expect((await call(servers[0]!, { method: 'POST', path: '/v1/plans', body: plan })).status).toBe(201);
      expect((await call(servers[0]!, { method: 'POST', path: `/v1/plans/${key}/publish` })).status).toBe(200);
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
  });

  const copies = 6;
  /** Sends `copies` of one contract, alternating between the nodes, all at once. */
  const sendAtOnce = (body: ContractCreate) =>
    Promise.all(
      Array.from({ length: copies }, (_, i) => call(servers[i % 2]!, { method: 'POST', path: '/v1/contracts', body })),
    );

  it('applies each revision once, however many copies reach the two nodes at once', async () => {
    for (const n of [1, 2, 3]) {
      const deal = `deal-nodes-${n}`;
      const body = (revision: number, plan: string, limit: number): ContractCreate => ({
        customer: deal,
        plan,
        ends_at: new Date(Date.now() + 365 * 86_400_000).toISOString(),
        grants: [{ feature: 'api_calls', limit }],
        source: { system: 'hubspot', deal_id: deal, revision },
      });

      const first = await sendAtOnce(body(1, 'pro', 5000));
      expect(first.map((a) => a.status)).toEqual(Array(copies).fill(201));
      // Every copy answers what the one application did.
      for (const answer of first) expect(answer.json).toEqual(first[0]!.json);
      const created = first[0]!.json as unknown as Contract;

      const second = await sendAtOnce(body(2, 'enterprise', 9000));
      expect(second.map((a) => a.status)).toEqual(Array(copies).fill(200));
      for (const answer of second) expect(answer.json).toEqual(second[0]!.json);
      const amended = second[0]!.json as unknown as Contract;
      expect(amended.revoked_grants).toEqual([created.grants[0]!.id]);

      const subscriptions = await call(servers[1]!, { method: 'GET', path: `/v1/customers/${deal}/subscriptions` });
      expect(subscriptions.json.data).toHaveLength(1);
      const history = await call(servers[0]!, {
        method: 'GET',
        path: `/v1/subscriptions/${created.subscription.id}/history`,
      });
      const contractChanges = (history.json.data as { actor: string }[]).filter(
        (h) => h.actor === 'integration:contract',
      );
      expect(contractChanges).toHaveLength(2);
      const grants = await call(servers[1]!, {
        method: 'GET',
        path: `/v1/customers/${deal}/grants?include_revoked=true`,
      });
      // One grant per revision: the first revoked by the second, the second live.
      const all = (grants.json.data as Grant[])
        .map((g) => ({ limit: g.limit, live: g.revoked_at === null }))
        .sort((a, b) => Number(a.limit) - Number(b.limit));
      expect(all).toEqual([
        { limit: 5000, live: false },
        { limit: 9000, live: true },
      ]);
    }
  });
});
