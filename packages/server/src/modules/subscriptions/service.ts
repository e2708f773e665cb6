import type {
  AddOnUpdate,
  CancelRequest,
  ChangeRequest,
  PastDueRequest,
  PauseRequest,
  SubscriptionCreate,
  SubscriptionUpdate,
  TransitionRequest,
} from '@keymaster/contract';
import {
  type AddOn,
  addInterval,
  conflict,
  contractMonthsBetween,
  type DomainEventType,
  defaultChangeTiming,
  ErrorCodes,
  effectiveStatus,
  type FieldError,
  invalid,
  LiveStatuses,
  notFound,
  requireAction,
  resumed,
  type SubscriptionAction,
  type SubscriptionStatus,
  trialEndFrom,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { fromIso } from '../../json-column.js';
import { findCustomer } from '../customers/store.js';
import type { CatalogSource } from '../entitlements/around.js';
import type { RenewalHook } from '../grants/rollover.js';
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
import { type Actor, catchUp, lockSubscription, recordChange } from './transitions.js';

export type SubscriptionService = ReturnType<typeof createSubscriptionService>;

/**
 * The version a new subscription gets: the latest published one. A plan that only has a draft, or
 * was archived, is not on sale; `path` names the request field for the error.
 */
export async function planOnSale(input: {
  db: Db;
  key: string;
  kind: 'base' | 'addon';
  path: string;
}): Promise<PlanRecord> {
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

export interface LifecycleConfig {
  /** Days a past-due subscription keeps access before it is suspended, unless the call says. */
  pastDueGraceDays: number;
}

const dayMs = 86_400_000;
const accessChanged: DomainEventType[] = ['subscription.updated', 'entitlements.updated'];
const updated: DomainEventType[] = ['subscription.updated'];

/** What an action does to a subscription: the result, what it emits, and why it was done. */
interface Outcome {
  after: SubscriptionRecord;
  events: DomainEventType[];
}

export function createSubscriptionService(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  lifecycle: LifecycleConfig;
  /** Runs in each renewal's transaction (rollover). */
  onRenewal?: RenewalHook | undefined;
  /** The node's cached catalog, for the entitlements an `entitlements.updated` event shows. */
  catalog?: CatalogSource | undefined;
}) {
  const { db, dialect, clock } = deps;

  /**
   * Runs one API action on a subscription: lock it, catch up with anything time made due (so the
   * action starts from the true state), check the machine allows the action from there, apply it,
   * and store it with its history and events — all in one transaction.
   */
  async function act(
    request: { id: string; body: { reason?: string | undefined }; actor: Actor; claim?: EffectClaim | undefined },
    action: SubscriptionAction,
    apply: (
      current: SubscriptionRecord,
      next: { status: SubscriptionStatus; now: number; tx: Db },
    ) => Promise<Outcome> | Outcome,
  ): Promise<SubscriptionRecord> {
    const now = clock.now();
    return withTransaction({ db, claim: request.claim }, async (tx) => {
      const stored = await lockSubscription(tx, { dialect, id: request.id });
      if (!stored) throw notFound(ErrorCodes.subscriptionNotFound, `Subscription "${request.id}" does not exist.`);
      const current = await catchUp(tx, {
        subscription: stored,
        now,
        onRenewal: deps.onRenewal,
        catalog: deps.catalog,
      });
      const status = requireAction(current, action, now);
      const outcome = await apply(current, { status, now, tx });
      const after: SubscriptionRecord = { ...outcome.after, updatedAt: now };
      await updateSubscription(tx, after);
      await recordChange(tx, {
        before: current,
        after,
        action,
        actor: request.actor,
        reason: request.body.reason ?? null,
        at: now,
        now,
        events: outcome.events,
        catalog: deps.catalog,
      });
      return after;
    });
  }

  /**
   * The customer's subscription stored as live or paused, brought up to date first: one whose
   * end has passed (a cancellation at period end, an unpaid trial) is written down as ended, so
   * the one-live-subscription rule sees the truth.
   */
  async function currentLive(tx: Db, customerId: string, now: number): Promise<SubscriptionRecord | undefined> {
    const stored = await findStoredLiveSubscription(tx, customerId);
    if (!stored) return undefined;
    const locked = (await lockSubscription(tx, { dialect, id: stored.id })) ?? stored;
    const current = await catchUp(tx, { subscription: locked, now, onRenewal: deps.onRenewal, catalog: deps.catalog });
    if (current !== locked) await updateSubscription(tx, current);
    const status = effectiveStatus(current, now);
    return LiveStatuses.has(status) || status === 'paused' ? current : undefined;
  }

  /** Whether the customer already had a trial of this plan. */
  async function hadTrial(tx: Db, customerId: string, planKey: string): Promise<boolean> {
    const row = await tx
      .selectFrom('subscriptions')
      .select('id')
      .where('customer_id', '=', customerId)
      .where('plan_key', '=', planKey)
      .where('trial_end', 'is not', null)
      .executeTakeFirst();
    return row !== undefined;
  }

  async function addOnsFor(tx: Db, requested: SubscriptionCreate['add_ons']): Promise<AddOn[]> {
    const addOns: AddOn[] = [];
    const seen = new Set<string>();
    for (const [index, addOn] of (requested ?? []).entries()) {
      const path = `/add_ons/${index}/plan`;
      if (seen.has(addOn.plan)) throw invalid([{ path, message: `"${addOn.plan}" is listed twice` }]);
      seen.add(addOn.plan);
      const version = await planOnSale({ db: tx, key: addOn.plan, kind: 'addon', path });
      addOns.push({ planKey: version.key, planVersion: version.version, quantity: addOn.quantity ?? 1 });
    }
    return addOns;
  }

  return {
    async create(input: {
      customerId: string;
      body: SubscriptionCreate;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      const { body, customerId } = input;
      const now = clock.now();
      try {
        return await withTransaction({ db, claim: input.claim }, async (tx) => {
          if (!(await findCustomer(tx, customerId))) {
            throw notFound(ErrorCodes.customerNotFound, `Customer "${customerId}" does not exist; PUT it first.`);
          }
          const plan = await planOnSale({ db: tx, key: body.plan, kind: 'base', path: '/plan' });
          const addOns = await addOnsFor(tx, body.add_ons);
          const endsAt = fromIso(body.ends_at);
          const errors: FieldError[] = [];
          if (endsAt !== null && endsAt <= now) errors.push({ path: '/ends_at', message: 'must be in the future' });
          if (errors.length > 0) throw invalid(errors);

          const existing = await currentLive(tx, customerId, now);
          if (existing) {
            throw conflict(
              ErrorCodes.subscriptionExists,
              `Customer "${customerId}" already has a ${effectiveStatus(existing, now)} subscription (${existing.id}); change or cancel it instead.`,
            );
          }
          // One trial per customer and plan: the plan's own trial is skipped on a return, and
          // asking for one explicitly is refused unless `allow_repeat_trial` says otherwise.
          let trialDays = body.trial_days ?? plan.trialDays ?? 0;
          if (trialDays > 0 && !body.allow_repeat_trial && (await hadTrial(tx, customerId, plan.key))) {
            if (body.trial_days !== undefined) {
              throw conflict(
                ErrorCodes.trialAlreadyUsed,
                `Customer "${customerId}" already had a trial of "${plan.key}".`,
                [
                  {
                    path: '/trial_days',
                    message: 'a trial of this plan was already used (set allow_repeat_trial to override)',
                  },
                ],
              );
            }
            trialDays = 0;
          }
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
            billingAnchor: now,
            trialEnd: trialDays > 0 ? trialEndFrom({ start: now, days: trialDays }) : null,
            trialNoticeSent: false,
            onTrialEnd: body.on_trial_end ?? 'cancel',
            cancelAt: null,
            canceledAt: null,
            endsAt,
            onEndsAt: body.on_ends_at ?? 'expire',
            contractMonths: endsAt === null ? null : contractMonthsBetween(now, endsAt),
            graceEndsAt: null,
            resumesAt: null,
            scheduledChange: null,
            addOns,
            source: body.source ?? 'api',
            createdAt: now,
            updatedAt: now,
          };
          await insertSubscription(tx, subscription);
          await recordChange(tx, {
            before: null,
            after: subscription,
            action: 'create',
            actor: input.actor,
            reason: null,
            at: now,
            now,
            events: ['subscription.created', 'entitlements.updated'],
            catalog: deps.catalog,
          });
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

    /** Cancels now (access ends at once) or at the end of the current period (undoable until then). */
    cancel(input: {
      id: string;
      body: CancelRequest;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      const now = (input.body.when ?? 'now') === 'now';
      return act(input, now ? 'cancel' : 'schedule_cancel', (current, next) =>
        now
          ? {
              after: { ...current, status: 'canceled', canceledAt: next.now, cancelAt: null, scheduledChange: null },
              events: ['subscription.canceled', 'entitlements.updated'],
            }
          : { after: { ...current, cancelAt: currentPeriod(current, next.now).end }, events: updated },
      );
    },

    /** Takes back a cancellation at period end that has not happened yet. */
    undoCancel(input: {
      id: string;
      body: TransitionRequest;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      return act(input, 'undo_cancel', (current) => {
        if (current.cancelAt === null) {
          throw conflict(ErrorCodes.invalidTransition, `Subscription "${current.id}" has no cancellation to undo.`, [
            { path: '/cancel_at', message: 'is not set' },
          ]);
        }
        return { after: { ...current, cancelAt: null }, events: updated };
      });
    },

    /**
     * Moves to another base plan's latest published version: at once (an upgrade, by default —
     * the period and the usage counted in it carry over) or at period end (a downgrade, by
     * default — shown as `scheduled_change` until then). A second change replaces a scheduled one.
     */
    change(input: {
      id: string;
      body: ChangeRequest;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      return act(input, 'change_plan', async (current, { now, tx }) => {
        const target = await planOnSale({ db: tx, key: input.body.plan, kind: 'base', path: '/plan' });
        const planVersions = await findPlanVersions(tx, current.planKey);
        const currentPlan = planVersions.find((v) => v.version === current.planVersion);
        if (target.key === current.planKey && target.version === current.planVersion) {
          if (current.scheduledChange === null) {
            throw invalid([{ path: '/plan', message: `already on ${target.key} v${target.version}` }]);
          }
          // Changing back to the plan it is on: the scheduled change is dropped.
          return { after: { ...current, scheduledChange: null }, events: updated };
        }
        const when = input.body.when ?? defaultChangeTiming({ current: currentPlan, target });
        const interval = target.price?.interval ?? 'month';
        if (when === 'period_end') {
          const at = currentPeriod(current, now).end;
          return {
            after: {
              ...current,
              scheduledChange: { planKey: target.key, planVersion: target.version, interval, at },
            },
            events: updated,
          };
        }
        // A change of billing interval starts a new period now; otherwise the period runs on.
        const period =
          interval === current.interval
            ? {}
            : {
                billingAnchor: now,
                currentPeriodStart: now,
                currentPeriodEnd: addInterval({ anchor: now, interval, count: 1 }),
              };
        return {
          after: {
            ...current,
            ...period,
            planKey: target.key,
            planVersion: target.version,
            interval,
            scheduledChange: null,
          },
          events: accessChanged,
        };
      });
    },

    /** Marks a trial as converted (paid) now, or a past-due subscription as paid. */
    activate(input: {
      id: string;
      body: TransitionRequest;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      return act(input, 'activate', (current) => ({
        after: { ...current, status: 'active', graceEndsAt: null },
        events: current.status === 'trialing' ? ['trial.ended', 'subscription.updated'] : updated,
      }));
    },

    /** Payment failed: access continues for the grace period, then the subscription is suspended. */
    markPastDue(input: {
      id: string;
      body: PastDueRequest;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      return act(input, 'mark_past_due', (current, { now }) => {
        const graceDays = input.body.grace_days ?? deps.lifecycle.pastDueGraceDays;
        return { after: { ...current, status: 'past_due', graceEndsAt: now + graceDays * dayMs }, events: updated };
      });
    },

    pause(input: {
      id: string;
      body: PauseRequest;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      return act(input, 'pause', (current, { now }) => {
        const resumesAt = fromIso(input.body.resumes_at);
        if (resumesAt !== null && resumesAt <= now) {
          throw invalid([{ path: '/resumes_at', message: 'must be in the future' }]);
        }
        return { after: { ...current, status: 'paused', resumesAt, graceEndsAt: null }, events: accessChanged };
      });
    },

    resume(input: {
      id: string;
      body: TransitionRequest;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      return act(input, 'resume', (current, { now }) => ({
        after: { ...current, ...resumed(current, now) },
        events: accessChanged,
      }));
    },

    /** Attaches an add-on (its latest published version), changes its quantity, or detaches it (0). */
    setAddOn(input: {
      id: string;
      body: AddOnUpdate;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      return act(input, 'update_add_ons', async (current, { tx }) => {
        const { plan, quantity } = input.body;
        const attached = current.addOns.find((a) => a.planKey === plan);
        const others = current.addOns.filter((a) => a.planKey !== plan);
        if (quantity === 0) {
          if (!attached) throw invalid([{ path: '/plan', message: `"${plan}" is not attached` }]);
          return { after: { ...current, addOns: others }, events: accessChanged };
        }
        const version =
          attached?.planVersion ?? (await planOnSale({ db: tx, key: plan, kind: 'addon', path: '/plan' })).version;
        return {
          after: { ...current, addOns: [...others, { planKey: plan, planVersion: version, quantity }] },
          events: accessChanged,
        };
      });
    },

    /** Edits terms: what happens at trial end (`activate` once a payment method is on file), the contract end. */
    update(input: {
      id: string;
      body: SubscriptionUpdate;
      actor: Actor;
      claim?: EffectClaim | undefined;
    }): Promise<SubscriptionRecord> {
      return act(input, 'update_terms', (current, { now }) => {
        const { on_trial_end: onTrialEnd, ends_at: endsAtIso, on_ends_at: onEndsAt } = input.body;
        const endsAt = endsAtIso === undefined ? current.endsAt : endsAtIso === null ? null : fromIso(endsAtIso);
        if (endsAt !== null && endsAt <= now) throw invalid([{ path: '/ends_at', message: 'must be in the future' }]);
        const contractMonths =
          endsAt === null
            ? null
            : endsAtIso === undefined
              ? current.contractMonths
              : contractMonthsBetween(now, endsAt);
        return {
          after: {
            ...current,
            onTrialEnd: onTrialEnd ?? current.onTrialEnd,
            endsAt,
            onEndsAt: onEndsAt ?? current.onEndsAt,
            contractMonths,
          },
          events: updated,
        };
      });
    },
  };
}
