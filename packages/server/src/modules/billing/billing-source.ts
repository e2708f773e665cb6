import type { Db } from '../../db/database.js';
import type { EffectClaim } from '../../db/transaction.js';
import type { SubscriptionRecord } from '../subscriptions/convert.js';

/**
 * The seam between the systems that sell (Stripe's subscriptions, signed contracts from a CRM,
 * later Paddle or Chargebee) and Keymaster's subscriptions. An adapter turns what its system says
 * into the state one subscription should have now, and `BillingSource.apply` makes it so: in one
 * transaction, at most once per change, never moving a subscription back to an older state, and
 * writing the subscription's history (and the audit trail) with the integration as the actor.
 *
 * A subscription belongs to the source that created it (`source` on the subscription): a change
 * from one source never touches a subscription of another.
 */
export interface DesiredSubscription {
  /** The Keymaster customer. It must exist unless `customerIfMissing` says how to create it. */
  customer: string;
  /** Creates the customer in the same transaction when it does not exist (Stripe: named by its Stripe id). */
  customerIfMissing?: { name: string } | undefined;
  /**
   * The customer's id in the billing system (Stripe's `cus_…`): recorded as the customer's
   * `stripe_customer` when the customer is created or has none yet (never replacing another).
   */
  stripeCustomer?: string | undefined;
  /** The base plan's key: its latest published version on creation or a change of plan. */
  plan: string;
  /** Add-on plans and their quantities (replacing the current ones). */
  addOns: readonly { plan: string; quantity: number }[];
  /** The status it has now in the billing system, in Keymaster's terms. */
  status: 'trialing' | 'active' | 'past_due' | 'paused' | 'canceled' | 'expired';
  /** The current billing period as the billing system counts it; undefined: Keymaster counts from `startsAt`. */
  period?: { start: number; end: number } | undefined;
  /** When the subscription starts (creation only; now when undefined). */
  startsAt?: number | undefined;
  trialEnd: number | null;
  /** A scheduled cancellation (Stripe's `cancel_at_period_end` or `cancel_at`); null: none. */
  cancelAt: number | null;
  /** When a contract's term ends, and what happens then; null: it does not end by itself. */
  endsAt: number | null;
  onEndsAt: 'expire' | 'renew';
}

/** One change from a billing system. */
export interface BillingChange {
  /** The source (`stripe`, `contract`): the subscription's `source`. */
  source: string;
  /** The subscription's id in that system: Stripe's `sub_…`, a contract's `<system>:<deal_id>`. */
  externalId: string;
  /**
   * Orders the changes of one external subscription (Stripe: the event's `created`; a contract:
   * its revision). A change whose token is lower than the last applied one is `stale` and changes
   * nothing; an equal one applies.
   */
  ordering: number;
  /** Names this change (Stripe: the event id; a contract: `<system>:<deal_id>:<revision>`): applied once. */
  idempotencyId: string;
  /** Who made it, for the history and the audit trail: `integration:stripe`, `integration:contract`. */
  actor: string;
  /** The API request that delivered it (a webhook, `POST /v1/contracts`), for the audit trail. */
  requestId?: string | null | undefined;
  desired: DesiredSubscription;
  /**
   * More work in the same transaction once the subscription is in place (a contract's grants):
   * `before` is the subscription before the change, null when it was created.
   */
  alsoInTransaction?:
    | ((tx: Db, subscription: SubscriptionRecord, before: SubscriptionRecord | null) => Promise<void>)
    | undefined;
  /** Work out the result and write nothing (`?dry_run=true`). */
  dryRun?: boolean | undefined;
  /** The claim of a request sent with an `Idempotency-Key`: it commits with the change (see `EffectClaim`). */
  claim?: EffectClaim | undefined;
}

/** What applying a change did. */
export type BillingOutcome =
  | { outcome: 'applied'; before: SubscriptionRecord | null; subscription: SubscriptionRecord }
  /** The same `idempotencyId` was applied before: nothing changed. */
  | { outcome: 'duplicate'; subscription: SubscriptionRecord | null }
  /** Older than the last change applied to this external subscription: nothing changed. */
  | { outcome: 'stale'; subscription: SubscriptionRecord | null; lastOrdering: number };

export interface BillingSource {
  apply(change: BillingChange): Promise<BillingOutcome>;
}
