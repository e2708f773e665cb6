import { DomainError, ErrorCodes, invalid, notFound } from '@keymaster/core';
import type { Logger } from 'pino';
import type { Clock } from '../../../clock.js';
import type { Db } from '../../../db/database.js';
import { withTransaction } from '../../../db/transaction.js';
import type { BillingChange, BillingSource } from '../../billing/billing-source.js';
import { findCustomerByStripeCustomer } from '../../customers/store.js';
import { emitDomainEvents } from '../../outbox/emit.js';
import { toApiSubscription } from '../../subscriptions/convert.js';
import { findCurrentSubscription } from '../../subscriptions/store.js';
import {
  findStripeEvent,
  isSettled,
  listStripeEvents,
  loadProductPlans,
  recordOutcome,
  type StripeEventRow,
  type StripeOutcome,
  storeReceived,
} from './store.js';
import type { StripeApi } from './stripe-api.js';
import {
  eventSubject,
  failedInvoice,
  readEnvelope,
  type StripeEventEnvelope,
  stripeCustomerOf,
} from './stripe-event.js';
import { readSubscription, type StripeSubscription, subscriptionState } from './subscription-state.js';

export type StripeService = ReturnType<typeof createStripeService>;

/** What became of one event. */
export interface EventResult {
  event: string;
  outcome: StripeOutcome;
  detail: string | null;
}

/** Applying an event failed in a way a retry may mend (a database outage, Stripe's API down). */
export class StripeEventFailed extends Error {
  constructor(
    readonly eventId: string,
    readonly detail: string,
  ) {
    super(`Stripe event ${eventId} was not applied: ${detail}`);
  }
}

/** What applying a subscription's state came to, before it is recorded. */
type Verdict = {
  outcome: StripeOutcome;
  detail: string | null;
  subscription: string | null;
  customer: string | null;
};

const actor = 'integration:stripe';

/**
 * Stripe in: every event is stored as received, then applied through the billing seam in one
 * transaction with the record of it, or recorded as ignored (with the reason) or stale. Stripe
 * delivers at least once and in any order; the seam applies each event id once and never moves a
 * subscription back to an older event's state. See docs/stripe.md.
 */
