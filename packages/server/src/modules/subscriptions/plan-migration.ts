import type { PlanMigrationRequest, PlanMigrationResult } from '@keymaster/contract';
import {
  type Catalog,
  type CustomerState,
  conflict,
  ErrorCodes,
  entitlementChanges,
  invalid,
  isQuantityType,
  notFound,
  resolve,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import type { RenewalHook } from '../grants/rollover.js';
import { findPlanVersions } from '../plans/store.js';
import { currentPeriod, fromDbSubscription, type SubscriptionRecord } from './convert.js';
import { updateSubscription } from './store.js';
import { type Actor, catchUp, lockSubscription, recordChange } from './transitions.js';

type CustomerReport = PlanMigrationResult['customers'][number];

/**
 * Moves a plan's grandfathered subscribers from one published version to another. The dry run
 * resolves each customer twice — as they are, and as they would be on the new version, with
 * their grants, add-ons and targeting in both — and reports what they gain, lose and see change,
 * and where their current usage would already exceed a new limit. The real run moves each
 * subscription in its own transaction (now, or as a change scheduled for its period end), with
 * history and events like any other change.
 */
export function createPlanMigration(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  catalog: () => Catalog | Promise<Catalog>;
  customerState: (customerId: string) => Promise<CustomerState | null>;
  /** Current usage (or gauge level) by feature, as checks report it. */
  usageOf: (customerId: string) => Promise<Map<string, number>>;
  onRenewal?: RenewalHook | undefined;
}) {
  const { db, dialect, clock } = deps;

  async function versions(input: { key: string; from: number; to: number }) {
    const all = await findPlanVersions(db, input.key);
    if (all.length === 0) throw notFound(ErrorCodes.planNotFound, `Plan "${input.key}" does not exist.`);
    const from = all.find((v) => v.version === input.from);
    const to = all.find((v) => v.version === input.to);
    const errors = [];
    if (!from || from.status === 'draft')
      errors.push({ path: '/from_version', message: 'is not a published or archived version' });
    if (input.from === input.to) errors.push({ path: '/to_version', message: 'must differ from from_version' });
    if (!to) errors.push({ path: '/to_version', message: 'does not exist' });
    if (errors.length > 0) throw invalid(errors);
    if (to!.status !== 'published') {
      throw conflict(ErrorCodes.planNotPublished, `Version ${input.to} of "${input.key}" is not published.`, [
        { path: '/to_version', message: `is ${to!.status}` },
      ]);
    }
    if (to!.kind !== 'base') throw invalid([{ path: '/to_version', message: 'add-on subscriptions are not migrated' }]);
    return { from: from!, to: to! };
  }

  async function report(input: { subscription: SubscriptionRecord; catalog: Catalog; toVersion: number; now: number }) {
    const { subscription, catalog, now } = input;
    const state = await deps.customerState(subscription.customerId);
    const base: CustomerState = state ?? {
      customer: { id: subscription.customerId, name: null, email: null, traits: {} },
      subscription,
      grants: [],
    };
    const before = resolve({ catalog, state: { ...base, subscription }, now });
    const moved = { ...subscription, planVersion: input.toVersion };
    const after = resolve({ catalog, state: { ...base, subscription: moved }, now });
    const changes = entitlementChanges({ before, after });
    const usage = await deps.usageOf(subscription.customerId);
    const overLimit: CustomerReport['over_limit'] = [];
    for (const [feature, entitlement] of after.entitlements) {
      if (!isQuantityType(entitlement.type) || !entitlement.enabled || entitlement.limit === null) continue;
      const used = usage.get(feature) ?? 0;
      if (used > entitlement.limit) overLimit.push({ feature, usage: used, limit: entitlement.limit });
    }
    const entry: CustomerReport = {
      customer: subscription.customerId,
      subscription: subscription.id,
      gains: changes.gained,
      losses: changes.lost,
      changes: changes.changed.map((c) => ({ feature: c.feature, from: c.before, to: c.after })),
      over_limit: overLimit,
      skipped: null,
    };
    return entry;
  }

  return {
    async migrate(input: { key: string; body: PlanMigrationRequest; actor: Actor }): Promise<PlanMigrationResult> {
      const { key, body } = input;
      const when = body.when ?? 'period_end';
      const dryRun = body.dry_run ?? false;
      const { to } = await versions({ key, from: body.from_version, to: body.to_version });
      const rows = await db
        .selectFrom('subscriptions')
        .selectAll()
        .where('plan_key', '=', key)
        .where('plan_version', '=', body.from_version)
        .where('status', 'in', ['trialing', 'active', 'past_due', 'paused'])
        .orderBy('id')
        .execute();
      const catalog = await deps.catalog();
      const now = clock.now();
      const customers: CustomerReport[] = [];
      let applied = 0;
      for (const row of rows) {
        const subscription = fromDbSubscription(row);
        const entry = await report({ subscription, catalog, toVersion: to.version, now });
        customers.push(entry);
        if (dryRun) continue;
        entry.skipped = await withTransaction(db, async (tx) => {
          const locked = await lockSubscription(tx, { dialect, id: subscription.id });
          if (!locked) return 'no longer exists';
          const current = await catchUp(tx, {
            subscription: locked,
            now,
            onRenewal: deps.onRenewal,
            catalog: () => catalog,
          });
          if (current.planKey !== key || current.planVersion !== body.from_version) return 'no longer on from_version';
          if (current.status === 'canceled' || current.status === 'expired') return `is ${current.status}`;
          if (current.scheduledChange !== null) return `a change to ${current.scheduledChange.planKey} is scheduled`;
          const interval = to.price?.interval ?? current.interval;
          const after: SubscriptionRecord =
            when === 'now'
              ? { ...current, planVersion: to.version, updatedAt: now }
              : {
                  ...current,
                  scheduledChange: {
                    planKey: key,
                    planVersion: to.version,
                    interval,
                    at: currentPeriod(current, now).end,
                  },
                  updatedAt: now,
                };
          await updateSubscription(tx, after);
          await recordChange(tx, {
            before: current,
            after,
            action: 'migrate',
            actor: input.actor,
            reason: `plan ${key} v${body.from_version} → v${to.version}`,
            at: now,
            now,
            events: when === 'now' ? ['subscription.updated', 'entitlements.updated'] : ['subscription.updated'],
            catalog: () => catalog,
          });
          return null;
        });
        if (entry.skipped === null) applied++;
      }
      return {
        plan: key,
        from_version: body.from_version,
        to_version: to.version,
        when,
        dry_run: dryRun,
        affected: rows.length,
        applied,
        customers,
      };
    },
  };
}

export type PlanMigration = ReturnType<typeof createPlanMigration>;
