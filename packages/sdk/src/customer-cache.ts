import type { CachedCustomer } from './cached-customer.js';

/**
 * A bounded map of cached customers with CLOCK eviction, an approximation of LRU that costs a
 * check nothing but setting `referenced`: eviction walks from the oldest insertion, gives every
 * referenced entry a second chance (moved to the back, bit cleared) and evicts the first that was
 * not used since the last pass. A true LRU would reorder the map on every check.
 */
export class CustomerCache {
  private readonly map = new Map<string, CachedCustomer>();

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.map.size;
  }

  get(id: string): CachedCustomer | undefined {
    return this.map.get(id);
  }

  has(id: string): boolean {
    return this.map.has(id);
  }

  /** Stores (or replaces) a customer; evicts others to stay within capacity. */
  set(customer: CachedCustomer): void {
    const previous = this.map.get(customer.id);
    if (previous !== undefined) {
      customer.referenced = previous.referenced;
      this.map.set(customer.id, customer);
      return;
    }
    this.map.set(customer.id, customer);
    while (this.map.size > this.capacity) this.evictOne();
  }

  delete(id: string): void {
    this.map.delete(id);
  }

  clear(): void {
    this.map.clear();
  }

  values(): IterableIterator<CachedCustomer> {
    return this.map.values();
  }

  ids(): string[] {
    return [...this.map.keys()];
  }

  private evictOne(): void {
    // Terminates: each pass clears bits, so within two passes an unreferenced entry comes up.
    for (;;) {
      const oldest = this.map.values().next();
      if (oldest.done) return;
      const entry = oldest.value;
      this.map.delete(entry.id);
      if (!entry.referenced) return;
      entry.referenced = false;
      this.map.set(entry.id, entry);
    }
  }
}
