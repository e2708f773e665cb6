import type {
  PortalAddOn,
  PortalAddOnRequest,
  PortalChangePreview,
  PortalChangeRequest,
  PortalFeature,
  PortalView,
} from '@keymaster/contract';
import {
  type Catalog,
  type CustomerState,
  conflict,
  ErrorCodes,
  invalid,
  isQuantityType,
  monthlyPrice,
  notFound,
  type PlanVersion,
  planRelation,
  previewPlanChange,
  type Subscription,
  standingSubscription,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import { toIso } from '../../json-column.js';
import { toApiEntitlements } from '../entitlements/convert.js';
import type { EntitlementService } from '../entitlements/service.js';
import { NoDefaultPrice, type StripeApi } from '../integrations/stripe/stripe-api.js';
import { toApiNotification } from '../notifications/convert.js';
import type { NotificationService } from '../notifications/service.js';
import { toApiSubscription } from '../subscriptions/convert.js';
import type { SubscriptionService } from '../subscriptions/service.js';
import type { PortalGrant } from './tokens.js';

export type PortalService = ReturnType<typeof createPortalService>;

/** How many notifications the portal shows. */
const notificationsShown = 20;

/**
 * What a customer may see and do in the portal, always about the customer of their portal grant:
 * no method takes a customer from the request. Changes go through the subscription service like
 * any API call, with `portal:<customer>` as the actor in history and the audit trail.
 */
export function createPortalService(deps: {
  clock: Clock;
  catalog: () => Catalog | Promise<Catalog>;
  customerState: (customerId: string) => Promise<CustomerState | null>;
  entitlements: EntitlementService;
  notifications: NotificationService;
  subscriptions: SubscriptionService;
  /** Stripe's API (KEYMASTER_STRIPE_API_KEY): paid plans are then bought through Stripe Checkout. */
  stripe: StripeApi | undefined;
  /** The Stripe product a plan's latest published version is sold as, if any. */
  stripeProductOf: (planKey: string) => Promise<string | null>;
  /** The customer's Stripe customer id, if Stripe knows them. */
  stripeCustomerOf: (customerId: string) => Promise<string | null>;
}) {
  const { clock, subscriptions } = deps;

  /** How the customer's plan changes are made (see PortalView.billing). */
  async function billingOf(catalog: Catalog, standing: Subscription | null): Promise<PortalView['billing']> {
    if (standing?.source === 'contract') return 'contract';
    if (standing?.source === 'stripe') return 'stripe';
    if (standing || !deps.stripe) return 'keymaster';
    for (const plan of catalog.latestPublished.values()) {
      if (plan.kind === 'base' && (await deps.stripeProductOf(plan.key)) !== null) return 'stripe';
    }
    return 'keymaster';
  }

  /** A change made in the portal itself: refused for a subscription Stripe bills or a contract set. */
  function ownChange(standing: Subscription | null): void {
    if (standing?.source === 'stripe') {
      throw conflict(
        ErrorCodes.subscriptionSourceMismatch,
        "This subscription is billed by Stripe: change it in Stripe's billing portal (POST /v1/portal/billing-portal).",
      );
    }
    if (standing?.source === 'contract') {
      throw conflict(
        ErrorCodes.subscriptionSourceMismatch,
        'This subscription is set by a signed contract: ask your account manager to change it.',
      );
    }
  }
  const actorOf = (grant: PortalGrant) => `portal:${grant.customer}`;

  async function stateOf(grant: PortalGrant): Promise<CustomerState> {
    const state = await deps.customerState(grant.customer);
    if (!state) throw notFound(ErrorCodes.customerNotFound, 'This customer no longer exists.');
    return state;
  }

  function featuresOf(catalog: Catalog, plan: PlanVersion): PortalFeature[] {
    return plan.entitlements
      .filter((terms) => terms.enabled && catalog.features.has(terms.feature))
      .map((terms) => {
        const feature = catalog.features.get(terms.feature)!;
        const counted = isQuantityType(feature.type);
        return {
          feature: feature.key,
          name: feature.name,
          type: feature.type,
          limit: counted ? terms.limit : null,
          unlimited: counted && terms.limit === null,
          reset: counted ? (terms.reset ?? null) : null,
          window: terms.window,
        };
      });
  }

  /** The latest published version of a plan of the given kind, or a 4xx naming `/plan`. */
  function published(catalog: Catalog, key: string, kind: PlanVersion['kind']): PlanVersion {
    const plan = catalog.latestPublished.get(key);
    if (!plan)
      throw notFound(ErrorCodes.planNotFound, `There is no plan "${key}" on sale.`, [
        { path: '/plan', message: 'is not a published plan' },
      ]);
    if (plan.kind !== kind) {
      throw invalid([
        { path: '/plan', message: kind === 'base' ? 'is an add-on, not a plan' : 'is a plan, not an add-on' },
      ]);
    }
    return plan;
  }

  /** The customer's standing subscription, or a 404 saying there is none to change. */
  function standingOf(state: CustomerState, now: number) {
    const standing = standingSubscription(state.subscription, now);
    if (!standing) throw notFound(ErrorCodes.subscriptionNotFound, 'You have no subscription: choose a plan first.');
    return standing;
  }

  return {
    async view(grant: PortalGrant): Promise<PortalView> {
      const [catalog, state] = await Promise.all([deps.catalog(), stateOf(grant)]);
      const now = clock.now();
      const standing = standingSubscription(state.subscription, now);
      const current = standing ? catalog.planVersion(standing.planKey, standing.planVersion) : undefined;
      const onSale = [...catalog.latestPublished.values()].sort(
        (a, b) => monthlyPrice(a.price) - monthlyPrice(b.price) || a.key.localeCompare(b.key),
      );
      const plans = onSale
        .filter((plan) => plan.kind === 'base')
        .map((plan) => ({
          key: plan.key,
          name: plan.name,
          description: plan.description,
          price: plan.price,
          features: featuresOf(catalog, plan),
          relation: planRelation({ current, plan }),
        }));
      const addOns: PortalAddOn[] = onSale
        .filter((plan) => plan.kind === 'addon')
        .map((plan) => ({
          key: plan.key,
          name: plan.name,
          description: plan.description,
          price: plan.price,
          features: featuresOf(catalog, plan),
          quantity: standing?.addOns.find((a) => a.planKey === plan.key)?.quantity ?? 0,
        }));
      const { resolved, decisions } = await deps.entitlements.snapshot(grant.customer);
      const notifications = await deps.notifications.list({
        customer: grant.customer,
        unread: false,
        before: undefined,
        limit: notificationsShown,
      });
      return {
        customer: { id: state.customer.id, name: state.customer.name },
        subscription: state.subscription
          ? toApiSubscription(await subscriptions.get(state.subscription.id), now)
          : null,
        plans,
        add_ons: addOns,
        entitlements: toApiEntitlements({ resolved, now, decisionOf: (feature) => decisions.get(feature)! })
          .entitlements,
        notifications: notifications.map(toApiNotification),
        return_url: grant.returnUrl,
        billing: await billingOf(catalog, standing),
      };
    },

    async preview(grant: PortalGrant, body: PortalChangeRequest): Promise<PortalChangePreview> {
      const [catalog, state] = await Promise.all([deps.catalog(), stateOf(grant)]);
      const now = clock.now();
      const target = published(catalog, body.plan, 'base');
      const preview = previewPlanChange({ catalog, state, target, when: body.when, now });
      const { decisions } = await deps.entitlements.snapshot(grant.customer);
      const overLimit: PortalChangePreview['over_limit'] = [];
      for (const terms of target.entitlements) {
        if (!terms.enabled || terms.limit === null) continue;
        const feature = catalog.features.get(terms.feature);
        const used = decisions.get(terms.feature)?.usage ?? null;
        if (feature && isQuantityType(feature.type) && used !== null && used > terms.limit) {
          overLimit.push({ feature: terms.feature, usage: used, limit: terms.limit });
        }
      }
      return {
        plan: target.key,
        relation: preview.relation,
        when: preview.when,
        at: toIso(preview.at)!,
        price_now: preview.current?.price ?? null,
        price_after: target.price,
        gains: preview.changes.gained,
        losses: preview.changes.lost,
        changes: preview.changes.changed.map((c) => ({
          feature: c.feature,
          from: { enabled: c.before.enabled, limit: c.before.limit },
          to: { enabled: c.after.enabled, limit: c.after.limit },
        })),
        over_limit: overLimit,
      };
    },

    /** Moves the customer to the plan (subscribes them when they have no standing subscription). */
    async change(grant: PortalGrant, body: PortalChangeRequest) {
      const [catalog, state] = await Promise.all([deps.catalog(), stateOf(grant)]);
      const now = clock.now();
      published(catalog, body.plan, 'base');
      const standing = standingSubscription(state.subscription, now);
      ownChange(standing);
      if (!standing && (await billingOf(catalog, null)) === 'stripe') {
        throw conflict(
          ErrorCodes.subscriptionSourceMismatch,
          'Plans are bought through Stripe: POST /v1/portal/checkout.',
        );
      }
      const changed = standing
        ? await subscriptions.change({
            id: standing.id,
            body: { plan: body.plan, ...(body.when ? { when: body.when } : {}) },
            actor: actorOf(grant),
            claim: undefined,
          })
        : await subscriptions.create({ customerId: grant.customer, body: { plan: body.plan }, actor: actorOf(grant) });
      return toApiSubscription(changed, clock.now());
    },

    async setAddOn(grant: PortalGrant, body: PortalAddOnRequest) {
      const [catalog, state] = await Promise.all([deps.catalog(), stateOf(grant)]);
      published(catalog, body.plan, 'addon');
      const standing = standingOf(state, clock.now());
      ownChange(standing);
      const changed = await subscriptions.setAddOn({
        id: standing.id,
        body: { plan: body.plan, quantity: body.quantity },
        actor: actorOf(grant),
        claim: undefined,
      });
      return toApiSubscription(changed, clock.now());
    },

    /** Cancels at the end of the period already paid for (undoable until then). */
    async cancel(grant: PortalGrant) {
      const standing = standingOf(await stateOf(grant), clock.now());
      ownChange(standing);
      const changed = await subscriptions.cancel({
        id: standing.id,
        body: { when: 'period_end' },
        actor: actorOf(grant),
        claim: undefined,
      });
      return toApiSubscription(changed, clock.now());
    },

    async undoCancel(grant: PortalGrant) {
      const standing = standingOf(await stateOf(grant), clock.now());
      ownChange(standing);
      const changed = await subscriptions.undoCancel({
        id: standing.id,
        body: {},
        actor: actorOf(grant),
        claim: undefined,
      });
      return toApiSubscription(changed, clock.now());
    },

    /**
     * A Stripe Checkout session subscribing the customer to the plan (its Stripe product's default
     * price): the customer pays there, and access follows Stripe's webhook like any Stripe
     * subscription. `back` is where Stripe returns them (the portal).
     */
    async checkout(grant: PortalGrant, body: { plan: string }, back: string): Promise<{ url: string }> {
      const [catalog, state] = await Promise.all([deps.catalog(), stateOf(grant)]);
      published(catalog, body.plan, 'base');
      const standing = standingSubscription(state.subscription, clock.now());
      if (!deps.stripe)
        throw conflict(ErrorCodes.conflict, 'Stripe is not configured: change plans with POST /v1/portal/change.');
      if (standing) {
        ownChange(standing);
        throw conflict(
          ErrorCodes.subscriptionExists,
          'You have a subscription already: change it with POST /v1/portal/change.',
        );
      }
      const product = await deps.stripeProductOf(body.plan);
      if (product === null) {
        throw conflict(ErrorCodes.conflict, `Plan "${body.plan}" is not sold on Stripe.`, [
          { path: '/plan', message: 'is not sold on Stripe' },
        ]);
      }
      try {
        const url = await deps.stripe.checkout({
          product,
          customer: grant.customer,
          stripeCustomer: await deps.stripeCustomerOf(grant.customer),
          successUrl: back,
          cancelUrl: back,
        });
        return { url };
      } catch (error) {
        if (!(error instanceof NoDefaultPrice)) throw error;
        throw conflict(ErrorCodes.conflict, `${error.message} Set one in Stripe to sell this plan.`, [
          { path: '/plan', message: 'has no price on Stripe' },
        ]);
      }
    },

    /** A session of Stripe's billing portal, for a customer whose subscription Stripe bills. */
    async billingPortal(grant: PortalGrant, back: string): Promise<{ url: string }> {
      const state = await stateOf(grant);
      const standing = standingSubscription(state.subscription, clock.now());
      const stripeCustomer = await deps.stripeCustomerOf(grant.customer);
      if (!deps.stripe || standing?.source !== 'stripe' || stripeCustomer === null) {
        throw conflict(
          ErrorCodes.subscriptionSourceMismatch,
          'Your subscription is not billed by Stripe: change it here.',
        );
      }
      return { url: await deps.stripe.billingPortal({ stripeCustomer, returnUrl: back }) };
    },
  };
}
