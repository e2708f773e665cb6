import { alertPeriod, type Catalog, type CustomerEntitlements, type UsageSpan } from '@keymaster/core';
import { mayFire, type UsageWatch } from '../alerts/fire.js';
import type { AlertRuleCache } from '../alerts/rule-cache.js';
import { type MeteredTarget, meteredTarget } from '../counters/metered-target.js';

/** A counter's watch once its usage is known: null when nothing can fire (see `mayFire`). */
export type WatchAt = (state: { usage: number; refused: boolean }) => UsageWatch | null;

/**
 * The alert checks of reservations, built before their transactions: on SQLite a transaction
 * holds the only connection, and the rules or the customer may need reading. Without rules (a
 * service built for a one-off command) both answer null and nothing fires.
 */
export function reservationAlerts(deps: {
  alerts: AlertRuleCache | undefined;
  snapshot: (customerId: string) => Promise<{ catalog: Catalog; resolved: CustomerEntitlements | null }>;
}) {
  /** The watch of a hold on the target's counter: a hold's units count as used, as a consume's. */
  async function hold(input: {
    resolved: CustomerEntitlements;
    customer: string;
    target: MeteredTarget;
    now: number;
  }): Promise<WatchAt | null> {
    if (!deps.alerts) return null;
    const { counted, span, allowance, credited } = input.target;
    const loaded = deps.alerts.get();
    const index = loaded instanceof Promise ? await loaded : loaded;
    const rules = deps.alerts.rulesFor(index, { resolved: input.resolved, feature: span.feature });
    return (state) =>
      mayFire({ rules, usage: state.usage, limit: allowance, refused: state.refused })
        ? {
            customerId: input.customer,
            feature: span.feature,
            usage: state.usage,
            limit: allowance,
            period: alertPeriod({ entitlement: counted.counter, now: input.now }),
            windowed: counted.counter.window !== null,
            rules,
            refused: state.refused,
            credited,
          }
        : null;
  }

  /**
   * The watch of a commit, and the span whose usage it reads in the commit's transaction after
   * the actual quantity went in (a commit past the hold may cross a threshold the hold did not).
   * Usage is read as it stands now: a hold committed after its period ended moves the old
   * period's counter, which fires nothing in the new one.
   */
  async function commit(input: {
    row: { customer_id: string; feature: string };
    now: number;
  }): Promise<{ watch: WatchAt; span: UsageSpan } | null> {
    if (!deps.alerts) return null;
    const customer = input.row.customer_id;
    const { catalog, resolved } = await deps.snapshot(customer);
    const gate = meteredTarget({
      catalog,
      resolved,
      customer,
      feature: input.row.feature,
      quantity: 0,
      now: input.now,
      verb: 'reserved',
    });
    if ('answer' in gate) return null;
    const watch = await hold({ resolved: resolved!, customer, target: gate.target, now: input.now });
    return watch && { watch, span: gate.target.span };
  }

  return { hold, commit };
}
