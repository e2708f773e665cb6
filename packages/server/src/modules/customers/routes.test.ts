import type { Customer } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  check,
  customerBody,
  expectStatus,
  grantBody,
  nowIso,
  seedCatalog,
  seedCustomer,
  uniqueKey,
} from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { changedTables, stateDigest } from '../../test-support/state-digest.js';
import { storedState } from '../../test-support/stored-state.js';

describeEachDialect('customers routes', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
  });
  afterAll(() => server.close());

  const put = (id: string, body: unknown) =>
    server.request({ method: 'PUT', url: `/v1/customers/${encodeURIComponent(id)}`, body });
  const get = (id: string) => server.request({ method: 'GET', url: `/v1/customers/${encodeURIComponent(id)}` });

  describe('PUT /v1/customers/{id}', () => {
    it('creates with 201 and exactly the documented fields', async () => {
      const id = uniqueKey('acme');
      const body = customerBody({
        name: 'Acme',
        email: 'ops@acme.example',
        traits: { country: 'DE', seats: 12 },
        stripe_customer: 'cus_Acme123',
      });
      const customer = expectStatus<Customer>(await put(id, body), 201);
      expect(customer).toEqual({
        id,
        name: 'Acme',
        email: 'ops@acme.example',
        traits: { country: 'DE', seats: 12 },
        stripe_customer: 'cus_Acme123',
        created_at: nowIso(server),
        updated_at: nowIso(server),
      });
      expect(expectStatus<Customer>(await get(id), 200)).toEqual(customer);
    });

    it('updates with 200: fields left out keep their value, traits are replaced whole, null clears', async () => {
      const id = uniqueKey('acme');
      const created = expectStatus<Customer>(
        await put(id, customerBody({ name: 'Acme', email: 'a@acme.example', traits: { country: 'DE', tier: 'gold' } })),
        201,
      );
      server.clock.advance(5000);
      const updated = expectStatus<Customer>(await put(id, { traits: { country: 'FR' }, email: null }), 200);
      expect(updated).toEqual({
        id,
        name: 'Acme',
        email: null,
        traits: { country: 'FR' },
        stripe_customer: null,
        created_at: created.created_at,
        updated_at: nowIso(server),
      });
      expect(updated.updated_at).not.toBe(created.updated_at);
      expect(expectStatus<Customer>(await put(id, {}), 200)).toMatchObject({ name: 'Acme', traits: { country: 'FR' } });
    });

    it.each(['çà-ü', 'org:42|eu', 'user@example.com', '0', 'a'.repeat(100)])('accepts the id %j', async (id) => {
      expectStatus(await put(id, {}), 201);
      expect(expectStatus<Customer>(await get(id), 200).id).toBe(id);
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ reason: 'no_entitlement' });
    });

    // Fastify's default maxParamLength (100) would answer 414 here.
    it('accepts an id of 255 characters, as the contract allows', async () => {
      const id = 'b'.repeat(255);
      expectStatus(await put(id, {}), 201);
    });

    it.each([
      ['an invalid email', { email: 'not-an-email' }, '/email'],
      ['a name that is a number', { name: 42 }, '/name'],
      ['traits that are a list', { traits: ['vip'] }, '/traits'],
      [
        'too many traits',
        { traits: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`t${i}`, i])) },
        '/traits',
      ],
      ['an unknown field', { plan: 'pro' }, '/plan'],
    ])('refuses %s with 400 and leaves the customer as it was', async (_name, body, path) => {
      const id = uniqueKey('acme');
      expectStatus(await put(id, customerBody({ traits: { country: 'DE' } })), 201);
      const before = await storedState(server);
      expectProblem(await put(id, body), { status: 400, code: 'validation_failed', path });
      // A first PUT that fails creates nobody either.
      expectProblem(await put(uniqueKey('ghost'), body), { status: 400, code: 'validation_failed', path });
      expect(await storedState(server)).toEqual(before);
    });

    it.each([
      ['a space', 'a%20b'],
      ['a slash', 'a%2Fb'],
      ['a NUL', 'a%00b'],
    ])('refuses an id with %s with 400 naming /params/id', async (_name, id) => {
      const before = await storedState(server);
      expectProblem(await server.request({ method: 'PUT', url: `/v1/customers/${id}`, body: {} }), {
        status: 400,
        code: 'validation_failed',
        path: '/params/id',
      });
      expect(await storedState(server)).toEqual(before);
    });

    it('refuses an id of 256 characters with a 400 problem naming /params/id', async () => {
      expectProblem(await put('x'.repeat(256), {}), { status: 400, code: 'validation_failed', path: '/params/id' });
    });
  });

  describe('GET /v1/customers/{id}', () => {
    it('answers 404 customer_not_found for an unknown id', async () => {
      expectProblem(await get('nobody'), { status: 404, code: 'customer_not_found' });
    });
  });

  describe('DELETE /v1/customers/{id} (GDPR erasure)', () => {
    it('erases the customer with their subscriptions and grants, and forgets them in checks', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro', traits: { email_domain: 'acme.example' } });
      expectStatus(
        await server.request({
          method: 'POST',
          url: `/v1/customers/${id}/grants`,
          body: grantBody({ feature: 'api_calls', limit: 5, mode: 'add' }),
        }),
        201,
      );
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ allowed: true });

      const erased = await server.request({ method: 'DELETE', url: `/v1/customers/${id}` });
      expect(erased.statusCode, erased.body).toBe(204);
      expect(erased.body).toBe('');

      expectProblem(await get(id), { status: 404, code: 'customer_not_found' });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({
        allowed: false,
        reason: 'unknown_customer',
      });
      const state = await storedState(server);
      for (const table of ['customers', 'subscriptions', 'grants']) {
        expect(state[table]?.filter((row) => String(row).includes(`"${id}"`))).toEqual([]);
      }
      expectProblem(await server.request({ method: 'DELETE', url: `/v1/customers/${id}` }), {
        status: 404,
        code: 'customer_not_found',
      });
    });

    it('changes nothing when the customer does not exist (no change announced either)', async () => {
      const before = await stateDigest(server.keymaster.database);
      expectProblem(await server.request({ method: 'DELETE', url: `/v1/customers/${uniqueKey('nobody')}` }), {
        status: 404,
        code: 'customer_not_found',
      });
      expect(changedTables(before, await stateDigest(server.keymaster.database))).toEqual([]);
    });

    it('leaves no row about the customer in any table', async () => {
      // Metered features fed by events (one counted, one unique_count), in everyone's reach.
      for (const [key, aggregation] of [
        ['erase_calls', 'count'],
        ['erase_users', 'unique_count'],
      ] as const) {
        const meter = {
          event_type: 'erase.call',
          aggregation,
          ...(aggregation === 'count' ? {} : { property: 'user' }),
        };
        expectStatus(
          await server.request({
            method: 'POST',
            url: '/v1/features',
            body: { key, name: key, type: 'metered', meter },
          }),
          201,
        );
      }
      const seeded = await seedCustomer(server, { plan: 'pro' });
      const { id } = seeded;
      const other = (await seedCustomer(server, { plan: 'pro' })).id;
      const calls = (customer: string, n: number) => ({
        events: Array.from({ length: n }, (_, i) => ({
          id: `${customer}-${i}`,
          customer,
          type: 'erase.call',
          properties: { user: `u${i}` },
        })),
      });
      for (const customer of [id, other]) {
        for (const feature of ['erase_calls', 'erase_users']) {
          const grant = grantBody({ feature, limit: 100 });
          expectStatus(
            await server.request({ method: 'POST', url: `/v1/customers/${customer}/grants`, body: grant }),
            201,
          );
        }
        expectStatus(await server.request({ method: 'POST', url: '/v1/events', body: calls(customer, 3) }), 200);
        const consume = { customer, feature: 'api_calls', quantity: 2, idempotency_key: `c-${customer}` };
        expectStatus(await server.request({ method: 'POST', url: '/v1/consume', body: consume }), 200);
        const hold = { customer, feature: 'api_calls', quantity: 1 };
        expectStatus(await server.request({ method: 'POST', url: '/v1/reservations', body: hold }), 201);
        const seats = { feature: 'seats', set: 2 };
        expectStatus(
          await server.request({ method: 'POST', url: `/v1/customers/${customer}/usage`, body: seats }),
          200,
        );
        const credit = grantBody({ feature: 'api_calls', limit: 5, mode: 'credit' });
        expectStatus(
          await server.request({ method: 'POST', url: `/v1/customers/${customer}/grants`, body: credit }),
          201,
        );
      }
      const subscription = seeded.subscription!.id;
      expectStatus(
        await server.request({ method: 'POST', url: `/v1/subscriptions/${subscription}/cancel`, body: {} }),
        200,
      );

      const { db } = server.keymaster.database;
      const bookkeeping = new Set(['changes', 'idempotency_keys', 'api_keys', 'settings']);
      const tables = (await db.introspection.getTables())
        .map((table) => table.name)
        .filter((name) => !bookkeeping.has(name) && !name.startsWith('kysely_'));
      const mentioning = async (customer: string) => {
        const found: string[] = [];
        // The sealer moves audit rows from pending to sealed at any moment: they count as one trail.
        let audit = 0;
        for (const table of tables) {
          const rows = await db
            .selectFrom(table as 'customers')
            .selectAll()
            .execute();
          // The audit trail keeps its rows (the chain must verify) but not what they said about the customer.
          const held =
            table === 'audit_events' || table === 'audit_pending'
              ? rows.filter((row) => (row as unknown as { data: unknown }).data !== null)
              : rows;
          const hits = held.filter((row) => JSON.stringify(row).includes(`"${customer}`)).length;
          if (table === 'audit_events' || table === 'audit_pending') audit += hits;
          else if (hits > 0) found.push(`${table}: ${hits}`);
        }
        if (audit > 0) found.push(`audit trail: ${audit}`);
        return found.sort();
      };
      const before = await mentioning(id);
      // The setup reached every kind of stored row, so the check below is not vacuous.
      for (const table of ['events', 'usage_counters', 'usage_distinct', 'usage_history', 'consumptions']) {
        expect(
          before.some((line) => line.startsWith(`${table}:`)),
          table,
        ).toBe(true);
      }
      for (const table of ['reservations', 'credit_balances', 'subscription_history', 'domain_events', 'grants']) {
        expect(
          before.some((line) => line.startsWith(`${table}:`)),
          table,
        ).toBe(true);
      }
      const otherBefore = await mentioning(other);

      expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
      expect(await mentioning(id)).toEqual([]);
      expect(await mentioning(other)).toEqual(otherBefore);
    });

    it('lets the same id start over as a new customer', async () => {
      const { id } = await seedCustomer(server, { plan: 'pro' });
      expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
      await seedCustomer(server, { id, plan: 'free' });
      expect(await check(server, { customer: id, feature: 'sso' })).toMatchObject({ reason: 'no_entitlement' });
    });
  });
});

