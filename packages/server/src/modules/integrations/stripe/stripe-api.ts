import Stripe from 'stripe';

/**
 * What Keymaster asks Stripe's API: a subscription's current state, and every subscription (for
 * `keymaster stripe sync`). Objects come back as `unknown`: the mapping reads them as it reads a
 * webhook's (see subscription-state.ts), whatever API version the account is on.
 */
export interface StripeApi {
  /** The subscription as Stripe has it now; undefined when Stripe does not know it. */
  subscription(id: string): Promise<unknown | undefined>;
  /** Every subscription of the account, whatever its status. */
  subscriptions(): AsyncIterable<unknown>;
  /**
   * A Checkout session that subscribes a customer to a product's default price (the customer
   * portal's way to a paid plan): its URL. The subscription it makes names the Keymaster customer
   * in its metadata, so its webhook provisions access as any other.
   */
  checkout(input: {
    product: string;
    customer: string;
    stripeCustomer: string | null;
    successUrl: string;
    cancelUrl: string;
  }): Promise<string>;
  /** A session of Stripe's billing portal for a Stripe customer (change plan, seats, payment, cancel): its URL. */
  billingPortal(input: { stripeCustomer: string; returnUrl: string }): Promise<string>;
}

/** A product sold on Stripe that has no default price to subscribe to. */
export class NoDefaultPrice extends Error {}

/** Stripe's API through the official client, at `base` (https://api.stripe.com, or a local fake in tests). */
export function stripeApi(input: { apiKey: string; base: URL }): StripeApi {
  const { base } = input;
  const stripe = new Stripe(input.apiKey, {
    host: base.hostname,
    port: base.port || (base.protocol === 'http:' ? 80 : 443),
    protocol: base.protocol === 'http:' ? 'http' : 'https',
    // A webhook delivery waits for this answer; Stripe itself gives up on a delivery after about 20 s.
    timeout: 10_000,
    maxNetworkRetries: 1,
    appInfo: { name: 'keymaster' },
  });
  return {
    async subscription(id) {
      try {
        return await stripe.subscriptions.retrieve(id);
      } catch (error) {
        if (error instanceof Stripe.errors.StripeError && error.statusCode === 404) return undefined;
        throw error;
      }
    },
    subscriptions() {
      return stripe.subscriptions.list({ status: 'all', limit: 100 });
    },
    async checkout(input) {
      const product = await stripe.products.retrieve(input.product);
      const price = typeof product.default_price === 'string' ? product.default_price : product.default_price?.id;
      if (!price) throw new NoDefaultPrice(`Stripe product ${input.product} has no default price.`);
      const metadata = { keymaster_customer: input.customer };
      const session = await stripe.checkout.sessions.create({
        mode: 'subscription',
        line_items: [{ price, quantity: 1 }],
        success_url: input.successUrl,
        cancel_url: input.cancelUrl,
        client_reference_id: input.customer,
        ...(input.stripeCustomer ? { customer: input.stripeCustomer } : {}),
        metadata,
        subscription_data: { metadata },
      });
      return session.url!;
    },
    async billingPortal(input) {
      const session = await stripe.billingPortal.sessions.create({
        customer: input.stripeCustomer,
        return_url: input.returnUrl,
      });
      return session.url;
    },
  };
}
