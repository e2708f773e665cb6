import type { Decision, IngestResult } from '@keymaster/contract';
import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../db/schema.js';
import { expectStatus, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { asOwner, describeEachDialect, type TestDialect } from '../../test-support/databases.js';
import { dispatch, startTestServer, type TestServer, testAdminKey } from '../../test-support/server.js';

const start = Date.parse('2026-06-15T12:00:00.000Z');

/**
 * The races other metering products shipped and then fixed, each pinned down: a balance left
 * stale in memory after a grant, a reset or a plan change, and a batch half-committed when one
 * statement in it fails. (Read-then-write limit checks and select-then-insert de-duplication are
 * raced in consume.test.ts, consume-processes.test.ts and events/routes.test.ts.)
 */
describeEachDialect('balances kept in memory stay coherent with the database', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: new Date(start).toISOString() });
    const features = [
      { key: 'calls', name: 'Calls', type: 'metered', meter: { event_type: 'call', aggregation: 'count' } },
      { key: 'fragile', name: 'Fragile', type: 'metered', meter: { event_type: 'fragile', aggregation: 'count' } },
    ];
    for (const body of features) expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    const plans = [
      { key: 'small', name: 'Small', entitlements: [{ feature: 'calls', limit: 5, reset: 'month' }] },
      {
        key: 'large',
        name: 'Large',
        entitlements: [
          { feature: 'calls', limit: 10, reset: 'month' },
          { feature: 'fragile', limit: 100, reset: 'month' },
        ],
      },
    ];
    for (const body of plans) {
      expectStatus(await server.request({ method: 'POST', url: '/v1/plans', body }), 201);
      expectStatus(await server.request({ method: 'POST', url: `/v1/plans/${body.key}/publish` }), 200);
    }
  });
  afterAll(() => server.close());

  const check = async (customer: string, feature = 'calls') =>
    expectStatus<Decision>(
      await server.request({ method: 'POST', url: '/v1/check', body: { customer, feature, quantity: 1 } }),
      200,
    );
  const consume = async (customer: string, quantity: number) =>
    expectStatus<Decision>(
      await server.request({ method: 'POST', url: '/v1/consume', body: { customer, feature: 'calls', quantity } }),
      200,
    );
  /** Uses up a customer's small allowance and warms the check cache with the refusal. */
  const exhausted = async (plan = 'small') => {
    const { id, subscription } = await seedCustomer(server, { plan });
    expect(await consume(id, 5)).toMatchObject({ allowed: true, usage: 5 });
    return { id, subscription: subscription! };
  };
  const cacheMisses = async () => {
    const text = (await server.request({ method: 'GET', url: '/metrics' })).body;
    return Number(/^keymaster_cache_misses_total (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  };

  it('raises a warm balance at once when a grant adds units', async () => {
    const { id } = await exhausted();
    expect(await check(id)).toMatchObject({ allowed: false, reason: 'limit_reached', balance: 0 });
    const grant = { feature: 'calls', mode: 'add', limit: 3, reason: 'goodwill' };
    expectStatus(await server.request({ method: 'POST', url: `/v1/customers/${id}/grants`, body: grant }), 201);
    expect(await check(id)).toMatchObject({ allowed: true, limit: 8, usage: 5, balance: 3 });
    expect(await consume(id, 3)).toMatchObject({ allowed: true, usage: 8, balance: 0 });
    expect(await check(id)).toMatchObject({ allowed: false, usage: 8 });
  });

  it('frees a warm balance at the period boundary, and counts the new period from zero', async () => {
    const { id } = await exhausted();
    expect(await check(id)).toMatchObject({ allowed: false, usage: 5 });
    server.clock.set(Date.parse('2026-07-01T00:00:00.000Z'));
    try {
      expect(await check(id)).toMatchObject({ allowed: true, usage: 0, resets_at: '2026-08-01T00:00:00.000Z' });
      expect(await consume(id, 2)).toMatchObject({ allowed: true, usage: 2 });
      expect(await check(id)).toMatchObject({ usage: 2, balance: 3 });
    } finally {
      server.clock.set(start);
    }
  });

  it('applies a new plan’s limit to the usage already counted in the period', async () => {
    const { id, subscription } = await exhausted();
    expect(await check(id)).toMatchObject({ allowed: false, limit: 5 });
    const cancel = {
      method: 'POST' as const,
      url: `/v1/subscriptions/${subscription.id}/cancel`,
      body: { when: 'now' },
    };
    expectStatus(await server.request(cancel), 200);
    expect(await check(id)).toMatchObject({ allowed: false, reason: 'subscription_inactive' });
    const subscribe = { method: 'POST' as const, url: `/v1/customers/${id}/subscriptions`, body: { plan: 'large' } };
    expectStatus(await server.request(subscribe), 201);
    expect(await check(id)).toMatchObject({ allowed: true, limit: 10, usage: 5, balance: 5 });
  });

  it('updates balances on usage writes without reloading the customer', async () => {
    const { id } = await seedCustomer(server, { plan: 'small' });
    expect(await check(id)).toMatchObject({ usage: 0 });
    const misses = await cacheMisses();
    const events = [1, 2].map(() => ({ id: uniqueKey('evt'), customer: id, type: 'call' }));
    expectStatus(await server.request({ method: 'POST', url: '/v1/events', body: { events } }), 200);
    expect(await check(id)).toMatchObject({ usage: 2 });
    expect(await consume(id, 1)).toMatchObject({ usage: 3 });
    expect(await check(id)).toMatchObject({ usage: 3, balance: 2 });
    expect(await cacheMisses()).toBe(misses);
  });

  it('reads a counter while a write to it is still open: at once, and only what is committed', async () => {
    const { id } = await seedCustomer(server, { plan: 'large' });
    // The consume's usage change empties the cached figure: the next check reads the counter.
    expect(await consume(id, 2)).toMatchObject({ usage: 2 });
    let written!: () => void;
    const isWritten = new Promise<void>((resolve) => (written = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const transaction = server.keymaster.database.db
      .transaction()
      .execute(async (trx) => {
        await trx
          .updateTable('usage_counters')
          .set((eb) => ({ value: eb('value', '+', 100) }))
          .where('customer_id', '=', id)
          .execute();
        written();
        await released;
        throw new Error('rolled back on purpose');
      })
      .catch((error: Error) => error.message);
    await isWritten;
    try {
      const waited = new Promise<'waited'>((resolve) => setTimeout(() => resolve('waited'), 2_000));
      expect(await Promise.race([check(id), waited])).toMatchObject({ usage: 2, balance: 8 });
    } finally {
      release();
    }
    expect(await transaction).toBe('rolled back on purpose');
    expect(await check(id)).toMatchObject({ usage: 2 });
  });

  describe('when one statement of a write fails', () => {
    // A fault injected into the real database: any counter write for `fragile` is refused.
    beforeAll(() => installFailingTrigger(server, dialect));

    /** Answers through the whole stack, 5xx included (the test server throws on those). */
    const raw = (url: string, body: unknown) =>
      dispatch(server.keymaster.app, {
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${testAdminKey}` },
        payload: body as Record<string, unknown>,
      });

    it('keeps nothing of an event batch, and counts all of it once when resent', async () => {
      const { id } = await seedCustomer(server, { plan: 'large' });
      const events = [
        { id: uniqueKey('evt'), customer: id, type: 'call' },
        { id: uniqueKey('evt'), customer: id, type: 'call' },
        { id: uniqueKey('evt'), customer: id, type: 'fragile' },
      ];
      expect((await raw('/v1/events', { events })).statusCode).toBe(500);
      const stored = await server.keymaster.database.db
        .selectFrom('events')
        .select('id')
        .where(
          'id',
          'in',
          events.map((e) => e.id),
        )
        .execute();
      expect(stored).toEqual([]);
      expect(await check(id)).toMatchObject({ usage: 0 });

      await removeFailingTrigger(server, dialect);
      try {
        const result = expectStatus<IngestResult>(
          await server.request({ method: 'POST', url: '/v1/events', body: { events } }),
          200,
        );
        expect(result).toMatchObject({ accepted: 3, duplicates: 0, rejected: [] });
        expect(await check(id)).toMatchObject({ usage: 2 });
        expect(await check(id, 'fragile')).toMatchObject({ usage: 1 });
      } finally {
        await installFailingTrigger(server, dialect);
      }
    });

    it('keeps no claim on an idempotency key whose consume failed, so the retry counts once', async () => {
      const { id } = await seedCustomer(server, { plan: 'large' });
      const body = { customer: id, feature: 'fragile', quantity: 2, idempotency_key: 'retry-me' };
      expect((await raw('/v1/consume', body)).statusCode).toBe(500);
      expect(await check(id, 'fragile')).toMatchObject({ usage: 0 });

      await removeFailingTrigger(server, dialect);
      try {
        const consumeOnce = async () =>
          expectStatus<Decision>(await server.request({ method: 'POST', url: '/v1/consume', body }), 200);
        expect(await consumeOnce()).toMatchObject({ allowed: true, usage: 2 });
        expect(await consumeOnce()).toMatchObject({ allowed: true, usage: 2 });
        expect(await check(id, 'fragile')).toMatchObject({ usage: 2 });
      } finally {
        await installFailingTrigger(server, dialect);
      }
    });
  });
});

/**
 * Changes the schema under a running server: on PostgreSQL through the schema's owner, as the
 * server's own role may not (test-support/databases.ts); on SQLite through the server's connection.
 */
function changeSchema(server: TestServer, dialect: TestDialect, change: (db: Kysely<Database>) => Promise<void>) {
  if (dialect === 'postgres') return asOwner(server.target, ({ db }) => change(db));
  return change(server.keymaster.database.db);
}

async function installFailingTrigger(server: TestServer, dialect: TestDialect): Promise<void> {
  await changeSchema(server, dialect, async (db) => {
    if (dialect === 'postgres') {
      await sql`
        create or replace function fail_fragile() returns trigger language plpgsql as $$
        begin
          if new.feature = 'fragile' then raise exception 'injected failure'; end if;
          return new;
        end $$`.execute(db);
      await sql`create trigger fail_fragile before insert or update on usage_counters
        for each row execute function fail_fragile()`.execute(db);
      return;
    }
    await sql`create trigger fail_fragile before insert on usage_counters when new.feature = 'fragile'
      begin select raise(abort, 'injected failure'); end`.execute(db);
  });
}

async function removeFailingTrigger(server: TestServer, dialect: TestDialect): Promise<void> {
  await changeSchema(server, dialect, async (db) => {
    await sql
      .raw(dialect === 'postgres' ? 'drop trigger fail_fragile on usage_counters' : 'drop trigger fail_fragile')
      .execute(db);
  });
}
