import { isGrantActive, resolve, rolloverCarries, usageSpan } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { newId } from '../../ids.js';
import { readUsage } from '../counters/store.js';
import { findCustomer } from '../customers/store.js';
import type { CatalogSource } from '../entitlements/around.js';
import type { SubscriptionRecord } from '../subscriptions/convert.js';
import { insertGrant, listCurrentGrants } from './store.js';

/** Runs in the renewal's own transaction, once per renewal: what the period that ended leaves behind. */
export type RenewalHook = (
  tx: Db,
  input: { before: SubscriptionRecord; after: SubscriptionRecord; at: number; now: number },
) => Promise<void>;

/**
 * Rollover: at a renewal, each `add` grant with a `rolloverCap` carries what is left of its units
 * in the period that ended into the next one, as a one-off `credit` grant of at most the cap that
 * expires at the next period's end (see `rolloverCarries` for who pays for usage first). It is
 * written in the renewal's transaction, so a renewal and its carry-over happen exactly once.
 */
export function createRollover(deps: { catalog: CatalogSource }): RenewalHook {
  return async (tx, { before, after, at, now }) => {
    const ended = at - 1;
    const customerId = before.customerId;
    const grants = await listCurrentGrants(tx, { customerId, now: ended });
    const active = grants.filter((g) => g.mode === 'add' && isGrantActive(g, ended));
    const rolling = active.filter((g) => g.rolloverCap !== null && g.rolloverCap > 0);
    if (rolling.length === 0) return;
    const customer = await findCustomer(tx, customerId);
    if (!customer) return;
    const catalog = await deps.catalog(tx);
    const resolved = resolve({ catalog, state: { customer, subscription: before, grants }, now: ended });
    for (const feature of new Set(rolling.map((g) => g.feature))) {
      const entitlement = resolved.entitlements.get(feature);
      if (!entitlement?.enabled) continue;
      const span = usageSpan({ catalog, entitlement, now: ended });
      if (!span) continue;
      const usage = await readUsage(tx, { customerId, ...span });
      const addGrants = active.filter((g) => g.feature === feature);
      for (const { grant, carry } of rolloverCarries({ limit: entitlement.limit, usage, addGrants })) {
        await insertGrant(tx, {
          id: newId('grt'),
          customerId,
          feature,
          mode: 'credit',
          enabled: undefined,
          limit: carry,
          value: undefined,
          startsAt: at,
          expiresAt: after.currentPeriodEnd,
          reason: `rollover of ${grant.id} (${grant.reason})`,
          createdAt: now,
          revokedAt: null,
          remaining: carry,
          rolloverCap: null,
        });
      }
    }
  };
}
