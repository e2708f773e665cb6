import { DomainError } from '@keymaster/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../db/database.js';
import { seedCatalog, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { rowCounts } from '../../test-support/stored-state.js';
import type { BillingChange, BillingSource, DesiredSubscription } from './billing-source.js';
import { createBillingSource } from './service.js';

const day = 86_400_000;

/** How many rows each table the seam writes holds: what "writes nothing" is checked against. */
const counted = [
  'customers',
  'subscriptions',
  'subscription_history',
  'domain_events',
  'billing_links',
  'billing_changes',
  'grants',
] as const;

async function historyOf(db: Db, subscriptionId: string) {
  return db
    .selectFrom('subscription_history')
    .select(['action', 'actor', 'reason'])
    .where('subscription_id', '=', subscriptionId)
    .orderBy('seq')
    .execute();
}

async function eventsOf(db: Db, subscriptionId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('domain_events')
    .select('type')
    .where('subscription_id', '=', subscriptionId)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.type);
}

/** The error an apply rejects with, as a domain error. */
async function failure(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

describeEachDialect('billing source: apply', (dialect) => {
  let server: TestServer;
  let billing: BillingSource;
  let db: Db;

  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
    db = server.keymaster.database.db;
    billing = createBillingSource({ db, dialect: server.keymaster.database.dialect, clock: server.clock });
  });
  afterAll(() => server.close());
  /** The counts once the server's notification consumer has caught up with earlier tests' events
   * (it announces notifications as `notification.created` events of its own, in the background). */
  async function counts() {
    await server.keymaster.notifications.runDue();
    return rowCounts(db, counted);
  }

  const desired = (overrides: Partial<DesiredSubscription> & { customer: string }): DesiredSubscription => ({
    plan: 'pro',
    addOns: [],
    status: 'active',
    trialEnd: null,
    cancelAt: null,
    endsAt: null,
    onEndsAt: 'expire',
    ...overrides,
  });

  /** A contract-like change: external id `crm:<deal>`, ordering the revision. */
  const change = (input: {
    deal: string;
    revision: number;
    desired: DesiredSubscription;
    source?: string;
    idempotencyId?: string;
    dryRun?: boolean;
  }): BillingChange => ({
    source: input.source ?? 'contract',
    externalId: `crm:${input.deal}`,
    ordering: input.revision,
    idempotencyId: input.idempotencyId ?? `crm:${input.deal}:${input.revision}`,
    actor: `integration:${input.source ?? 'contract'}`,
    desired: input.desired,
    dryRun: input.dryRun,
  });

  it('creates the customer and the subscription, with its history and events, as the integration', async () => {
    const customer = uniqueKey('billing_new');
    const outcome = await billing.apply(
      change({
        deal: customer,
        revision: 1,
        desired: desired({
          customer,
          customerIfMissing: { name: 'Billing New' },
          addOns: [{ plan: 'extra_seats', quantity: 2 }],
        }),
      }),
    );
    expect(outcome.outcome).toBe('applied');
    if (outcome.outcome !== 'applied') return;
    expect(outcome.before).toBeNull();
    expect(outcome.subscription).toMatchObject({
      customerId: customer,
      planKey: 'pro',
      status: 'active',
      source: 'contract',
      addOns: [{ planKey: 'extra_seats', quantity: 2 }],
    });
    const stored = await server.request({ method: 'GET', url: `/v1/customers/${customer}/subscriptions` });
    expect(stored.json<{ data: unknown[] }>().data).toEqual([
      expect.objectContaining({ id: outcome.subscription.id, plan: 'pro', status: 'active', source: 'contract' }),
    ]);
    expect(await historyOf(db, outcome.subscription.id)).toEqual([
      { action: 'sync', actor: 'integration:contract', reason: `contract crm:${customer}:1` },
    ]);
    expect(await eventsOf(db, outcome.subscription.id)).toEqual(['subscription.created', 'entitlements.updated']);
  });

  it('amends the subscription with a higher ordering: plan now, add-ons, end date', async () => {
    const customer = uniqueKey('billing_amend');
    const first = await billing.apply(
      change({ deal: customer, revision: 1, desired: desired({ customer, customerIfMissing: { name: 'A' } }) }),
    );
    const endsAt = server.clock.now() + 365 * day;
    const second = await billing.apply(
      change({
        deal: customer,
        revision: 2,
        desired: desired({
          customer,
          plan: 'enterprise',
          addOns: [{ plan: 'extra_seats', quantity: 3 }],
          endsAt,
          onEndsAt: 'renew',
        }),
      }),
    );
    expect(second.outcome).toBe('applied');
    if (second.outcome !== 'applied' || first.outcome !== 'applied') return;
    expect(second.subscription.id).toBe(first.subscription.id);
    expect(second.before?.planKey).toBe('pro');
    expect(second.subscription).toMatchObject({
      planKey: 'enterprise',
      addOns: [{ planKey: 'extra_seats', quantity: 3 }],
      endsAt,
      onEndsAt: 'renew',
      contractMonths: 12,
    });
    expect(await eventsOf(db, first.subscription.id)).toEqual([
      'subscription.created',
      'entitlements.updated',
      'subscription.updated',
      'entitlements.updated',
    ]);
  });

  it('answers a change applied before as a duplicate and changes nothing', async () => {
    const customer = uniqueKey('billing_dup');
    const body = change({
      deal: customer,
      revision: 1,
      desired: desired({ customer, customerIfMissing: { name: 'D' } }),
    });
    const first = await billing.apply(body);
    const before = await counts();
    const again = await billing.apply({ ...body, desired: { ...body.desired, plan: 'enterprise' } });
    expect(again.outcome).toBe('duplicate');
    expect(again.subscription?.id).toBe(first.outcome === 'applied' ? first.subscription.id : undefined);
    expect(again.subscription?.planKey).toBe('pro');
    expect(await counts()).toEqual(before);
  });

  it('answers a lower ordering as stale and applies an equal one', async () => {
    const customer = uniqueKey('billing_stale');
    await billing.apply(
      change({ deal: customer, revision: 5, desired: desired({ customer, customerIfMissing: { name: 'S' } }) }),
    );
    const before = await counts();
    const stale = await billing.apply(
      change({ deal: customer, revision: 4, desired: desired({ customer, plan: 'free' }) }),
    );
    expect(stale).toMatchObject({ outcome: 'stale', lastOrdering: 5, subscription: { planKey: 'pro' } });
    expect(await counts()).toEqual(before);

    const equal = await billing.apply(
      change({
        deal: customer,
        revision: 5,
        idempotencyId: `${customer}:again`,
        desired: desired({ customer, plan: 'enterprise' }),
      }),
    );
    expect(equal).toMatchObject({ outcome: 'applied', subscription: { planKey: 'enterprise' } });
  });

  it('never touches a subscription of another source, and says so', async () => {
    const { id: customer, subscription } = await seedCustomer(server, { plan: 'pro' });
    const before = await counts();
    const error = await failure(
      billing.apply(change({ deal: customer, revision: 1, desired: desired({ customer, plan: 'enterprise' }) })),
    );
    expect(error).toMatchObject({ kind: 'conflict', code: 'subscription_source_mismatch' });
    expect(await counts()).toEqual(before);
    const after = await server.request({ method: 'GET', url: `/v1/subscriptions/${subscription!.id}` });
    expect(after.json()).toMatchObject({ plan: 'pro', status: 'active', source: 'api' });

    // A contract's subscription is not Stripe's either.
    const contract = uniqueKey('billing_contract');
    await billing.apply(
      change({
        deal: contract,
        revision: 1,
        desired: desired({ customer: contract, customerIfMissing: { name: 'C' } }),
      }),
    );
    const fromStripe = await failure(
      billing.apply(
        change({
          source: 'stripe',
          deal: 'sub_1',
          revision: 1,
          desired: desired({ customer: contract, plan: 'free' }),
        }),
      ),
    );
    expect(fromStripe.code).toBe('subscription_source_mismatch');
  });

  it('replaces the customer’s subscription from another deal of the same source', async () => {
    const customer = uniqueKey('billing_replace');
    const old = await billing.apply(
      change({ deal: `${customer}-a`, revision: 1, desired: desired({ customer, customerIfMissing: { name: 'R' } }) }),
    );
    const replacement = await billing.apply(
      change({ deal: `${customer}-b`, revision: 1, desired: desired({ customer, plan: 'enterprise' }) }),
    );
    expect(replacement).toMatchObject({
      outcome: 'applied',
      before: null,
      subscription: { planKey: 'enterprise', status: 'active' },
    });
    if (old.outcome !== 'applied') return;
    const previous = await server.request({ method: 'GET', url: `/v1/subscriptions/${old.subscription.id}` });
    expect(previous.json()).toMatchObject({ status: 'canceled' });
  });

  it('works the change out on a dry run and writes nothing', async () => {
    const customer = uniqueKey('billing_dry');
    const before = await counts();
    const outcome = await billing.apply(
      change({
        deal: customer,
        revision: 1,
        dryRun: true,
        desired: desired({ customer, customerIfMissing: { name: 'Dry' } }),
      }),
    );
    expect(outcome).toMatchObject({
      outcome: 'applied',
      before: null,
      subscription: { customerId: customer, planKey: 'pro' },
    });
    expect(await counts()).toEqual(before);
    // And the change itself is still to be applied.
    const real = await billing.apply(
      change({ deal: customer, revision: 1, desired: desired({ customer, customerIfMissing: { name: 'Dry' } }) }),
    );
    expect(real.outcome).toBe('applied');
  });

  it('refuses an unknown plan or customer, naming the field, with nothing half-applied', async () => {
    const customer = uniqueKey('billing_bad');
    const before = await counts();
    const plan = await failure(
      billing.apply(
        change({
          deal: customer,
          revision: 1,
          desired: desired({ customer, plan: 'nope', customerIfMissing: { name: 'B' } }),
        }),
      ),
    );
    expect(plan).toMatchObject({ code: 'plan_not_found', errors: [{ path: '/plan' }] });
    const addOn = await failure(
      billing.apply(
        change({
          deal: customer,
          revision: 1,
          desired: desired({ customer, addOns: [{ plan: 'pro', quantity: 1 }], customerIfMissing: { name: 'B' } }),
        }),
      ),
    );
    expect(addOn).toMatchObject({ code: 'validation_failed', errors: [{ path: '/add_ons/0/plan' }] });
    const unknownCustomer = await failure(
      billing.apply(change({ deal: customer, revision: 1, desired: desired({ customer }) })),
    );
    expect(unknownCustomer).toMatchObject({ code: 'customer_not_found' });
    expect(await counts()).toEqual(before);
  });

  it('starts a future-dated subscription paused until its start', async () => {
    const customer = uniqueKey('billing_future');
    const startsAt = server.clock.now() + 10 * day;
    const endsAt = startsAt + 30 * day;
    const outcome = await billing.apply(
      change({
        deal: customer,
        revision: 1,
        desired: desired({ customer, customerIfMissing: { name: 'F' }, startsAt, endsAt }),
      }),
    );
    expect(outcome).toMatchObject({
      outcome: 'applied',
      subscription: { status: 'paused', resumesAt: startsAt, endsAt },
    });
  });

  describe('concurrency', () => {
    it('applies the same change sent many times at once exactly once', async () => {
      const customer = uniqueKey('billing_race');
      const body = change({
        deal: customer,
        revision: 1,
        desired: desired({ customer, customerIfMissing: { name: 'Race' } }),
      });
      const outcomes = await Promise.all(Array.from({ length: 6 }, () => billing.apply(body)));
      expect(outcomes.filter((o) => o.outcome === 'applied')).toHaveLength(1);
      expect(outcomes.filter((o) => o.outcome === 'duplicate')).toHaveLength(5);
      const rows = await db.selectFrom('subscriptions').select('id').where('customer_id', '=', customer).execute();
      expect(rows).toHaveLength(1);
      expect(await historyOf(db, rows[0]!.id)).toHaveLength(1);
    });

    it('applies different changes of one new external subscription at once, one after the other', async () => {
      const customer = uniqueKey('billing_race2');
      const outcomes = await Promise.all(
        [1, 2, 3].map((revision) =>
          billing.apply(
            change({ deal: customer, revision, desired: desired({ customer, customerIfMissing: { name: 'R2' } }) }),
          ),
        ),
      );
      expect(outcomes.every((o) => o.outcome === 'applied' || o.outcome === 'stale')).toBe(true);
      const rows = await db.selectFrom('subscriptions').select('id').where('customer_id', '=', customer).execute();
      expect(rows).toHaveLength(1);
      const link = await db
        .selectFrom('billing_links')
        .selectAll()
        .where('customer_id', '=', customer)
        .executeTakeFirstOrThrow();
      expect(link.last_ordering).toBe(3);
    });
  });
});
