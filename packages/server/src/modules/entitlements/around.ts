import {
  type Catalog,
  type CustomerState,
  type EntitlementChanges,
  entitlementChanges,
  entitlementTerms,
  resolve,
  type Terms,
} from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { findCustomer } from '../customers/store.js';
import { loadCatalog } from './store.js';

/**
 * Where a change reads the catalog, given the change's transaction: the node's cached one (with
 * the fallback plan) when it is loaded, else through that transaction — never through another
 * connection, which on SQLite would wait forever for the one the transaction holds.
 */
export type CatalogSource = (tx: Db) => Catalog | Promise<Catalog>;

/** The catalog source of a node: its cache's catalog when loaded, else read in the caller's transaction. */
export function cachedCatalogSource(input: {
  cached: () => Catalog | Promise<Catalog>;
  fallbackPlan: string | undefined;
}): CatalogSource {
  return (tx) => {
    const catalog = input.cached();
    return catalog instanceof Promise ? loadCatalog(tx, { fallbackPlan: input.fallbackPlan }) : catalog;
  };
}

/** What an `entitlements.updated` event tells of the change: each feature's terms before and after, and the difference. */
export interface EntitlementsAround extends EntitlementChanges {
  before: Record<string, Terms>;
  after: Record<string, Terms>;
}

/**
 * The customer's entitlements on either side of a change, in the change's transaction: the
 * customer as stored, with the subscription and grants each side had. Null when the customer is
 * gone (an erasure in the same transaction).
 */
export async function entitlementsAround(
  tx: Db,
  input: {
    customerId: string;
    at: number;
    catalog?: CatalogSource | undefined;
    before: Pick<CustomerState, 'subscription' | 'grants'>;
    after: Pick<CustomerState, 'subscription' | 'grants'>;
  },
): Promise<EntitlementsAround | null> {
  const [customer, catalog] = await Promise.all([
    findCustomer(tx, input.customerId),
    input.catalog ? input.catalog(tx) : loadCatalog(tx),
  ]);
  if (!customer) return null;
  const before = resolve({ catalog, state: { customer, ...input.before }, now: input.at });
  const after = resolve({ catalog, state: { customer, ...input.after }, now: input.at });
  return { before: entitlementTerms(before), after: entitlementTerms(after), ...entitlementChanges({ before, after }) };
}
