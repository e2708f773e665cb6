import { buildCatalog, type Catalog, type CustomerState } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import type { CustomerRecord } from '../customers/convert.js';
import { findCustomer } from '../customers/store.js';
import { listAllFeatures } from '../features/store.js';
import { listCurrentGrants, listGrantsGivenBy } from '../grants/store.js';
import { listNonDraftPlanVersions } from '../plans/store.js';
import { findCurrentSubscription, findSubscriptionAt } from '../subscriptions/store.js';
import { SnapshotCache } from './snapshot-cache.js';

/** Everything resolution needs about the catalog, in one read. */
export async function loadCatalog(db: Db, input: { fallbackPlan?: string | undefined } = {}): Promise<Catalog> {
  const [features, planVersions] = await Promise.all([listAllFeatures(db), listNonDraftPlanVersions(db)]);
  return buildCatalog({ features, planVersions, fallbackPlan: input.fallbackPlan ?? null });
}

/** Everything resolution needs about one customer, or null when Keymaster does not know them. */
/** A customer's state as stored: the customer record keeps its creation time. */
export interface StoredCustomerState extends CustomerState {
  customer: CustomerRecord;
}

export async function loadCustomerState(
  db: Db,
  input: { customerId: string; now: number },
): Promise<StoredCustomerState | null> {
  const customer = await findCustomer(db, input.customerId);
  if (!customer) return null;
  const [subscription, grants] = await Promise.all([
    findCurrentSubscription(db, input.customerId),
    listCurrentGrants(db, input),
  ]);
  return { customer, subscription: subscription ?? null, grants };
}

/**
 * The customer as they stood at a past instant: their subscription rebuilt from its history and
 * the grants they had been given by then. The customer record and traits are today's (they keep
 * no history), and so is the catalog; plan versions are immutable once published.
 */
export async function loadCustomerStateAt(
  db: Db,
  input: { customerId: string; at: number },
): Promise<CustomerState | null> {
  const customer = await findCustomer(db, input.customerId);
  if (!customer) return null;
  const [subscription, grants] = await Promise.all([findSubscriptionAt(db, input), listGrantsGivenBy(db, input)]);
  return { customer, subscription: subscription ?? null, grants };
}

/** A snapshot cache that loads the catalog and customers from this database, as of `clock`. */
export function storedSnapshotCache(input: {
  db: Db;
  clock: Clock;
  fallbackPlan: string | undefined;
  capacity: number;
  onMiss?: () => void;
}): SnapshotCache {
  const { db, clock } = input;
  return new SnapshotCache({
    loadCatalog: () => loadCatalog(db, { fallbackPlan: input.fallbackPlan }),
    loadCustomer: (customerId) => loadCustomerState(db, { customerId, now: clock.now() }),
    capacity: input.capacity,
    ...(input.onMiss ? { onMiss: input.onMiss } : {}),
  });
}
