import { addInterval } from '@keymaster/core';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { manualClock } from '../../clock.js';
import { loadConfig } from '../../config.js';
import { type DatabaseHandle, openDatabase } from '../../db/database.js';
import { createKeymaster } from '../../runtime.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';
import { dispatch } from '../../test-support/server.js';

const adminKey = 'km_sk_scheduler_test_admin_key_01';
const day = 86_400_000;
/** Enough due work that a run takes a while on each database, so a kill lands in the middle. */
const subscriptionsFor = { sqlite: 1500, postgres: 200 } as const;
let subscriptions = 0;

/**
 * Seeds monthly subscriptions that started 700 days ago — 23 renewals behind real time, the 24th
 * weeks away — one through the API of an in-process Keymaster whose clock stands there, the
 * rest copied from its row (the scheduler reads nothing else).
 */
async function seedOverdue(database: TestDatabase, count: number): Promise<void> {
  subscriptions = count;
  const clock = manualClock(Date.now() - 700 * day);
  const config = { ...loadConfig({ KEYMASTER_ADMIN_KEY: adminKey }), database: database.target };
  const keymaster = await createKeymaster({ config, clock, logger: false });
  const call = async (method: 'POST' | 'PUT', url: string, body: object = {}) => {
    const response = await dispatch(keymaster.app, {
      method,
      url,
      headers: { authorization: `Bearer ${adminKey}` },
      payload: body,
    });
    expect(response.statusCode, response.body).toBeLessThan(300);
  };
  try {
    await call('POST', '/v1/features', { key: 'sso', name: 'SSO', type: 'boolean' });
    const plan = { key: 'team', name: 'Team', price: { amount: 100, currency: 'usd', interval: 'month' } };
    await call('POST', '/v1/plans', { ...plan, entitlements: [{ feature: 'sso' }] });
    await call('POST', '/v1/plans/team/publish');
    await call('PUT', '/v1/customers/c0');
    await call('POST', '/v1/customers/c0/subscriptions', { plan: 'team' });
    const { db } = keymaster.database;
    const template = await db.selectFrom('subscriptions').selectAll().executeTakeFirstOrThrow();
    const copies = Array.from({ length: count - 1 }, (_, i) => ({
      ...template,
      id: `sub_copy_${String(i).padStart(5, '0')}`,
      customer_id: `c${i + 1}`,
    }));
    for (let i = 0; i < copies.length; i += 200) {
      await db
        .insertInto('subscriptions')
        .values(copies.slice(i, i + 200))
        .execute();
    }
  } finally {
    await keymaster.close();
  }
}

async function renewals(handle: DatabaseHandle): Promise<number> {
  const row = await handle.db
    .selectFrom('subscription_history')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('action', '=', 'renewal')
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function stillDue(handle: DatabaseHandle): Promise<number> {
  const row = await handle.db
    .selectFrom('subscriptions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('next_due_at', '<=', Date.now())
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function until(probe: () => Promise<boolean>, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`not reached within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Every subscription renewed exactly once per period that has ended, in order, each at its own
 * instant: no period skipped, none renewed twice, and each emitted one `subscription.renewed`.
 */
async function expectEachPeriodRenewedOnce(handle: DatabaseHandle): Promise<void> {
  const rows = await handle.db.selectFrom('subscriptions').selectAll().execute();
  expect(rows).toHaveLength(subscriptions);
  const history = await handle.db
    .selectFrom('subscription_history')
    .select(['subscription_id', 'at'])
    .where('action', '=', 'renewal')
    .orderBy('seq')
    .execute();
  const events = await handle.db
    .selectFrom('domain_events')
    .select(['subscription_id', 'occurred_at'])
    .where('type', '=', 'subscription.renewed')
    .execute();
  const now = Date.now();
  for (const row of rows) {
    const expected: number[] = [];
    for (let k = 1; addInterval({ anchor: row.billing_anchor, interval: 'month', count: k }) <= now; k++) {
      expected.push(addInterval({ anchor: row.billing_anchor, interval: 'month', count: k }));
    }
    expect(expected).toHaveLength(23);
    expect(history.filter((h) => h.subscription_id === row.id).map((h) => Number(h.at))).toEqual(expected);
    expect(events.filter((e) => e.subscription_id === row.id)).toHaveLength(expected.length);
    expect(Number(row.current_period_end)).toBe(
      addInterval({ anchor: row.billing_anchor, interval: 'month', count: expected.length + 1 }),
    );
  }
}

describeEachDialect('the scheduler across processes and restarts', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  let servers: ServerProcess[] = [];
  beforeEach(async () => {
    database = await createTestDatabase(dialect);
    await seedOverdue(database, subscriptionsFor[dialect]);
    handle = openDatabase(database.target);
  }, 60_000);
  afterEach(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
    await handle.close();
    await database.drop();
  });

  it('catches up after a restart that cut it off mid-run, taking no step twice', async () => {
    const first = await startServerProcess({ target: database.target, adminKey });
    servers.push(first);
    // Killed once it has made some progress but before it is done.
    await until(async () => (await renewals(handle)) > 0, 20_000);
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const atKill = await renewals(handle);

    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(subscriptions * 23); // killed mid-run

    servers.push(await startServerProcess({ target: database.target, adminKey }));
    await until(async () => (await stillDue(handle)) === 0, 60_000);
    await expectEachPeriodRenewedOnce(handle);
  }, 120_000);

  it('runs every due step exactly once with two processes polling one database', async () => {
    servers.push(
      ...(await Promise.all([
        startServerProcess({ target: database.target, adminKey }),
        startServerProcess({ target: database.target, adminKey }),
      ])),
    );
    await until(async () => (await stillDue(handle)) === 0, 60_000);
    await expectEachPeriodRenewedOnce(handle);
  }, 120_000);
});
