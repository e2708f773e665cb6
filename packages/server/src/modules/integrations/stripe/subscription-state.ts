import type { DesiredSubscription } from '../../billing/billing-source.js';

/**
 * From a Stripe subscription object to the state its Keymaster subscription should have: pure,
 * with what it needs of the database (which product is which plan, which customer pays as the
 * Stripe customer) loaded and handed in. Stripe's objects are read field by field from `unknown`:
 * a delivery can hold any shape (an API version Keymaster was not written against, a hand-made
 * test event), and every shape it cannot use becomes a reason, never an exception.
 */

/** Every status a Stripe subscription can have, and what it means in Keymaster. */
export const stripeStatuses = {
  trialing: 'trialing',
  active: 'active',
  // Stripe is still retrying the payment: access continues, within Keymaster's past-due grace.
  past_due: 'past_due',
  // The first payment has not gone through yet (it may): no access until it does.
  incomplete: 'paused',
  // Retries are exhausted but the subscription is not canceled: paying the invoice reopens it.
  unpaid: 'paused',
  paused: 'paused',
  // The first payment never went through within 23 hours: the subscription is over.
  incomplete_expired: 'expired',
  canceled: 'canceled',
} as const satisfies Record<string, DesiredSubscription['status']>;
export type StripeStatus = keyof typeof stripeStatuses;

/** The plans products are sold as (`stripe_product` on a plan), by product id. */
export type ProductPlans = ReadonlyMap<string, { plan: string; kind: 'base' | 'addon' }>;

/** A customer id Keymaster accepts (the contract's `CustomerId`). */
const customerKey = /^[^\s/]{1,255}$/;

/** A Stripe subscription, reduced to what the mapping reads. */
export interface StripeSubscription {
  id: string;
  /** The Stripe customer id. */
  customer: string;
  /** The customer's name, when the customer was expanded in the object. */
  customerName: string | undefined;
  status: StripeStatus;
  /** `metadata.keymaster_customer`: names the Keymaster customer outright. */
  keymasterCustomer: string | undefined;
  items: { id: string; product: string | undefined; quantity: number; period: Period | undefined }[];
  /** The subscription's own period: where API versions before 2025-03-31 put it. */
  period: Period | undefined;
  startDate: number | undefined;
  trialEnd: number | null;
  cancelAt: number | null;
  cancelAtPeriodEnd: boolean;
}

type Period = { start: number; end: number };
type Fields = Record<string, unknown>;

const isFields = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
/** A Stripe timestamp (seconds) as epoch ms, or undefined when it is not one. */
const seconds = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value * 1000 : undefined;
/** An expandable field: the id, whether Stripe sent the id or the object. */
const idOf = (value: unknown): string | undefined => text(value) ?? (isFields(value) ? text(value.id) : undefined);

function periodOf(fields: Fields): Period | undefined {
  const start = seconds(fields.current_period_start);
  const end = seconds(fields.current_period_end);
  return start !== undefined && end !== undefined && end > start ? { start, end } : undefined;
}

/** Reads a subscription object, or says what about it cannot be used. */
export function readSubscription(object: unknown): StripeSubscription | { reason: string } {
  if (!isFields(object) || object.object !== 'subscription') return { reason: 'the object is not a subscription' };
  const id = text(object.id);
  if (id === undefined) return { reason: 'the subscription has no id' };
  const customer = idOf(object.customer);
  if (customer === undefined) return { reason: `subscription ${id} names no customer` };
  const status = object.status;
  if (typeof status !== 'string' || !Object.hasOwn(stripeStatuses, status))
    return { reason: `subscription ${id} has an unknown status ${JSON.stringify(status)}` };
  const list = isFields(object.items) ? object.items.data : undefined;
  if (!Array.isArray(list)) return { reason: `subscription ${id} has no items` };
  const items: StripeSubscription['items'] = [];
  for (const [index, item] of list.entries()) {
    if (!isFields(item)) return { reason: `item ${index} of subscription ${id} is not an object` };
    const quantity = item.quantity ?? 1;
    if (typeof quantity !== 'number' || !Number.isSafeInteger(quantity) || quantity < 0)
      return { reason: `item ${index} of subscription ${id} has a quantity that is not a whole number` };
    const product =
      (isFields(item.price) ? idOf(item.price.product) : undefined) ??
      (isFields(item.plan) ? idOf(item.plan.product) : undefined);
    items.push({ id: text(item.id) ?? `#${index}`, product, quantity, period: periodOf(item) });
  }
  const metadata = isFields(object.metadata) ? object.metadata : {};
  return {
    id,
    customer,
    customerName: isFields(object.customer) ? text(object.customer.name) : undefined,
    status: status as StripeStatus,
    keymasterCustomer: text(metadata.keymaster_customer),
    items,
    period: periodOf(object),
    startDate: seconds(object.start_date),
    trialEnd: seconds(object.trial_end) ?? null,
    cancelAt: seconds(object.cancel_at) ?? null,
    cancelAtPeriodEnd: object.cancel_at_period_end === true,
  };
}

