import type { AuditEvent, Contract, ContractCreate, Decision, Grant } from '@keymaster/contract';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/database.js';
import { check, expectStatus, seedCatalog, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestResponse, type TestServer } from '../../test-support/server.js';
import { rowCounts } from '../../test-support/stored-state.js';

const day = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const secret = `whsec_${Buffer.from('contracts-webhook-test-secret-0123').toString('base64')}`;

/** Every table a contract writes, counted: what "nothing changed" is checked against. */
const counted = [
  'customers',
  'subscriptions',
  'subscription_history',
  'grants',
  'billing_links',
  'billing_changes',
  'contract_revisions',
] as const;

describeEachDialect('contracts', (dialect) => {
  let server: TestServer;
  let db: Db;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: { KEYMASTER_TEST_CLOCK: 'true', KEYMASTER_CONTRACTS_WEBHOOK_SECRET: secret },
    });
    await seedCatalog(server);
    db = server.keymaster.database.db;
  });
  afterAll(() => server.close());

  const contract = (overrides: Partial<ContractCreate> & { deal: string; revision?: number }): ContractCreate => {
    const { deal, revision, ...rest } = overrides;
    return {
      customer: deal,
      plan: 'pro',
      ends_at: iso(server.clock.now() + 365 * day),
      source: { system: 'hubspot', deal_id: deal, revision: revision ?? 1 },
      ...rest,
    };
  };
  const post = (body: unknown, query = '') => server.request({ method: 'POST', url: `/v1/contracts${query}`, body });

  it('provisions a new customer with the plan, add-ons and grants, as source "contract"', async () => {
    const deal = uniqueKey('deal');
    const answer = expectStatus<Contract>(
      await post(
        contract({
          deal,
          customer_name: 'Initech',
          add_ons: [{ plan: 'extra_seats', quantity: 2 }],
          grants: [
            { feature: 'api_calls', limit: 250_000 },
            { feature: 'api_calls', mode: 'credit', limit: 5000 },
          ],
        }),
      ),
      201,
    );
    expect(answer).toMatchObject({
      outcome: 'created',
      dry_run: false,
      previous: null,
      subscription: {
        customer: deal,
        plan: 'pro',
        status: 'active',
        source: 'contract',
        add_ons: [{ plan: 'extra_seats', quantity: 2 }],
      },
      revoked_grants: [],
    });
    expect(answer.grants).toHaveLength(2);
    expect(answer.grants[0]).toMatchObject({
      feature: 'api_calls',
      limit: 250_000,
      reason: `Contract hubspot:${deal} revision 1`,
    });
    expect(answer.entitlements).toContainEqual(expect.objectContaining({ feature: 'seats', limit: 20 }));
    expect(answer.entitlements).toContainEqual(
      expect.objectContaining({ feature: 'api_calls', limit: 250_000, source: 'grant' }),
    );

    const customer = expectStatus(await server.request({ method: 'GET', url: `/v1/customers/${deal}` }), 200);
    expect(customer).toMatchObject({ id: deal, name: 'Initech' });
    expect((await check(server, { customer: deal, feature: 'sso' })).allowed).toBe(true);
    const history = expectStatus<{ data: { action: string; actor: string }[] }>(
      await server.request({ method: 'GET', url: `/v1/subscriptions/${answer.subscription.id}/history` }),
      200,
    );
    expect(history.data.map((h) => [h.action, h.actor])).toEqual([['sync', 'integration:contract']]);
  });

  it('answers the same revision again with the first answer, and changes nothing', async () => {
    const deal = uniqueKey('deal');
    const first = expectStatus<Contract>(
      await post(contract({ deal, grants: [{ feature: 'sso', enabled: true }] })),
      201,
    );
    const before = await rowCounts(db, counted);
    const again = await post(contract({ deal, plan: 'enterprise' }));
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first);
    expect(await rowCounts(db, counted)).toEqual(before);
  });

  it('amends with a higher revision: plan now, add-ons, and the grants replace the previous ones', async () => {
    const deal = uniqueKey('deal');
    const first = expectStatus<Contract>(
      await post(contract({ deal, grants: [{ feature: 'api_calls', limit: 200_000 }] })),
      201,
    );
    const amended = expectStatus<Contract>(
      await post(
        contract({
          deal,
          revision: 2,
          plan: 'enterprise',
          add_ons: [{ plan: 'extra_seats', quantity: 1 }],
          grants: [{ feature: 'support_tier', value: 'priority' }],
        }),
      ),
      200,
    );
    expect(amended).toMatchObject({
      outcome: 'amended',
      previous: { id: first.subscription.id, plan: 'pro' },
      subscription: { id: first.subscription.id, plan: 'enterprise', add_ons: [{ plan: 'extra_seats', quantity: 1 }] },
      revoked_grants: [first.grants[0]!.id],
    });
    const grants = expectStatus<{ data: Grant[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${deal}/grants` }),
      200,
    );
    expect(grants.data.map((g) => g.feature)).toEqual(['support_tier']);
    expect((await check(server, { customer: deal, feature: 'support_tier' })).value).toBe('priority');
  });

  it('writes every change to the audit trail as the integration, with the request that carried it', async () => {
    const deal = uniqueKey('deal');
    const first = await post(contract({ deal, grants: [{ feature: 'api_calls', limit: 200_000 }] }));
    const created = expectStatus<Contract>(first, 201);
    const second = await post(contract({ deal, revision: 2, grants: [{ feature: 'sso', enabled: true }] }));
    const amended = expectStatus<Contract>(second, 200);
    const trail = expectStatus<{ data: AuditEvent[] }>(
      await server.request({ method: 'GET', url: `/v1/audit-events?customer=${deal}&limit=100` }),
      200,
    ).data;
    const rows = trail.map((row) => [row.action, row.target.id, row.actor.request_id]).reverse();
    const [one, two] = [first.headers['x-request-id'], second.headers['x-request-id']];
    expect(rows).toEqual([
      ['customer.created', deal, one],
      ['subscription.sync', created.subscription.id, one],
      ['grant.created', created.grants[0]!.id, one],
      ['subscription.sync', created.subscription.id, two],
      ['grant.revoked', created.grants[0]!.id, two],
      ['grant.created', amended.grants[0]!.id, two],
    ]);
    expect(trail.every((row) => row.actor.type === 'integration' && row.actor.id === 'contract')).toBe(true);
  });

  it('refuses a lower revision with 409 stale_revision and changes nothing', async () => {
    const deal = uniqueKey('deal');
    expectStatus(await post(contract({ deal, revision: 3 })), 201);
    const before = await rowCounts(db, counted);
    expectProblem(await post(contract({ deal, revision: 2, plan: 'free' })), {
      status: 409,
      code: 'stale_revision',
      path: '/source/revision',
    });
    expect(await rowCounts(db, counted)).toEqual(before);
  });

  it('answers a dry run with what would change and writes nothing', async () => {
    const deal = uniqueKey('deal');
    const before = await rowCounts(db, counted);
    const dry = expectStatus<Contract>(
      await post(contract({ deal, grants: [{ feature: 'api_calls', limit: 300_000 }] }), '?dry_run=true'),
      200,
    );
    expect(dry).toMatchObject({ outcome: 'created', dry_run: true, subscription: { plan: 'pro', source: 'contract' } });
    expect(dry.grants).toEqual([expect.objectContaining({ feature: 'api_calls', limit: 300_000 })]);
    expect(dry.entitlements).toContainEqual(expect.objectContaining({ feature: 'api_calls', limit: 300_000 }));
    expect(await rowCounts(db, counted)).toEqual(before);
    expectStatus(await server.request({ method: 'GET', url: `/v1/customers/${deal}` }), 404);

    // An amendment's dry run shows the change against what is there, and leaves it there.
    expectStatus(await post(contract({ deal })), 201);
    const amend = expectStatus<Contract>(
      await post(contract({ deal, revision: 2, plan: 'enterprise' }), '?dry_run=true'),
      200,
    );
    expect(amend).toMatchObject({
      outcome: 'amended',
      previous: { plan: 'pro' },
      subscription: { plan: 'enterprise' },
    });
    const decision: Decision = await check(server, { customer: deal, feature: 'api_calls' });
    expect(decision.limit).toBe(100_000);
  });

  it('deprovisions on the end date, grants included', async () => {
    const deal = uniqueKey('deal');
    const endsAt = server.clock.now() + 45 * day;
    expectStatus(
      await post(contract({ deal, ends_at: iso(endsAt), grants: [{ feature: 'api_calls', mode: 'add', limit: 50 }] })),
      201,
    );
    expect((await check(server, { customer: deal, feature: 'sso' })).allowed).toBe(true);
    expectStatus(
      await server.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to: iso(endsAt + 1000) } }),
      200,
    );
    const decision = await check(server, { customer: deal, feature: 'sso' });
    expect(decision).toMatchObject({ allowed: false, reason: 'subscription_inactive' });
    const subscriptions = expectStatus<{ data: { status: string }[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${deal}/subscriptions` }),
      200,
    );
    expect(subscriptions.data[0]?.status).toBe('expired');
    const grants = expectStatus<{ data: Grant[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${deal}/grants` }),
      200,
    );
    expect(grants.data.every((g) => !g.active)).toBe(true);
  });

  it('waits for a start date in the future', async () => {
    const deal = uniqueKey('deal');
    const startsAt = server.clock.now() + 10 * day;
    expectStatus(await post(contract({ deal, starts_at: iso(startsAt), ends_at: iso(startsAt + 365 * day) })), 201);
    expect((await check(server, { customer: deal, feature: 'sso' })).allowed).toBe(false);
    expectStatus(
      await server.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to: iso(startsAt + 1000) } }),
      200,
    );
    expect((await check(server, { customer: deal, feature: 'sso' })).allowed).toBe(true);
  });

  it('never touches a subscription the API (or Stripe) provisioned', async () => {
    const { id, subscription } = await seedCustomer(server, { plan: 'free' });
    const before = await rowCounts(db, counted);
    expectProblem(await post(contract({ deal: uniqueKey('deal'), customer: id })), {
      status: 409,
      code: 'subscription_source_mismatch',
      path: '/customer',
    });
    expect(await rowCounts(db, counted)).toEqual(before);
    const after = expectStatus(
      await server.request({ method: 'GET', url: `/v1/subscriptions/${subscription!.id}` }),
      200,
    );
    expect(after).toMatchObject({ plan: 'free', source: 'api', status: 'active' });
  });

  it('is forgotten with its customer (GDPR erasure), and can be signed again from scratch', async () => {
    const deal = uniqueKey('deal');
    expectStatus(await post(contract({ deal, grants: [{ feature: 'sso', enabled: true }] })), 201);
    const erased = await server.request({ method: 'DELETE', url: `/v1/customers/${deal}` });
    expect(erased.statusCode, erased.body).toBe(204);
    for (const table of ['billing_links', 'billing_changes', 'contract_revisions'] as const) {
      const rows = await db.selectFrom(table).select('customer_id').where('customer_id', '=', deal).execute();
      expect(rows, table).toEqual([]);
    }
    expectStatus(await post(contract({ deal })), 201);
  });

  describe('bad input: a clear 4xx naming the field, nothing half-applied', () => {
    const cases: [string, (deal: string) => unknown, number, string, string][] = [
      ['an unknown plan', (deal) => contract({ deal, plan: 'platinum' }), 404, 'plan_not_found', '/plan'],
      [
        'an add-on that is a base plan',
        (deal) => contract({ deal, add_ons: [{ plan: 'pro' }] }),
        400,
        'validation_failed',
        '/add_ons/0/plan',
      ],
      [
        'an unknown add-on',
        (deal) => contract({ deal, add_ons: [{ plan: 'nope' }] }),
        404,
        'plan_not_found',
        '/add_ons/0/plan',
      ],
      [
        'a grant of an unknown feature',
        (deal) => contract({ deal, grants: [{ feature: 'teleport', enabled: true }] }),
        400,
        'validation_failed',
        '/grants/0/feature',
      ],
      [
        'an end before the start',
        (deal) =>
          contract({ deal, starts_at: iso(server.clock.now() + 10 * day), ends_at: iso(server.clock.now() + day) }),
        400,
        'validation_failed',
        '/ends_at',
      ],
      [
        'an end in the past',
        (deal) => contract({ deal, ends_at: iso(server.clock.now() - day) }),
        400,
        'validation_failed',
        '/ends_at',
      ],
      [
        'a customer id that is not a valid key',
        (deal) => contract({ deal, customer: 'has space' }),
        400,
        'validation_failed',
        '/customer',
      ],
      ['no source', (deal) => ({ ...contract({ deal }), source: undefined }), 400, 'validation_failed', '/source'],
      ['a negative revision', (deal) => contract({ deal, revision: -1 }), 400, 'validation_failed', '/source/revision'],
      ['no end date', (deal) => ({ ...contract({ deal }), ends_at: undefined }), 400, 'validation_failed', '/ends_at'],
      ['an unknown field', (deal) => ({ ...contract({ deal }), price: 5 }), 400, 'validation_failed', '/price'],
    ];
    for (const [name, body, status, code, path] of cases) {
      it(name, async () => {
        const before = await rowCounts(db, counted);
        expectProblem(await post(body(uniqueKey('bad'))), { status, code, path });
        expect(await rowCounts(db, counted)).toEqual(before);
      });
    }

    it('a body that is not JSON', async () => {
      const response = await server.request({
        method: 'POST',
        url: '/v1/contracts',
        body: '{"customer":',
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(response, { status: 400, code: 'malformed_request' });
    });
  });

  describe('the signed webhook', () => {
    const signer = new Webhook(secret);
    const send = (input: { body: string; headers?: Record<string, string | undefined> }): Promise<TestResponse> => {
      const id = `msg_${uniqueKey('w')}`;
      const at = new Date();
      return server.request({
        method: 'POST',
        url: '/v1/integrations/contracts/webhook',
        body: input.body,
        headers: {
          authorization: undefined,
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signer.sign(id, at, input.body),
          ...input.headers,
        },
      });
    };

    it('applies a contract signed with the secret, without an API key', async () => {
      const deal = uniqueKey('deal');
      const body = JSON.stringify(contract({ deal }));
      const answer = expectStatus<Contract>(await send({ body }), 201);
      expect(answer).toMatchObject({ outcome: 'created', subscription: { source: 'contract', plan: 'pro' } });
      // Delivered again (a retry): the first answer.
      expect(expectStatus(await send({ body }), 201)).toEqual(answer);
    });

    it('refuses a missing, wrong, altered or old signature with 400 signature_invalid, changing nothing', async () => {
      const body = JSON.stringify(contract({ deal: uniqueKey('deal') }));
      const other = new Webhook(`whsec_${Buffer.from('another-secret-entirely-0123456').toString('base64')}`);
      const at = new Date();
      const before = await rowCounts(db, counted);
      const attempts: Record<string, string | undefined>[] = [
        { 'webhook-signature': undefined },
        { 'webhook-id': undefined },
        { 'webhook-timestamp': undefined },
        {
          'webhook-id': 'msg_x',
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': other.sign('msg_x', at, body),
        },
        { 'webhook-signature': 'v1,bm90IGEgc2lnbmF0dXJl' },
        (() => {
          const old = new Date(Date.now() - 3600_000);
          return {
            'webhook-id': 'msg_old',
            'webhook-timestamp': String(Math.floor(old.getTime() / 1000)),
            'webhook-signature': signer.sign('msg_old', old, body),
          };
        })(),
      ];
      for (const headers of attempts) {
        expectProblem(await send({ body, headers }), { status: 400, code: 'signature_invalid' });
      }
      // Signed, then altered on the way.
      const id = 'msg_altered';
      const altered = await server.request({
        method: 'POST',
        url: '/v1/integrations/contracts/webhook',
        body: body.replace('"pro"', '"enterprise"'),
        headers: {
          authorization: undefined,
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signer.sign(id, at, body),
        },
      });
      expectProblem(altered, { status: 400, code: 'signature_invalid' });
      expect(await rowCounts(db, counted)).toEqual(before);
    });

    it('checks a signed body like the API does', async () => {
      const deal = uniqueKey('deal');
      expectProblem(await send({ body: JSON.stringify(contract({ deal, plan: 'platinum' })) }), {
        status: 404,
        code: 'plan_not_found',
        path: '/plan',
      });
      expectProblem(await send({ body: JSON.stringify({ customer: deal }) }), {
        status: 400,
        code: 'validation_failed',
        path: '/plan',
      });
      expectProblem(await send({ body: '{"customer":' }), { status: 400, code: 'malformed_request' });
    });
  });
});

describeEachDialect('contracts webhook without its secret', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
  });
  afterAll(() => server.close());

  it('does not exist', async () => {
    const response = await server.request({ method: 'POST', url: '/v1/integrations/contracts/webhook', body: {} });
    expectProblem(response, { status: 404, code: 'not_found' });
  });
});
