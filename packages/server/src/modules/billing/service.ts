import { conflict, ErrorCodes, effectiveStatus, invalid, notFound } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import { withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { actorOf } from '../audit/trail.js';
import { createCustomerService } from '../customers/service.js';
import { findCustomer } from '../customers/store.js';
import type { CatalogSource } from '../entitlements/around.js';
import type { RenewalHook } from '../grants/rollover.js';
import type { SubscriptionRecord } from '../subscriptions/convert.js';
import {
  findStoredLiveSubscription,
  findSubscription,
  insertSubscription,
  updateSubscription,
} from '../subscriptions/store.js';
import { catchUp, lockSubscription, recordChange } from '../subscriptions/transitions.js';
import type { BillingChange, BillingOutcome, BillingSource } from './billing-source.js';
import { desiredState, holdsCustomer, syncEvents } from './desired-state.js';
import { findLink, lockLink, recordApplied, saveLink, wasApplied } from './store.js';

/** The action a billing source's change is recorded under in the subscription's history. */
export const syncAction = 'sync';

/** How often a change is retried after losing a race to create the same link or live subscription. */
const attempts = 3;

/** Carries a dry run's result out of the transaction it rolls back. */
class DryRun {
  constructor(readonly outcome: BillingOutcome) {}
}

/**
 * The billing seam (see `BillingSource`): applies a billing system's change to the subscription
 * it drives, in one transaction — the customer, the subscription, its history and events, the
 * link's ordering token, the idempotency record and the adapter's own work commit together or
 * not at all. Built on the database, not a transaction: a dry run rolls its own back.
 */
export function createBillingSource(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  /** Runs in each renewal's transaction (rollover), as for the subscription service. */
  onRenewal?: RenewalHook | undefined;
  /** The node's cached catalog, for the entitlements an `entitlements.updated` event shows. */
  catalog?: CatalogSource | undefined;
}): BillingSource {
  const { db, dialect, clock } = deps;

  async function duplicate(on: Db, change: BillingChange): Promise<BillingOutcome> {
    const link = await findLink(on, change);
    return { outcome: 'duplicate', subscription: (link && (await findSubscription(on, link.subscriptionId))) ?? null };
  }

  /**
   * The customer's subscription that holds their one live place, brought up to date first (one
   * whose end has passed is written down as ended and no longer holds it). One of the change's
   * own source gives way to the change: it is canceled now (a new Stripe subscription, a new deal
   * replacing the customer's previous contract). One of another source is never touched.
   */
  async function makeRoom(tx: Db, change: BillingChange, now: number): Promise<void> {
    const stored = await findStoredLiveSubscription(tx, change.desired.customer);
    if (!stored) return;
    const locked = (await lockSubscription(tx, { dialect, id: stored.id })) ?? stored;
    let current = await catchUp(tx, { subscription: locked, now, onRenewal: deps.onRenewal, catalog: deps.catalog });
    if (current !== locked) await updateSubscription(tx, current);
    if (!holdsCustomer.has(effectiveStatus(current, now))) return;
    if (current.source !== change.source) {
      throw conflict(
        ErrorCodes.subscriptionSourceMismatch,
        `Customer "${current.customerId}" already has a ${current.status} subscription (${current.id}) from "${current.source}", which "${change.source}" never changes; cancel it first.`,
        [{ path: '/customer', message: `has a live subscription from "${current.source}"` }],
      );
    }
    const before = current;
    current = {
      ...current,
      status: 'canceled',
      canceledAt: now,
      cancelAt: null,
      scheduledChange: null,
      updatedAt: now,
    };
    await updateSubscription(tx, current);
    await recordChange(tx, {
      before,
      after: current,
      action: syncAction,
      actor: change.actor,
      requestId: change.requestId,
      reason: `replaced by ${change.source} ${change.externalId}`,
      at: now,
      now,
      events: ['subscription.canceled', 'entitlements.updated'],
      catalog: deps.catalog,
    });
  }

  /**
   * The change's customer, created when missing (if the change says how) and given its billing
   * system id when it has none: through the customers module, so the audit trail has it.
   */
  async function linkCustomer(tx: Db, change: BillingChange): Promise<void> {
    const { desired } = change;
    const existing = await findCustomer(tx, desired.customer);
    if (!existing && !desired.customerIfMissing) {
      throw notFound(ErrorCodes.customerNotFound, `Customer "${desired.customer}" does not exist.`, [
        { path: '/customer', message: 'unknown customer' },
      ]);
    }
    const linksStripe = desired.stripeCustomer !== undefined && !existing?.stripeCustomer;
    if (existing && !linksStripe) return;
    await createCustomerService({ db: tx, clock }).upsert({
      id: desired.customer,
      body: {
        ...(existing ? {} : { name: desired.customerIfMissing!.name }),
        ...(linksStripe ? { stripe_customer: desired.stripeCustomer } : {}),
      },
      actor: actorOf(change.actor, change.requestId),
    });
  }

  async function applyIn(tx: Db, change: BillingChange, now: number): Promise<BillingOutcome> {
    const { desired } = change;
    if (await wasApplied(tx, change)) return duplicate(tx, change);
    const link = await lockLink(tx, { dialect, source: change.source, externalId: change.externalId });
    if (link && change.ordering < link.lastOrdering) {
      return {
        outcome: 'stale',
        subscription: (await findSubscription(tx, link.subscriptionId)) ?? null,
        lastOrdering: link.lastOrdering,
      };
    }
    await linkCustomer(tx, change);

    let current: SubscriptionRecord | null = null;
    if (link) {
      const stored = await lockSubscription(tx, { dialect, id: link.subscriptionId });
      if (!stored) {
        throw notFound(ErrorCodes.subscriptionNotFound, `Subscription "${link.subscriptionId}" no longer exists.`);
      }
      if (stored.source !== change.source) {
        throw conflict(
          ErrorCodes.subscriptionSourceMismatch,
          `Subscription "${stored.id}" comes from "${stored.source}": "${change.source}" never changes it.`,
        );
      }
      if (stored.customerId !== desired.customer) {
        throw conflict(
          ErrorCodes.conflict,
          `${change.source} ${change.externalId} drives subscription "${stored.id}" of customer "${stored.customerId}"; it cannot move to another customer.`,
          [{ path: '/customer', message: `must be "${stored.customerId}"` }],
        );
      }
      current = await catchUp(tx, { subscription: stored, now, onRenewal: deps.onRenewal, catalog: deps.catalog });
    }
    const id = current?.id ?? newId('sub');
    // Claimed before the work: a second transaction applying the same change stops here.
    await recordApplied(tx, { change, customerId: desired.customer, subscriptionId: id, now });

    const after = await desiredState(tx, { current, desired, id, source: change.source, now });
    if (holdsCustomer.has(after.status) && (current === null || !holdsCustomer.has(current.status))) {
      await makeRoom(tx, change, now);
    }
    if (current) await updateSubscription(tx, after);
    else await insertSubscription(tx, after);
    await recordChange(tx, {
      before: current,
      after,
      action: syncAction,
      actor: change.actor,
      requestId: change.requestId,
      reason: `${change.source} ${change.idempotencyId}`,
      at: now,
      now,
      events: syncEvents(current, after),
      catalog: deps.catalog,
    });
    // What the new state makes due already (an end date in the past ends it now), as the
    // scheduler would a moment later.
    const settled = await catchUp(tx, { subscription: after, now, onRenewal: deps.onRenewal, catalog: deps.catalog });
    if (settled !== after) await updateSubscription(tx, settled);
    await saveLink(tx, {
      link: {
        source: change.source,
        externalId: change.externalId,
        customerId: desired.customer,
        subscriptionId: id,
        lastOrdering: Math.max(change.ordering, link?.lastOrdering ?? change.ordering),
      },
      existed: link !== undefined,
      now,
    });
    await change.alsoInTransaction?.(tx, settled, current);
    return { outcome: 'applied', before: current, subscription: settled };
  }

  return {
    async apply(change) {
      if (!Number.isSafeInteger(change.ordering)) {
        throw invalid([{ path: '/ordering', message: 'must be an integer' }]);
      }
      for (let attempt = 1; ; attempt++) {
        const now = clock.now();
        try {
          if (!change.dryRun)
            return await withTransaction({ db, claim: change.claim }, (tx) => applyIn(tx, change, now));
          await db.transaction().execute(async (tx) => {
            throw new DryRun(await applyIn(tx, change, now));
          });
        } catch (error) {
          if (error instanceof DryRun) return error.outcome;
          if (!isUniqueViolation(error)) throw error;
          // Another transaction applied this very change first, or won a race to create the
          // link or the customer's live subscription: then this one runs again and sees it.
          if (await wasApplied(db, change)) return duplicate(db, change);
          if (attempt >= attempts) {
            throw conflict(
              ErrorCodes.subscriptionExists,
              `Customer "${change.desired.customer}" already has a live subscription.`,
            );
          }
        }
      }
    },
  };
}
