import { alertPeriod, applicableRules, countedAs, resolve } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { readUsage } from '../counters/store.js';
import type { CatalogSource } from '../entitlements/around.js';
import { loadCatalog, loadCustomerState } from '../entitlements/store.js';
import { fireAlerts, mayFire } from './fire.js';
import { loadAllAlertRules } from './store.js';

/**
 * The alerts a change of a customer's allowance fires, in the change's transaction: a grant
 * revoked or a lower override leaves the usage where it was and moves the limit under it, so a
 * rule can be met (or the balance reach 0) without a unit used. Read after the change, in its
 * transaction; each alert still fires once per period (`fireAlerts`). Answers the firings found
 * already there, for `rememberFired` once the transaction has committed.
 */
export async function fireAfterAllowanceChange(
  tx: Db,
  input: { customerId: string; feature: string; now: number; catalog?: CatalogSource | undefined },
): Promise<string[]> {
  const { customerId, now } = input;
  const seen: string[] = [];
  const [catalog, state] = await Promise.all([
    input.catalog ? input.catalog(tx) : loadCatalog(tx),
    loadCustomerState(tx, { customerId, now }),
  ]);
  if (!state || !catalog.features.has(input.feature)) return seen;
  const resolved = resolve({ catalog, state, now });
  const entitlement = resolved.entitlements.get(input.feature);
  if (entitlement?.type !== 'metered' || !entitlement.enabled) return seen;
  const { counter, span } = countedAs({ catalog, resolved, entitlement, customer: customerId, now, upgrades: false });
  if (span === null || !counter.enabled) return seen;
  const rules = applicableRules({
    rules: (await loadAllAlertRules(tx)).filter((rule) => rule.feature === span.feature),
    customer: customerId,
    plan: resolved.planKey,
  });
  const usage = await readUsage(tx, { customerId, ...span });
  const limit = counter.limit;
  if (!mayFire({ rules, usage, limit, refused: false })) return seen;
  await fireAlerts(tx, {
    watches: [
      {
        customerId,
        feature: span.feature,
        usage,
        limit,
        period: alertPeriod({ entitlement: counter, now }),
        windowed: counter.window !== null,
        rules,
        refused: false,
        credited: limit !== null && counter.credits > 0,
      },
    ],
    now,
    seen,
  });
  return seen;
}
