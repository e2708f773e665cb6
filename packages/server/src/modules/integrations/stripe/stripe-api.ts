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
}

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
  };
}
