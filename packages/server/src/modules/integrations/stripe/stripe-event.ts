/**
 * What a Stripe event is about: pure, from the event as delivered (`unknown` past its envelope,
 * since any shape can arrive). Only the event types below change a subscription; every other
 * type is recorded as ignored.
 */

/** The event types that change a Keymaster subscription. */
export const handledEventTypes = [
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.trial_will_end',
  'checkout.session.completed',
  'invoice.paid',
  'invoice.payment_failed',
] as const;

/** The envelope of a Stripe event: what is stored for every delivery, whatever it holds. */
export interface StripeEventEnvelope {
  id: string;
  type: string;
  /** `created`, in epoch ms. */
  created: number;
  object: unknown;
}

/** What an event is about. */
export type EventSubject =
  /** A subscription: its id, and the object itself when the event carries it. */
  { subscription: string; object: unknown } | { ignored: string };

type Fields = Record<string, unknown>;
const isFields = (value: unknown): value is Fields =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** The envelope of a parsed event, or what is wrong with it. */
export function readEnvelope(event: unknown): StripeEventEnvelope | { reason: string } {
  if (!isFields(event)) return { reason: 'the event is not a JSON object' };
  const id = text(event.id);
  const type = text(event.type);
  const created = event.created;
  if (id === undefined || id.length > 255) return { reason: 'the event has no id' };
  if (type === undefined || type.length > 255) return { reason: 'the event has no type' };
  if (typeof created !== 'number' || !Number.isSafeInteger(created) || created < 0)
    return { reason: 'the event has no created time' };
  return { id, type, created: created * 1000, object: isFields(event.data) ? event.data.object : undefined };
}

/**
 * The Stripe customer (`cus_…`) an event's object belongs to: its `customer` (an id, or the object
 * when expanded), or the object itself when it is a customer. Stored beside the event, so that
 * erasing the Keymaster customer who pays as it also erases the events about them.
 */
export function stripeCustomerOf(object: unknown): string | undefined {
  if (!isFields(object)) return undefined;
  if (object.object === 'customer') return text(object.id);
  const customer = object.customer;
  return text(customer) ?? (isFields(customer) ? text(customer.id) : undefined);
}

/** What a failed invoice says to the customer who owes it (`payment.failed`'s `data`). */
export interface FailedInvoice {
  invoice: string | null;
  amount_due: number | null;
  currency: string | null;
  attempt_count: number | null;
  /** When Stripe tries again (ISO), null when it will not. */
  next_payment_attempt: string | null;
  /** Where the customer can pay it. */
  hosted_invoice_url: string | null;
}

/** The parts of an invoice a `payment.failed` notice tells, each null when absent or malformed. */
export function failedInvoice(object: unknown): FailedInvoice {
  const invoice = isFields(object) ? object : {};
  const count = (value: unknown) =>
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
  const next = count(invoice.next_payment_attempt);
  const url = text(invoice.hosted_invoice_url);
  return {
    invoice: text(invoice.id) ?? null,
    amount_due: count(invoice.amount_due),
    currency: text(invoice.currency)?.slice(0, 10) ?? null,
    attempt_count: count(invoice.attempt_count),
    next_payment_attempt: next === null ? null : new Date(next * 1000).toISOString(),
    hosted_invoice_url: url?.startsWith('https://') && url.length <= 2048 ? url : null,
  };
}

/** A subscription field: Stripe sends the id, or the object when it was expanded. */
function subscriptionField(value: unknown): EventSubject | undefined {
  if (text(value) !== undefined) return { subscription: value as string, object: undefined };
  if (isFields(value) && text(value.id) !== undefined) return { subscription: value.id as string, object: value };
  return undefined;
}

export function eventSubject(event: StripeEventEnvelope): EventSubject {
  if (!(handledEventTypes as readonly string[]).includes(event.type)) {
    return { ignored: `${event.type} events do not change subscriptions` };
  }
  const object = event.object;
  if (!isFields(object)) return { ignored: 'the event carries no object' };
  if (event.type.startsWith('customer.subscription.')) {
    const id = text(object.id);
    return id === undefined ? { ignored: 'the subscription has no id' } : { subscription: id, object };
  }
  if (event.type === 'checkout.session.completed') {
    if (object.mode !== 'subscription') return { ignored: `a checkout session in ${String(object.mode)} mode` };
    return subscriptionField(object.subscription) ?? { ignored: 'the checkout session names no subscription' };
  }
  // An invoice: API versions from 2025-03-31 name its subscription under `parent`, older ones at the top.
  const parent = isFields(object.parent) ? object.parent.subscription_details : undefined;
  return (
    subscriptionField(isFields(parent) ? parent.subscription : undefined) ??
    subscriptionField(object.subscription) ?? { ignored: 'the invoice is not for a subscription' }
  );
}
