import { type Catalog, type CustomerEntitlements, resolve } from '@keymaster/core';
import { LRUCache } from 'lru-cache';
import type { ChangeListener } from '../changes/change-feed.js';
import type { StoredCustomerState } from './store.js';

/** One customer's cached state and, lazily, its resolution against the current catalog. */
export interface CustomerEntry {
  /** null: the customer does not exist (cached too, so unknown ids cost no round trip). */
  readonly state: StoredCustomerState | null;
  resolved: CustomerEntitlements | null;
  resolvedWith: number;
  /**
   * Usage read so far, by feature and period (see core's usage-span.ts). A counter write is announced
   * on the change feed as a `usage` change, which swaps in an empty map: the customer's state and
   * resolution stay, and the next check re-reads only the counter it needs. A read that was in
   * flight at the swap lands in the map it started from, never in the new one, so a cached
   * figure is never older than the last write this node has heard of.
   */
  usage: Map<string, number>;
}

interface Loading<T> {
  promise: Promise<T>;
  stale: boolean;
}

/**
 * The in-memory snapshots that `check` answers from. Customer state and the catalog are loaded
 * once and dropped when the change feed reports a write to them; resolution is redone without
 * touching the database when the catalog changes or time passes a boundary (a grant expires).
 *
 * A load that was in flight when its data changed is not cached: its answer may predate the
 * write, and the next caller must not be handed it.
 */
export class SnapshotCache implements ChangeListener {
  private catalog: Catalog | undefined;
  private catalogVersion = 0;
  private catalogLoading: Loading<Catalog> | undefined;
  /**
   * Past its capacity, the customer least recently asked for goes. Plain gets and sets only (no
   * ttl, no size): every check reads this map, and freshness comes from the change feed. The
   * cache sets aside its index for `capacity` entries at once (under 30 bytes each).
   */
  private readonly customers: LRUCache<string, CustomerEntry>;
  /**
   * Ids that name no customer, kept apart and few: a caller sending many made-up ids (a typo in a
   * loop, or an attack) must not push real customers out of `customers` nor grow memory past this.
   */
  private readonly unknown: LRUCache<string, CustomerEntry>;
  private readonly loading = new Map<string, Loading<CustomerEntry>>();
  private keysChanged: (() => void) | undefined;

  constructor(
    private readonly deps: {
      loadCatalog: () => Promise<Catalog>;
      loadCustomer: (customerId: string) => Promise<StoredCustomerState | null>;
      capacity: number;
      /** How many unknown ids to remember; default the smaller of `capacity` and 10,000. */
      unknownCapacity?: number;
      onMiss?: () => void;
    },
  ) {
    this.customers = new LRUCache({ max: deps.capacity });
    this.unknown = new LRUCache({ max: deps.unknownCapacity ?? Math.min(deps.capacity, 10_000) });
  }

  /** Registers who else cares about the feed (the API key registry). */
  onApiKeysChanged(listener: () => void): void {
    this.keysChanged = listener;
  }

  /** Customers held (unknown ids not counted: see `unknownSize`). */
  get size(): number {
    return this.customers.size;
  }

  /** Ids remembered as naming no customer. */
  get unknownSize(): number {
    return this.unknown.size;
  }

  getCatalog(): Catalog | Promise<Catalog> {
    if (this.catalog) return this.catalog;
    if (this.catalogLoading) return this.catalogLoading.promise;
    const loading: Loading<Catalog> = {
      stale: false,
      promise: this.deps.loadCatalog().then(
        (catalog) => {
          if (this.catalogLoading === loading) this.catalogLoading = undefined;
          if (!loading.stale) this.catalog = catalog;
          return catalog;
        },
        (error: unknown) => {
          if (this.catalogLoading === loading) this.catalogLoading = undefined;
          throw error;
        },
      ),
    };
    this.catalogLoading = loading;
    return loading.promise;
  }

  getCustomer(customerId: string): CustomerEntry | Promise<CustomerEntry> {
    const cached = this.customers.get(customerId) ?? this.unknown.get(customerId);
    if (cached) return cached;
    const inFlight = this.loading.get(customerId);
    if (inFlight) return inFlight.promise;
    this.deps.onMiss?.();
    const loading: Loading<CustomerEntry> = {
      stale: false,
      promise: this.deps.loadCustomer(customerId).then(
        (state) => {
          if (this.loading.get(customerId) === loading) this.loading.delete(customerId);
          const entry: CustomerEntry = { state, resolved: null, resolvedWith: -1, usage: new Map() };
          if (!loading.stale) this.remember(customerId, entry);
          return entry;
        },
        (error: unknown) => {
          if (this.loading.get(customerId) === loading) this.loading.delete(customerId);
          throw error;
        },
      ),
    };
    this.loading.set(customerId, loading);
    return loading.promise;
  }

  /** The entry's resolution at `now`, recomputed (in memory) only when it may have changed. */
  entitlements(input: { entry: CustomerEntry; catalog: Catalog; now: number }): CustomerEntitlements | null {
    const { entry, catalog, now } = input;
    if (!entry.state) return null;
    const version = catalog === this.catalog ? this.catalogVersion : -2;
    if (entry.resolved && entry.resolvedWith === version && now < entry.resolved.validUntil) return entry.resolved;
    const resolved = resolve({ catalog, state: entry.state, now });
    if (version >= 0) {
      entry.resolved = resolved;
      entry.resolvedWith = version;
    }
    return resolved;
  }

  catalogChanged(): void {
    this.catalog = undefined;
    this.catalogVersion++;
    if (this.catalogLoading) this.catalogLoading.stale = true;
    this.catalogLoading = undefined;
  }

  customerChanged(customerId: string): void {
    this.customers.delete(customerId);
    this.unknown.delete(customerId);
    const inFlight = this.loading.get(customerId);
    if (inFlight) {
      inFlight.stale = true;
      this.loading.delete(customerId);
    }
  }

  usageChanged(customerId: string): void {
    // A write is not a read: it leaves the customer's place in the eviction order alone.
    const cached = this.customers.peek(customerId);
    if (cached) cached.usage = new Map();
  }

  apiKeysChanged(): void {
    this.keysChanged?.();
  }

  reset(): void {
    this.catalogChanged();
    this.customers.clear();
    this.unknown.clear();
    for (const loading of this.loading.values()) loading.stale = true;
    this.loading.clear();
    this.keysChanged?.();
  }

  private remember(customerId: string, entry: CustomerEntry): void {
    (entry.state === null ? this.unknown : this.customers).set(customerId, entry);
  }
}
