import type { CancelRequest, SubscriptionCreate } from '@keymaster/contract';
import {
  type AddOn,
  addInterval,
  conflict,
  ErrorCodes,
  effectiveStatus,
  type FieldError,
  invalid,
  LiveStatuses,
  notFound,
  trialEndFrom,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import { withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { fromIso } from '../../json-column.js';
import { findCustomer } from '../customers/store.js';
import type { PlanRecord } from '../plans/convert.js';
import { findPlanVersions } from '../plans/store.js';
import { currentPeriod, type SubscriptionRecord } from './convert.js';
import {
  findStoredLiveSubscription,
  findSubscription,
  insertSubscription,
  listSubscriptions,
  updateSubscription,
} from './store.js';

export type SubscriptionService = ReturnType<typeof createSubscriptionService>;

/**
 * The version a new subscription gets: the latest published one. A plan that only has a draft, or
 * was archived, is not on sale; `path` names the request field for the error.
 */
async function planOnSale(input: { db: Db; key: string; kind: 'base' | 'addon'; path: string }): Promise<PlanRecord> {
  const versions = await findPlanVersions(input.db, input.key);
  const at = [{ path: input.path, message: '' }];
  if (versions.length === 0) {
    throw notFound(ErrorCodes.planNotFound, `Plan "${input.key}" does not exist.`, [
      { ...at[0]!, message: 'unknown plan' },
    ]);
  }
  const published = versions.filter((v) => v.status === 'published').at(-1);
  if (!published) {
    const archived = versions.some((v) => v.status === 'archived');
    throw conflict(
      archived ? ErrorCodes.planArchived : ErrorCodes.planNotPublished,
      archived
        ? `Plan "${input.key}" is archived: it takes no new subscriptions.`
        : `Plan "${input.key}" has no published version yet.`,
      [{ path: input.path, message: archived ? 'is archived' : 'is not published' }],
    );
  }
  if (published.kind !== input.kind) {
    throw invalid([
      { path: input.path, message: `"${input.key}" is ${published.kind === 'addon' ? 'an add-on' : 'a base plan'}` },
    ]);
  }
  return published;
}

export function createSubscriptionService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  /**
   * A subscription stored as live whose end has already passed (a cancellation at period end, an
   * unpaid trial) is written down as ended, so the one-live-subscription rule sees the truth.
   */
  async function settleEnded(tx: Db, customerId: string, now: number): Promise<SubscriptionRecord | undefined> {
    const stored = await findStoredLiveSubscription(tx, customerId);
    if (!stored) return undefined;
    const status = effectiveStatus(stored, now);
    if (status === stored.status || LiveStatuses.has(status) || status === 'paused') return stored;
    await updateSubscription(tx, { ...stored, status, updatedAt: now });
    return undefined;
  }

  return {
    async create(input: { customerId: string; body: SubscriptionCreate }): Promise<SubscriptionRecord> {
      const { body, customerId } = input;
      const now = clock.now();
      try {
        return await withTransaction(db, async (tx) => {
          if (!(await findCustomer(tx, customerId))) {
            throw notFound(ErrorCodes.customerNotFound, `Customer "${customerId}" does not exist; PUT it first.`);
          }
          const plan = await planOnSale({ db: tx, key: body.plan, kind: 'base', path: '/plan' });
          const addOns: AddOn[] = [];
          const seen = new Set<string>();
          for (const [index, addOn] of (body.add_ons ?? []).entries()) {
            const path = `/add_ons/${index}/plan`;
            if (seen.has(addOn.plan)) throw invalid([{ path, message: `"${addOn.plan}" is listed twice` }]);
            seen.add(addOn.plan);
            const version = await planOnSale({ db: tx, key: addOn.plan, kind: 'addon', path });
            addOns.push({ planKey: version.key, planVersion: version.version, quantity: addOn.quantity ?? 1 });
          }
          const endsAt = fromIso(body.ends_at);
          const errors: FieldError[] = [];
          if (endsAt !== null && endsAt <= now) errors.push({ path: '/ends_at', message: 'must be in the future' });
          if (errors.length > 0) throw invalid(errors);

          const existing = await settleEnded(tx, customerId, now);
          if (existing) {
            throw conflict(
              ErrorCodes.subscriptionExists,
              `Customer "${customerId}" already has a ${existing.status} subscription (${existing.id}); change or cancel it instead.`,
            );
          }
          const trialDays = body.trial_days ?? plan.trialDays ?? 0;
          const interval = plan.price?.interval ?? 'month';
          const subscription: SubscriptionRecord = {
            id: newId('sub'),
            customerId,
            planKey: plan.key,
            planVersion: plan.version,
            status: trialDays > 0 ? 'trialing' : 'active',
            currentPeriodStart: now,
            currentPeriodEnd: addInterval({ anchor: now, interval, count: 1 }),
            interval,
            trialEnd: trialDays > 0 ? trialEndFrom({ start: now, days: trialDays }) : null,
            onTrialEnd: body.on_trial_end ?? 'cancel',
            cancelAt: null,
            canceledAt: null,
            endsAt,
            scheduledChange: null,
            addOns,
            source: body.source ?? 'api',
            createdAt: now,
            updatedAt: now,
          };
          await insertSubscription(tx, subscription);
          return subscription;
        });
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw conflict(ErrorCodes.subscriptionExists, `Customer "${customerId}" already has a live subscription.`);
        }
        throw error;
      }
    },

    async get(id: string): Promise<SubscriptionRecord> {
      const subscription = await findSubscription(db, id);
      if (!subscription) throw notFound(ErrorCodes.subscriptionNotFound, `Subscription "${id}" does not exist.`);
      return subscription;
    },

    async list(page: { customerId: string; before: string | undefined; limit: number }): Promise<SubscriptionRecord[]> {
      if (!(await findCustomer(db, page.customerId))) {
        throw notFound(ErrorCodes.customerNotFound, `Customer "${page.customerId}" does not exist.`);
      }
      return listSubscriptions(db, page);
    },

    /** Cancels now (access ends at once) or at the end of the current period. */
    async cancel(input: { id: string; body: CancelRequest }): Promise<SubscriptionRecord> {
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const subscription = await findSubscription(tx, input.id);
        if (!subscription)
          throw notFound(ErrorCodes.subscriptionNotFound, `Subscription "${input.id}" does not exist.`);
        const status = effectiveStatus(subscription, now);
        if (status === 'canceled' || status === 'expired') {
          throw conflict(ErrorCodes.subscriptionNotLive, `Subscription "${input.id}" is already ${status}.`);
        }
        const next: SubscriptionRecord =
          (input.body.when ?? 'now') === 'now'
            ? { ...subscription, status: 'canceled', canceledAt: now, cancelAt: null, updatedAt: now }
            : { ...subscription, cancelAt: currentPeriod(subscription, now).end, updatedAt: now };
        await updateSubscription(tx, next);
        return next;
      });
    },
  };
}
