import { historyHour } from '@keymaster/core';
import type { Db, Dialect } from '../../db/database.js';
import { lockUsage } from '../../db/dialect-sql.js';
import type { UsageSpan } from '../entitlements/usage-lookup.js';
import { historyMode, recordHistory } from './history-store.js';
import { addWithinLimit, readUsage } from './store.js';

/**
 * Puts granted units in the usage history, in the hour they were granted: added, or — for a
 * `max` or `latest` meter, whose history holds readings — the counter's level after the units.
 */
async function recordGranted(input: {
  tx: Db;
  customerId: string;
  span: UsageSpan;
  periodStart: number;
  quantity: number;
  counter: number;
  now: number;
}): Promise<void> {
  const mode = historyMode(input.span.aggregation);
  const change = {
    customerId: input.customerId,
    feature: input.span.feature,
    periodStart: input.periodStart,
    bucketStart: historyHour(input.now),
    mode,
    amount: mode === 'add' ? input.quantity : input.counter,
    observedAt: input.now,
  };
  await recordHistory(input.tx, { changes: [change], now: input.now });
}

/**
 * Records `quantity` units against a limit (null: none) if they fit, and answers whether they
 * were granted, the usage after (or as it stands, when refused) and the counter they went to.
 * Consumes and reservations both grant through here, so both share one rule: the database
 * decides, with one conditional upsert — or, for a rolling window whose usage spans several
 * counters, under a lock on the (customer, feature) held for the transaction. Granted units go
 * to the usage history in the same transaction.
 */
export async function grantUnits(input: {
  tx: Db;
  dialect: Dialect;
  customerId: string;
  span: UsageSpan;
  quantity: number;
  limit: number | null;
  windowed: boolean;
  now: number;
}): Promise<{ granted: boolean; usage: number; periodStart: number }> {
  const { tx, customerId, span, quantity, limit, now } = input;
  if (input.windowed) {
    await lockUsage({ db: tx, dialect: input.dialect, key: `${customerId}/${span.feature}` });
    const used = await readUsage(tx, { customerId, ...span });
    if (limit !== null && used + quantity > limit) return { granted: false, usage: used, periodStart: span.to };
    const counter = await addWithinLimit(tx, {
      customerId,
      feature: span.feature,
      periodStart: span.to,
      quantity,
      limit: null,
      now,
    });
    await recordGranted({ tx, customerId, span, periodStart: span.to, quantity, counter: counter ?? quantity, now });
    return { granted: true, usage: used + quantity, periodStart: span.to };
  }
  const value = await addWithinLimit(tx, {
    customerId,
    feature: span.feature,
    periodStart: span.from,
    quantity,
    limit,
    now,
  });
  if (value !== null) {
    await recordGranted({ tx, customerId, span, periodStart: span.from, quantity, counter: value, now });
    return { granted: true, usage: value, periodStart: span.from };
  }
  return { granted: false, usage: await readUsage(tx, { customerId, ...span }), periodStart: span.from };
}
