import { type Decision, type FailurePolicy, fallbackDecision, type Keymaster } from '@keymaster/sdk';

/** How soon `stale` shows after the SDK starts deeming the customer's snapshot stale. */
const staleRecheckMs = 1000;

/**
 * What a provider hands its components: the client (null until the provider has made one), the
 * customer, and a subscription that fires whenever that customer's answers may have changed.
 * Hooks read decisions through `check`, which answers from the SDK's cache without a request.
 */
export class CustomerStore {
  private readonly listeners = new Set<() => void>();
  readonly client: Keymaster | null;
  readonly customer: string;
  private readonly failurePolicy: FailurePolicy;

  constructor(input: { client: Keymaster | null; customer: string; failurePolicy: FailurePolicy }) {
    this.client = input.client;
    this.customer = input.customer;
    this.failurePolicy = input.failurePolicy;
  }

  /** For useSyncExternalStore: a stable function, so subscribers are not churned every render. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /**
   * Follows the client's cache for this customer and starts loading it. Returns the detach.
   * The SDK announces loaded snapshots, stream pushes and consumes through `onChange`, but not a
   * failed first load: without the extra notification a component would show `loading` forever
   * instead of the failure policy's `unavailable` answer.
   */
  connect(): () => void {
    const { client, customer } = this;
    if (client === null) return () => undefined;
    const detach = client.onChange((changed) => {
      if (changed === null || changed === customer) this.notify();
    });
    client.load(customer).catch(() => this.notify());
    // Staleness comes with time, not with an event: re-read now and then. Components re-render
    // only when an answer actually changed (useEntitlement folds equal ones).
    const timer = setInterval(() => this.notify(), staleRecheckMs);
    return () => {
      clearInterval(timer);
      detach();
    };
  }

  check(feature: string, quantity: number): Decision {
    return this.client === null
      ? // Before the client exists (first render, server rendering): the SDK's `loading` answer.
        fallbackDecision({ customer: this.customer, feature, reason: 'loading', policy: this.failurePolicy })
      : this.client.check(this.customer, feature, quantity);
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
