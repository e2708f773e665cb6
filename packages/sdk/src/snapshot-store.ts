import type { CustomerEntitlements } from '@keymaster/contract';
import { type CachedCustomer, compileSnapshot, unknownCustomer } from './cached-customer.js';
import { CustomerCache } from './customer-cache.js';
import { KeymasterError } from './errors.js';
import { backoffMs, type HttpSettings, requestJson } from './http.js';
import type { Clock } from './options.js';

/** Refetches in the background run at most this many at a time. */
const refreshConcurrency = 4;

/**
 * The cache and everything that fills it: loads (shared between concurrent callers), refreshes
 * after a change or an expiry, and the bookkeeping of whether the server is reachable. It never
 * throws into the caller of `check`; failures only mark the server unreachable.
 */
export class SnapshotStore {
  readonly cache: CustomerCache;
  /** Loads in flight, by customer: concurrent callers share one. */
  private readonly inflight = new Map<string, Promise<void>>();
  /** Features of the catalog as the latest snapshot listed them (see missingSlot). */
  knownFeatures: ReadonlySet<string> | null = null;
  /** False since a request failed with no answer or a 5xx, until one succeeds. */
  reachable = true;
  /** Loads triggered by `check` wait until then after a failure (backoff), so a failing server is not hammered. */
  private retryAt = 0;
  private failures = 0;
  private readonly queue = new Set<string>();
  private running = 0;
  private readonly abort = new AbortController();

  constructor(
    private readonly deps: {
      http: HttpSettings;
      clock: Clock;
      cacheSize: number;
      onChange: (customer: string | null) => void;
      onFirstLoad: (customer: string) => void;
    },
  ) {
    this.cache = new CustomerCache(deps.cacheSize);
  }

  /** Whether a load started by a cache miss may go now. */
  mayAutoLoad(now: number): boolean {
    return now >= this.retryAt;
  }

  isLoading(customer: string): boolean {
    return this.inflight.has(customer);
  }

  /** Fetches the customer's snapshot, or joins the fetch already out. Rejects with KeymasterError. */
  load(customer: string): Promise<void> {
    const pending = this.inflight.get(customer);
    if (pending) return pending;
    this.deps.onFirstLoad(customer);
    const promise = this.fetchSnapshot(customer).finally(() => this.inflight.delete(customer));
    this.inflight.set(customer, promise);
    return promise;
  }

  /** A load whose failure is only recorded: for check misses, expiries and pushes. */
  loadQuietly(customer: string): void {
    if (this.abort.signal.aborted || this.inflight.has(customer)) return;
    this.load(customer).catch(() => undefined);
  }

  /** Queues every cached customer for a refetch (a catalog change, a reset, a poll). */
  refreshAll(input: { markDirty: boolean }): void {
    for (const entry of this.cache.values()) {
      if (input.markDirty) entry.dirty = true;
      this.queue.add(entry.id);
    }
    this.drain();
  }

  /** Applies a snapshot unless one computed later is already cached. */
  apply(snapshot: CustomerEntitlements, input: { evenIfUncached: boolean }): void {
    const current = this.cache.get(snapshot.customer);
    if (!current && !input.evenIfUncached && !this.inflight.has(snapshot.customer)) return;
    if (current && Date.parse(current.asOf) > Date.parse(snapshot.computed_at)) return;
    const now = this.deps.clock.now();
    const compiled = compileSnapshot({ snapshot, receivedAt: now });
    // A snapshot that is already past its expiry (clock skew) must not refetch on every check.
    compiled.expiresAt = Math.max(compiled.expiresAt, now + 1000);
    this.cache.set(compiled);
    if (snapshot.entitlements.length > 0) this.knownFeatures = new Set(compiled.slots.keys());
    this.deps.onChange(snapshot.customer);
  }

  /** A failed request: back off; `unreachable` when no answer (or a 5xx) came. */
  markFailure(input: { unreachable: boolean }): void {
    if (input.unreachable) this.reachable = false;
    this.retryAt = this.deps.clock.now() + backoffMs({ attempt: this.failures++, baseMs: 500, capMs: 30_000 });
  }

  markReachable(): void {
    this.reachable = true;
    this.failures = 0;
    this.retryAt = 0;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** Aborts every request out and waits for them to settle. */
  async close(): Promise<void> {
    this.queue.clear();
    this.abort.abort();
    await Promise.allSettled([...this.inflight.values()]);
  }

  private async fetchSnapshot(customer: string): Promise<void> {
    try {
      const snapshot = await requestJson<CustomerEntitlements>(this.deps.http, {
        method: 'GET',
        path: `/v1/customers/${encodeURIComponent(customer)}/entitlements`,
        signal: this.abort.signal,
      });
      this.markReachable();
      this.apply(snapshot, { evenIfUncached: true });
    } catch (error) {
      if (error instanceof KeymasterError && error.status === 404) {
        this.markReachable();
        const now = this.deps.clock.now();
        this.cache.set(unknownCustomer({ id: customer, receivedAt: now, asOf: new Date(now).toISOString() }));
        this.deps.onChange(customer);
        return;
      }
      this.markFailure({ unreachable: !(error instanceof KeymasterError) || error.retryable });
      const entry: CachedCustomer | undefined = this.cache.get(customer);
      // Keep answering from what is cached; try again at the next check after the backoff.
      if (entry) entry.expiresAt = Math.min(entry.expiresAt, this.retryAt);
      throw error;
    }
  }

  private drain(): void {
    while (this.running < refreshConcurrency && this.queue.size > 0 && !this.abort.signal.aborted) {
      const next = this.queue.values().next().value as string;
      this.queue.delete(next);
      this.running++;
      this.load(next)
        .catch(() => {
          // One failure means the server is down: stop the sweep; the next poll tries again.
          if (!this.reachable) this.queue.clear();
        })
        .finally(() => {
          this.running--;
          this.drain();
        });
    }
  }
}
