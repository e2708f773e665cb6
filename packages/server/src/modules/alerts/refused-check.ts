import { alertPeriod, type Catalog, type CustomerEntitlements, countedAs, type Entitlement } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import { fireAlerts, limitFired, rememberFired } from './fire.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

/** What a check refused for the limit tells the alerts: the customer's entitlement and the usage it was decided on. */
export interface LimitRefusal {
  catalog: Catalog;
  resolved: CustomerEntitlements;
  entitlement: Entitlement;
  customer: string;
  usage: number;
  now: number;
}

/**
 * `usage.limit_reached` for a check refused for the limit: a read-only check writes nothing
 * else, so the firing is its own small transaction (the insert-if-absent of `fireAlerts`, once
 * per customer, feature and period on any number of nodes). Once this node has seen it fired, a
 * refusal costs a set lookup: a customer at the wall checking again and again writes nothing
 * more. A failure is logged and the check still answers: an alert is never worth an outage.
 */
export function createRefusedCheckAlerts(deps: { db: Db; logger: Logger }) {
  return (input: LimitRefusal): Promise<void> | undefined => {
    const { customer, now } = input;
    const { counter, span } = countedAs({ ...input, upgrades: false });
    if (span === null) return undefined;
    const period = alertPeriod({ entitlement: counter, now });
    if (limitFired({ customerId: customer, feature: span.feature, periodStart: period.start })) return undefined;
    const seen: string[] = [];
    return withTransaction(deps.db, (tx) =>
      fireAlerts(tx, {
        watches: [
          {
            customerId: customer,
            feature: span.feature,
            usage: input.usage,
            limit: counter.limit,
            period,
            windowed: counter.window !== null,
            // Only the limit: thresholds are about usage, which a check does not move.
            rules: [],
            refused: true,
          },
        ],
        now,
        seen,
      }),
    ).then(
      () => rememberFired(seen),
      (error: unknown) =>
        deps.logger.warn({ err: error, customer }, 'firing usage.limit_reached for a refused check failed'),
    );
  };
}

export type RefusedCheckAlerts = ReturnType<typeof createRefusedCheckAlerts>;
