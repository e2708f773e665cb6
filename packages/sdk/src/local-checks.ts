import type { CacheSync } from './cache-sync.js';
import { answer, missingSlot } from './cached-customer.js';
import { type Decision, fallbackDecision } from './decision.js';
import type { ResolvedOptions } from './options.js';
import type { SnapshotStore } from './snapshot-store.js';

/**
 * Checks decided in process from the cached snapshots: the hot path, which allocates nothing
 * for a cached customer. A customer not cached starts a load and gets the failure policy.
 */
export class LocalChecks {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly store: SnapshotStore,
    private readonly sync: CacheSync,
  ) {}

  /** See `Keymaster.check`. */
  check(customer: string, feature: string, quantity: number): Decision {
    const now = this.options.clock.now();
    const entry = this.store.cache.get(customer);
    if (entry === undefined) return this.miss(customer, feature, now);
    entry.referenced = true;
    if ((entry.dirty || now >= entry.expiresAt) && this.store.mayAutoLoad(now)) this.store.loadQuietly(customer);
    const slot =
      entry.slots.get(feature) ?? missingSlot({ customer: entry, feature, knownFeatures: this.store.knownFeatures });
    const confirmed = this.sync.live ? now : Math.max(entry.fetchedAt, this.sync.liveUntil);
    return answer(slot, quantity, now - confirmed > this.options.staleAfterMs);
  }

  /** See `Keymaster.checkAsync`. */
  async checkAsync(customer: string, feature: string, quantity: number): Promise<Decision> {
    if (!this.store.cache.has(customer)) await this.store.load(customer).catch(() => undefined);
    return this.check(customer, feature, quantity);
  }

  private miss(customer: string, feature: string, now: number): Decision {
    if (!this.sync.stopped && this.store.mayAutoLoad(now)) this.store.loadQuietly(customer);
    const loading = this.store.isLoading(customer) && this.store.reachable;
    return fallbackDecision({
      customer,
      feature,
      reason: loading ? 'loading' : 'unavailable',
      policy: this.options.failurePolicy,
    });
  }
}
