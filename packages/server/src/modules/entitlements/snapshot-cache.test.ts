import { buildCatalog, type Catalog } from '@keymaster/core';
import { describe, expect, it } from 'vitest';
import { SnapshotCache } from './snapshot-cache.js';
import type { StoredCustomerState } from './store.js';

/** A loader whose answers the test releases by hand, to interleave loads with invalidations. */
function controlledLoader<T>() {
  const pending: { resolve: (value: T) => void }[] = [];
  let calls = 0;
  return {
    load: () => {
      calls++;
      return new Promise<T>((resolve) => pending.push({ resolve }));
    },
    release: (value: T) => pending.shift()?.resolve(value),
    get calls() {
      return calls;
    },
  };
}

const state = (name: string): StoredCustomerState => ({
  customer: { id: 'acme', name, email: null, traits: {}, stripeCustomer: null, createdAt: 0, updatedAt: 0 },
  subscription: null,
  grants: [],
});
const catalog: Catalog = buildCatalog({ features: [], planVersions: [] });

function cacheWith(customers: ReturnType<typeof controlledLoader<StoredCustomerState | null>>) {
  return new SnapshotCache({ loadCatalog: async () => catalog, loadCustomer: customers.load, capacity: 2 });
}

describe('SnapshotCache', () => {
  it('keeps unknown ids apart: a flood of them never evicts a customer', async () => {
    const cache = new SnapshotCache({
      loadCatalog: async () => catalog,
      loadCustomer: async (id) => (id.startsWith('real') ? { ...state(id) } : null),
      capacity: 2,
      unknownCapacity: 3,
    });
    await cache.getCustomer('real-1');
    await cache.getCustomer('real-2');
    for (let n = 0; n < 50; n++) expect((await cache.getCustomer(`made-up-${n}`)).state).toBeNull();
    expect(cache.size).toBe(2);
    expect(cache.unknownSize).toBe(3);
    // Both customers still answer from memory; the latest unknown ids do too.
    expect(cache.getCustomer('real-1')).not.toBeInstanceOf(Promise);
    expect(cache.getCustomer('real-2')).not.toBeInstanceOf(Promise);
    expect(cache.getCustomer('made-up-49')).not.toBeInstanceOf(Promise);
    expect(cache.getCustomer('made-up-0')).toBeInstanceOf(Promise);
  });

  it('forgets an unknown id once a customer is created with it', async () => {
    const existing = new Set<string>();
    const cache = new SnapshotCache({
      loadCatalog: async () => catalog,
      loadCustomer: async (id) => (existing.has(id) ? state(id) : null),
      capacity: 10,
    });
    expect((await cache.getCustomer('acme')).state).toBeNull();
    existing.add('acme');
    cache.customerChanged('acme');
    expect((await cache.getCustomer('acme')).state?.customer.name).toBe('acme');
    expect(cache.unknownSize).toBe(0);
  });

  it('loads a customer once for concurrent callers and then answers from memory', async () => {
    const customers = controlledLoader<StoredCustomerState | null>();
    const cache = cacheWith(customers);
    const first = cache.getCustomer('acme');
    const second = cache.getCustomer('acme');
    customers.release(state('v1'));
    expect((await first).state?.customer.name).toBe('v1');
    expect((await second).state?.customer.name).toBe('v1');
    const cached = cache.getCustomer('acme');
    expect(cached).not.toBeInstanceOf(Promise);
    expect(customers.calls).toBe(1);
  });

  it('does not keep a load that was in flight when the customer changed', async () => {
    const customers = controlledLoader<StoredCustomerState | null>();
    const cache = cacheWith(customers);
    const stale = cache.getCustomer('acme');
    cache.customerChanged('acme'); // a write committed while the read was running
    const fresh = cache.getCustomer('acme'); // must not join the stale read
    expect(customers.calls).toBe(2);
    customers.release(state('before the write'));
    customers.release(state('after the write'));
    expect((await stale).state?.customer.name).toBe('before the write');
    expect((await fresh).state?.customer.name).toBe('after the write');
    const cached = cache.getCustomer('acme') as Awaited<typeof fresh>;
    expect(cached.state?.customer.name).toBe('after the write');
  });

  it('caches unknown customers too, until one is created', async () => {
    const customers = controlledLoader<StoredCustomerState | null>();
    const cache = cacheWith(customers);
    const unknown = cache.getCustomer('ghost');
    customers.release(null);
    expect((await unknown).state).toBeNull();
    expect(cache.getCustomer('ghost')).not.toBeInstanceOf(Promise);
    cache.customerChanged('ghost');
    expect(cache.getCustomer('ghost')).toBeInstanceOf(Promise);
  });

  it('re-resolves in memory when the catalog changes, without reloading the customer', async () => {
    const customers = controlledLoader<StoredCustomerState | null>();
    let catalogLoads = 0;
    const cache = new SnapshotCache({
      loadCatalog: async () => {
        catalogLoads++;
        return buildCatalog({ features: [], planVersions: [] });
      },
      loadCustomer: customers.load,
      capacity: 10,
    });
    const loading = cache.getCustomer('acme');
    customers.release(state('v1'));
    const entry = await loading;
    const first = cache.entitlements({ entry, catalog: await cache.getCatalog(), now: 0 });
    cache.catalogChanged();
    const second = cache.entitlements({ entry, catalog: await cache.getCatalog(), now: 0 });
    expect(second).not.toBe(first);
    expect(catalogLoads).toBe(2);
    expect(customers.calls).toBe(1);
  });

  it('drops only the balances on a usage change, keeping the customer and its resolution', async () => {
    const customers = controlledLoader<StoredCustomerState | null>();
    const cache = cacheWith(customers);
    const loading = cache.getCustomer('acme');
    customers.release(state('v1'));
    const entry = await loading;
    const resolved = cache.entitlements({ entry, catalog: await cache.getCatalog(), now: 0 });
    const before = entry.usage;
    before.set('calls', 5);
    cache.usageChanged('acme');
    cache.usageChanged('not-cached'); // nothing to drop
    const after = cache.getCustomer('acme');
    expect(after).toBe(entry);
    expect(entry.usage).not.toBe(before); // a read still out lands in the old map, not this one
    expect(entry.usage.size).toBe(0);
    expect(cache.entitlements({ entry, catalog: await cache.getCatalog(), now: 0 })).toBe(resolved);
    expect(customers.calls).toBe(1);
  });

  it('evicts the customer least recently asked for beyond its capacity: one read since stays', async () => {
    const customers = controlledLoader<StoredCustomerState | null>();
    const cache = cacheWith(customers);
    const load = async (id: string) => {
      const loading = cache.getCustomer(id);
      customers.release(state(id));
      await loading;
    };
    await load('a');
    await load('b');
    expect(cache.getCustomer('a')).not.toBeInstanceOf(Promise); // read after b: b is now the oldest
    await load('c');
    expect(cache.size).toBe(2);
    expect(cache.getCustomer('a')).not.toBeInstanceOf(Promise);
    expect(cache.getCustomer('c')).not.toBeInstanceOf(Promise);
    expect(cache.getCustomer('b')).toBeInstanceOf(Promise);
  });

  it('does not count a usage change as a read when choosing whom to evict', async () => {
    const customers = controlledLoader<StoredCustomerState | null>();
    const cache = cacheWith(customers);
    for (const id of ['a', 'b']) {
      const loading = cache.getCustomer(id);
      customers.release(state(id));
      await loading;
    }
    cache.usageChanged('a');
    const loading = cache.getCustomer('c');
    customers.release(state('c'));
    await loading;
    expect(cache.getCustomer('b')).not.toBeInstanceOf(Promise);
    expect(cache.getCustomer('a')).toBeInstanceOf(Promise);
  });

  it('evicts the unknown id least recently asked for, apart from customers', async () => {
    const cache = new SnapshotCache({
      loadCatalog: async () => catalog,
      loadCustomer: async () => null,
      capacity: 10,
      unknownCapacity: 2,
    });
    await cache.getCustomer('ghost-1');
    await cache.getCustomer('ghost-2');
    expect(cache.getCustomer('ghost-1')).not.toBeInstanceOf(Promise);
    await cache.getCustomer('ghost-3');
    expect(cache.unknownSize).toBe(2);
    expect(cache.getCustomer('ghost-1')).not.toBeInstanceOf(Promise);
    expect(cache.getCustomer('ghost-2')).toBeInstanceOf(Promise);
  });
});