export function createStripeService(deps: {
  db: Db;
  clock: Clock;
  billing: BillingSource;
  /** Stripe's API, with KEYMASTER_STRIPE_API_KEY: the subscription an event names is fetched, and wins. */
  api: StripeApi | undefined;
  logger: Pick<Logger, 'error'>;
}) {
  const { db, clock, billing, api } = deps;

  /** The subscription an event is about, as Stripe has it now (with the API) or as the event carries it. */
  async function subjectOf(event: StripeEventEnvelope): Promise<StripeSubscription | { ignored: string }> {
    const subject = eventSubject(event);
    if ('ignored' in subject) return subject;
    let object = subject.object;
    if (api !== undefined) {
      object = await api.subscription(subject.subscription);
      if (object === undefined) return { ignored: `Stripe does not know subscription ${subject.subscription}` };
    } else if (object === undefined) {
      return {
        ignored: `the event names subscription ${subject.subscription} without its state: set KEYMASTER_STRIPE_API_KEY to fetch it`,
      };
    }
    const subscription = readSubscription(object);
    return 'reason' in subscription ? { ignored: subscription.reason } : subscription;
  }

  /** Applies a subscription's state (load → decide → apply); `dryRun` decides and writes nothing. */
  async function applySubscription(input: {
    subscription: StripeSubscription;
    ordering: number;
    idempotencyId: string;
    dryRun?: boolean;
    /** The webhook delivery's request, for the audit trail. */
    requestId?: string | undefined;
    /** Records the event's outcome in the transaction that applies it. */
    record?: BillingChange['alsoInTransaction'];
  }): Promise<Verdict> {
    const { subscription } = input;
    const products = await loadProductPlans(db);
    const matched =
      subscription.keymasterCustomer === undefined
        ? await findCustomerByStripeCustomer(db, subscription.customer)
        : undefined;
    const state = subscriptionState({ subscription, products, matchedCustomer: matched?.id });
    const reported = state.reported.length > 0 ? state.reported.join('; ') : null;
    const base = { subscription: subscription.id, customer: 'desired' in state ? state.desired.customer : null };
    if ('reason' in state) {
      return { ...base, outcome: 'ignored', detail: [state.reason, ...state.reported].join('; ') };
    }
    const result = await billing.apply({
      source: 'stripe',
      externalId: subscription.id,
      ordering: input.ordering,
      idempotencyId: input.idempotencyId,
      actor,
      requestId: input.requestId,
      desired: state.desired,
      alsoInTransaction: input.record,
      dryRun: input.dryRun,
    });
    if (result.outcome === 'stale') {
      const stale = `older than the last change applied to ${subscription.id}`;
      return { ...base, outcome: 'stale', detail: reported === null ? stale : `${stale}; ${reported}` };
    }
    return { ...base, outcome: result.outcome, detail: reported };
  }

  /**
   * Tells the customer of a failed payment (`payment.failed`, which becomes their notice), once
   * per Stripe event whatever came of the subscription it names: an `invoice.payment_failed` is
   * news even when it is stale for the subscription or there is no API key to fetch it. The
   * customer is the one the event was applied to, else the one paying as the invoice's Stripe
   * customer. Claimed by a conditional update, so repeated deliveries (each calls this, which
   * also mends an announcement a failure lost) and several nodes announce it once.
   */
  async function announcePaymentFailure(event: StripeEventEnvelope, customerId: string | null): Promise<void> {
    if (event.type !== 'invoice.payment_failed') return;
    await withTransaction(db, async (tx) => {
      const stripeCustomer = stripeCustomerOf(event.object);
      const customer =
        customerId ??
        (stripeCustomer === undefined ? undefined : (await findCustomerByStripeCustomer(tx, stripeCustomer))?.id);
      if (customer === undefined) return;
      const now = clock.now();
      const claimed = await tx
        .updateTable('stripe_events')
        .set({ announced_at: now })
        .where('event_id', '=', event.id)
        .where('announced_at', 'is', null)
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) === 0) return;
      const subscription = await findCurrentSubscription(tx, customer);
      await emitDomainEvents(
        tx,
        [
          {
            type: 'payment.failed',
            customerId: customer,
            subscriptionId: subscription?.id ?? null,
            occurredAt: event.created,
            data: {
              customer,
              subscription: subscription ? toApiSubscription(subscription, now) : null,
              ...failedInvoice(event.object),
              stripe_event: event.id,
            },
          },
        ],
        now,
      );
    });
  }

  /** Applies a stored event and records its outcome; throws `StripeEventFailed` (recorded) when it failed. */
  async function apply(event: StripeEventEnvelope, requestId?: string): Promise<EventResult> {
    let verdict: Verdict;
    let subscriptionId: string | null = null;
    try {
      const subject = await subjectOf(event);
      if (!('ignored' in subject)) subscriptionId = subject.id;
      verdict =
        'ignored' in subject
          ? { outcome: 'ignored', detail: subject.ignored, subscription: null, customer: null }
          : await applySubscription({
              subscription: subject,
              ordering: event.created,
              idempotencyId: event.id,
              requestId,
              record: (tx, subscription) =>
                recordOutcome(tx, {
                  eventId: event.id,
                  outcome: 'applied',
                  detail: null,
                  subscription: subject.id,
                  customer: subscription.customerId,
                  appliedAt: clock.now(),
                }),
            });
    } catch (error) {
      if (error instanceof DomainError && error.kind !== 'unavailable') {
        // The event asks what cannot be done as the catalog or the customer stands (a plan not
        // on sale, a customer whose live subscription is a contract's). Stripe's retries would
        // not mend it and would get the endpoint disabled; the operator mends it, then replays.
        verdict = {
          outcome: 'ignored',
          detail: `${error.message} Once that is mended: keymaster stripe replay ${event.id}`,
          subscription: subscriptionId,
          customer: null,
        };
      } else {
        // Anything else (the database, Stripe's API) may pass: logged, recorded without its internals, retried.
        const detail = error instanceof DomainError ? error.message : 'an unexpected error (see the server log)';
        if (!(error instanceof DomainError))
          deps.logger.error({ err: error, event: event.id }, 'applying a Stripe event failed');
        await recordOutcome(db, { eventId: event.id, outcome: 'failed', detail, subscription: null, customer: null });
        throw new StripeEventFailed(event.id, detail);
      }
    }
    if (verdict.outcome === 'applied') {
      // Recorded with the change; only the reported items are left to add.
      if (verdict.detail !== null) {
        await db
          .updateTable('stripe_events')
          .set({ detail: verdict.detail })
          .where('event_id', '=', event.id)
          .execute();
      }
    } else {
      await recordOutcome(db, { eventId: event.id, ...verdict });
    }
    await announcePaymentFailure(event, verdict.customer);
    return { event: event.id, outcome: verdict.outcome, detail: verdict.detail };
  }

  return {
    /**
     * A verified delivery: stored as received before anything else, then applied unless an
     * earlier delivery of the same event settled it (then `duplicate`, and nothing changes).
     */
    async receive(input: { event: unknown; payload: string; requestId?: string }): Promise<EventResult> {
      const event = readEnvelope(input.event);
      if ('reason' in event)
        throw invalid([{ path: '/', message: event.reason }], `Not a Stripe event: ${event.reason}.`);
      const { stored, row } = await storeReceived(db, {
        id: event.id,
        type: event.type,
        created: event.created,
        payload: input.payload,
        stripeCustomer: stripeCustomerOf(event.object),
        receivedAt: clock.now(),
      });
      // Received but not settled: being applied by another delivery (the seam applies it once),
      // or it failed before (Stripe's retry is how it gets applied).
      if (!stored && isSettled(row)) {
        await announcePaymentFailure(event, row.customer_id);
        return { event: event.id, outcome: 'duplicate', detail: null };
      }
      return apply(event, input.requestId);
    },

    /** Applies a stored event again (`keymaster stripe replay`): a failed one, or one ignored before its plan had a product. */
    async replay(eventId: string): Promise<EventResult> {
      const row = await findStripeEvent(db, eventId);
      if (!row) throw notFound(ErrorCodes.notFound, `No Stripe event ${eventId} was received.`);
      const event = readEnvelope(JSON.parse(row.payload));
      if ('reason' in event) throw invalid([{ path: '/', message: event.reason }]);
      // Reopen it, so that what it comes to now is recorded.
      await db
        .updateTable('stripe_events')
        .set({ outcome: 'received', detail: null })
        .where('event_id', '=', eventId)
        .where('outcome', '!=', 'applied')
        .execute();
      if (row.outcome === 'applied') return { event: eventId, outcome: 'duplicate', detail: 'applied before' };
      return apply(event);
    },

    /**
     * Reconciles every Stripe subscription with Keymaster (`keymaster stripe sync`): each is applied
     * as Stripe has it now, ordered by now, so that no event older than the sync moves it back.
     */
    async *sync(input: { dryRun: boolean }): AsyncGenerator<{ subscription: string } & Omit<Verdict, 'subscription'>> {
      if (api === undefined) throw new Error('keymaster stripe sync needs KEYMASTER_STRIPE_API_KEY');
      const now = clock.now();
      for await (const object of api.subscriptions()) {
        const subscription = readSubscription(object);
        if ('reason' in subscription) {
          const id = (object as { id?: unknown }).id;
          yield { subscription: String(id), outcome: 'ignored', detail: subscription.reason, customer: null };
          continue;
        }
        const verdict = await applySubscription({
          subscription,
          ordering: now,
          idempotencyId: `sync:${subscription.id}:${now}`,
          dryRun: input.dryRun,
        });
        yield { ...verdict, subscription: subscription.id };
      }
    },

    async list(page: { before: string | undefined; limit: number }): Promise<StripeEventRow[]> {
      return listStripeEvents(db, page);
    },
  };
}
