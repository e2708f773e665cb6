import type { Feature, LoggedDecision } from '@keymaster/contract';
import { unknownDecision } from '@keymaster/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/database.js';
import { check, expectStatus, publishCatalog, seedCustomer } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import { createMigratedTestDatabase, describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { createDecisionLog } from './log.js';
import { pruneDecisions } from './store.js';

interface DecisionPage {
  data: LoggedDecision[];
  has_more: boolean;
  next_cursor: string | null;
}

describeEachDialect('the decision log', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: '2026-06-15T10:00:00.000Z' });
    await publishCatalog(server, {
      features: [
        { key: 'calls', name: 'API calls', type: 'metered' },
        { key: 'sso', name: 'SSO', type: 'boolean', decision_log: 'all' },
        { key: 'beta', name: 'Beta', type: 'boolean', decision_log: 'off' },
      ],
      plans: [
        {
          key: 'team',
          name: 'Team',
          entitlements: [{ feature: 'calls', limit: 100, reset: 'month' }, { feature: 'sso' }],
        },
      ],
    });
  });
  afterAll(() => server.close());

  const decisions = async (query: string) =>
    expectStatus<DecisionPage>(await server.request({ method: 'GET', url: `/v1/decisions?${query}` }), 200);
  const consume = (customer: string, quantity: number) =>
    server.request({ method: 'POST', url: '/v1/consume', body: { customer, feature: 'calls', quantity } });

  it('keeps refusals by default, with the plan and version that decided, and not what was allowed', async () => {
    const { id } = await seedCustomer(server, { plan: 'team' });
    expectStatus(await consume(id, 90), 200);
    expect((await check(server, { customer: id, feature: 'calls', quantity: 5 })).allowed).toBe(true);
    expect((await check(server, { customer: id, feature: 'calls', quantity: 20 })).allowed).toBe(false);
    expect(expectStatus<{ allowed: boolean }>(await consume(id, 30), 200).allowed).toBe(false);
    const page = await decisions(`customer=${id}`);
    expect(page.data.map((d) => [d.kind, d.allowed, d.reason, d.quantity, d.usage, d.limit])).toEqual([
      ['consume', false, 'limit_reached', 30, 90, 100],
      ['check', false, 'limit_reached', 20, 90, 100],
    ]);
    expect(page.data[0]).toMatchObject({
      customer: id,
      feature: 'calls',
      at: '2026-06-15T10:00:00.000Z',
      provenance: { source: 'plan', plan: { key: 'team', version: 1 }, grants: [], targeting: false, denial: null },
    });
  });

  it('keeps every decision of a feature set to all, none of one set to off', async () => {
    const { id } = await seedCustomer(server, { plan: 'team' });
    await check(server, { customer: id, feature: 'sso' });
    await check(server, { customer: id, feature: 'beta' });
    const page = await decisions(`customer=${id}`);
    expect(page.data.map((d) => [d.feature, d.allowed])).toEqual([['sso', true]]);
  });

  it('names the grant that decided, the kill switch, and a customer Keymaster does not know', async () => {
    const { id } = await seedCustomer(server, { plan: 'team' });
    const grant = expectStatus<{ id: string }>(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${id}/grants`,
        body: { feature: 'sso', enabled: false, reason: 'Suspended for abuse' },
      }),
      201,
    );
    await check(server, { customer: id, feature: 'sso' });
    await check(server, { customer: 'nobody-at-all', feature: 'calls' });
    const [denied] = (await decisions(`customer=${id}&feature=sso`)).data;
    expect(denied).toMatchObject({
      allowed: false,
      reason: 'no_entitlement',
      provenance: { source: 'grant', grants: [grant.id], denial: 'no_entitlement' },
    });
    const [unknown] = (await decisions('customer=nobody-at-all')).data;
    expect(unknown).toMatchObject({
      allowed: false,
      reason: 'unknown_customer',
      provenance: { source: null, plan: null },
    });

    const features = expectStatus<Feature>(
      await server.request({ method: 'PATCH', url: '/v1/features/sso', body: { status: 'disabled' } }),
      200,
    );
    expect(features.decision_log).toBe('all');
    await check(server, { customer: id, feature: 'sso' });
    const [killed] = (await decisions(`customer=${id}&feature=sso`)).data;
    expect(killed).toMatchObject({ reason: 'feature_disabled', provenance: { source: 'kill_switch' } });
    expectStatus(await server.request({ method: 'PATCH', url: '/v1/features/sso', body: { status: 'active' } }), 200);
  });

  it('filters by allowed and time, pages newest first, and refuses a backwards range naming the field', async () => {
    const { id } = await seedCustomer(server, { plan: 'team' });
    for (let i = 0; i < 3; i++) await check(server, { customer: id, feature: 'sso' });
    await check(server, { customer: id, feature: 'calls', quantity: 500 });
    expect((await decisions(`customer=${id}&allowed=false`)).data.map((d) => d.feature)).toEqual(['calls']);
    const first = await decisions(`customer=${id}&limit=2`);
    expect(first).toMatchObject({ has_more: true });
    const second = await decisions(`customer=${id}&limit=2&cursor=${first.next_cursor}`);
    expect([...first.data, ...second.data].map((d) => d.feature)).toEqual(['calls', 'sso', 'sso', 'sso']);
    expect((await decisions(`customer=${id}&from=2026-06-15T10:00:01.000Z`)).data).toEqual([]);
    expectProblem(
      await server.request({
        method: 'GET',
        url: '/v1/decisions?from=2026-06-15T10:00:00.000Z&to=2026-06-14T00:00:00.000Z',
      }),
      { status: 400, code: 'validation_failed', path: '/querystring/to' },
    );
  });

  it('refuses a decision_log the API does not know, naming the field', async () => {
    expectProblem(
      await server.request({
        method: 'POST',
        url: '/v1/features',
        body: { key: 'odd', name: 'Odd', type: 'boolean', decision_log: 'sometimes' },
      }),
      { status: 400, code: 'validation_failed', path: '/decision_log' },
    );
  });

  it('lists them on the command line, as the API does', async () => {
    const { id } = await seedCustomer(server, { plan: 'team' });
    await check(server, { customer: id, feature: 'calls', quantity: 500 });
    await server.keymaster.services.decisionLog.flush();
    const table = await runKeymaster(server.target, ['decisions', '--customer', id]);
    expect(table, table.stderr).toMatchObject({ code: 0 });
    expect(table.stdout).toContain('limit_reached');
    expect(table.stdout).toContain('plan team v1');
    const json = await runKeymaster(server.target, ['decisions', '--customer', id, '--allowed', 'false', '--json']);
    expect(JSON.parse(json.stdout)).toEqual((await decisions(`customer=${id}&allowed=false`)).data);
    const bad = await runKeymaster(server.target, ['decisions', '--from', 'yesterday']);
    expect(bad.code).not.toBe(0);
  }, 60_000);

  describe('the writer', () => {
    it('keeps at most its capacity waiting, counting what it drops, and prunes by age', async () => {
      const database = await createMigratedTestDatabase(dialect);
      const handle = openDatabase(database.target);
      try {
        let dropped = 0;
        const warnings: unknown[] = [];
        const log = createDecisionLog({
          db: handle.db,
          logger: { warn: (obj) => warnings.push(obj) },
          flushMs: 60_000,
          capacity: 5,
          onDropped: (count) => {
            dropped += count;
          },
        });
        const decision = (at: number) => ({
          kind: 'check' as const,
          quantity: 1,
          at,
          provenance: { source: null, plan: null, grants: [], targeting: false, denial: null },
          decision: {
            ...unknownDecision({ customer: 'c', feature: 'f', reason: 'unknown_feature' }),
            reason: 'no_entitlement' as const,
            type: 'boolean' as const,
          },
        });
        for (let i = 0; i < 8; i++) log.record(decision(i < 4 ? 1000 : 5000));
        expect(dropped).toBe(3);
        expect(log.dropped).toBe(3);
        await log.flush();
        const count = async () =>
          Number(
            (
              await handle.db
                .selectFrom('decisions')
                .select((eb) => eb.fn.countAll().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          );
        expect(await count()).toBe(5);
        expect(await pruneDecisions(handle.db, 2000)).toBe(4);
        expect(await count()).toBe(1);
        expect(warnings).toEqual([]);
      } finally {
        await handle.close();
        await database.drop();
      }
    });
  });
});