describeEachDialect('customers list', (dialect) => {
  let server: TestServer;
  const ids = ['cus_a', 'cus_b', 'cus_c', 'cus_d', 'cus_e', 'cus_f'];
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    for (const id of [...ids].reverse()) await seedCustomer(server, { id });
  });
  afterAll(() => server.close());

  type Page = { data: Customer[]; has_more: boolean; next_cursor: string | null };

  it.each([1, 4, 6, 100])('walks every customer exactly once, by id, %i at a time', async (limit) => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 20; pages++) {
      const url: string = `/v1/customers?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
      const page: Page = expectStatus<Page>(await server.request({ method: 'GET', url }), 200);
      expect(Object.keys(page).sort()).toEqual(['data', 'has_more', 'next_cursor']);
      expect(page.has_more).toBe(page.next_cursor !== null);
      seen.push(...page.data.map((c) => c.id));
      if (!page.has_more) break;
      cursor = page.next_cursor;
    }
    expect(seen).toEqual(ids);
  });

  it('finds customers by a prefix of the id (exact), name or email (ignoring case), a page at a time', async () => {
    const people = [
      { id: 'q-org-1', name: 'Zebra Labs', email: 'ops@zebra.example' },
      { id: 'q-org-2', name: 'zeta GmbH', email: null },
      { id: 'q-org-3', name: 'Other', email: 'Zed@corp.example' },
      { id: 'Q-ORG-4', name: 'Ünal & Söhne', email: null },
      { id: 'q-org-5', name: null, email: null },
    ];
    for (const { id, ...body } of people) {
      expectStatus(await server.request({ method: 'PUT', url: `/v1/customers/${id}`, body }), 201);
    }
    const search = async (q: string, extra = '') =>
      expectStatus<Page>(
        await server.request({ method: 'GET', url: `/v1/customers?q=${encodeURIComponent(q)}${extra}` }),
        200,
      );
    const found = async (q: string) => (await search(q, '&limit=100')).data.map((c) => c.id);
    expect(await found('q-org-')).toEqual(['q-org-1', 'q-org-2', 'q-org-3', 'q-org-5']);
    expect(await found('Q-ORG')).toEqual(['Q-ORG-4']);
    expect(await found('ze')).toEqual(['q-org-1', 'q-org-2', 'q-org-3']);
    expect(await found('ZEBRA')).toEqual(['q-org-1']);
    expect(await found('Ünal')).toEqual(['Q-ORG-4']);
    expect(await found('cus_')).toEqual(ids);
    expect(await found('nobody')).toEqual([]);

    const first = await search('ze', '&limit=2');
    expect([first.data.map((c) => c.id), first.has_more]).toEqual([['q-org-1', 'q-org-2'], true]);
    const second = await search('ze', `&limit=2&cursor=${first.next_cursor}`);
    expect([second.data.map((c) => c.id), second.has_more, second.next_cursor]).toEqual([['q-org-3'], false, null]);

    expectProblem(await server.request({ method: 'GET', url: '/v1/customers?q=' }), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/q',
    });
    for (const { id } of people) {
      expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
    }
  });

  it('refuses a forged cursor and an out-of-range limit', async () => {
    expectProblem(await server.request({ method: 'GET', url: '/v1/customers?cursor=%%%' }), {
      status: 400,
      code: 'validation_failed',
    });
    expectProblem(await server.request({ method: 'GET', url: '/v1/customers?cursor=Y3VzX2E' + 'A' }), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/cursor',
    });
    expectProblem(await server.request({ method: 'GET', url: '/v1/customers?limit=0' }), {
      status: 400,
      code: 'validation_failed',
      path: '/querystring/limit',
    });
  });
});