/** The desired state, and what was left out of it (items of unknown products), or why there is none. */
export type SubscriptionState =
  | { desired: DesiredSubscription; reported: string[] }
  | { reason: string; reported: string[] };

/**
 * The state a Stripe subscription gives its Keymaster subscription. `matchedCustomer` is the
 * customer whose `stripe_customer` is the subscription's customer, if one is.
 */
export function subscriptionState(input: {
  subscription: StripeSubscription;
  products: ProductPlans;
  matchedCustomer: string | undefined;
}): SubscriptionState {
  const { subscription: s, products } = input;
  const reported: string[] = [];
  let base: { plan: string; item: StripeSubscription['items'][number] } | undefined;
  const addOns = new Map<string, number>();
  for (const item of s.items) {
    const mapped = item.product === undefined ? undefined : products.get(item.product);
    if (mapped === undefined) {
      reported.push(
        item.product === undefined
          ? `item ${item.id} names no product: ignored`
          : `item ${item.id}: product ${item.product} is no plan's stripe_product: ignored`,
      );
    } else if (mapped.kind === 'addon') {
      if (item.quantity > 0) addOns.set(mapped.plan, (addOns.get(mapped.plan) ?? 0) + item.quantity);
    } else if (base === undefined) {
      base = { plan: mapped.plan, item };
    } else {
      reported.push(`item ${item.id}: a second base plan (${mapped.plan}) beside ${base.plan}: ignored`);
    }
  }
  if (base === undefined) {
    return { reason: `subscription ${s.id} has no item whose product is a base plan's stripe_product`, reported };
  }
  const customer = customerOf({ subscription: s, matchedCustomer: input.matchedCustomer });
  if ('reason' in customer) return { reason: customer.reason, reported };
  // Newer API versions keep the period on each item; the base plan's item is the plan's period.
  const period = base.item.period ?? s.period;
  return {
    desired: {
      ...customer,
      plan: base.plan,
      addOns: [...addOns].map(([plan, quantity]) => ({ plan, quantity })),
      status: stripeStatuses[s.status],
      period,
      startsAt: s.startDate,
      trialEnd: s.trialEnd,
      // `cancel_at_period_end` ends it with the current period; `cancel_at` at a date of its own.
      cancelAt: s.cancelAtPeriodEnd ? (period?.end ?? s.cancelAt) : s.cancelAt,
      endsAt: null,
      // Stripe renews it; Keymaster follows.
      onEndsAt: 'renew',
    },
    reported,
  };
}

/**
 * The Keymaster customer of a Stripe subscription: the one its metadata names, else the one that
 * pays as its Stripe customer, else a new one named by the Stripe customer id.
 */
function customerOf(input: {
  subscription: StripeSubscription;
  matchedCustomer: string | undefined;
}): Pick<DesiredSubscription, 'customer' | 'customerIfMissing' | 'stripeCustomer'> | { reason: string } {
  const { subscription: s } = input;
  const named = s.keymasterCustomer ?? input.matchedCustomer ?? s.customer;
  if (!customerKey.test(named)) {
    return { reason: `the customer id ${JSON.stringify(named.slice(0, 300))} is not a valid Keymaster customer id` };
  }
  if (s.keymasterCustomer === undefined && input.matchedCustomer !== undefined) return { customer: named };
  // Named by metadata, or new: either way it pays as this Stripe customer from now on.
  return { customer: named, customerIfMissing: { name: s.customerName ?? s.customer }, stripeCustomer: s.customer };
}
