import type { UsageSpan } from '@keymaster/core';
import { creditsLeft, historyHour, settleCredits } from '@keymaster/core';
import type { Db, Dialect } from '../../db/database.js';
import { lockUsage } from '../../db/dialect-sql.js';
import { applyCreditDraws, loadCreditBalances } from './credit-store.js';
import { historyMode, recordHistory } from './history-store.js';
import { addWithinLimit, type HourChange, readUsage } from './store.js';

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
 * to the usage history of the counter they went to (a pool's, for a feature drawing from one) in
 * the same transaction; drawing one-off credits changes no counter, so no history.
 *
 * `credited` (the customer has one-off credit grants on this feature): the (customer, feature)
 * is locked, the grants' balances read, and the units fit when the period's allowance left plus
 * the credits cover them; what falls beyond `allowance` is then drawn from the grants in draw
 * order, in the same transaction. `credits` answers what the grants had before this request, as
 * read under the lock: the decision before it is made with them.
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
  /** The entitlement's allowance (null: unlimited); what passes it is paid by credit grants. */
  allowance?: number | null;
  credited?: boolean;
}): Promise<{ granted: boolean; usage: number; periodStart: number; credits?: number }> {
  const { tx, customerId, span, quantity, limit, now } = input;
  const allowance = input.allowance ?? null;
  const credited = input.credited === true && allowance !== null;
  if (input.windowed || credited) {
    await lockUsage({ db: tx, dialect: input.dialect, key: `${customerId}/${span.feature}` });
  }
  const balances = credited ? await loadCreditBalances(tx, { customerId, feature: span.feature, now }) : [];
  const credits = creditsLeft(balances);
  let before: number;
  let after: number;
  let periodStart: number;
  let counter: number | null;
  if (input.windowed) {
    before = await readUsage(tx, { customerId, ...span });
    const fits =
      limit === null || before + quantity <= limit || (credited && quantity <= Math.max(0, limit - before) + credits);
    if (!fits) return refused({ usage: before, periodStart: span.to, credited, credits });
    counter = await addWithinLimit(tx, {
      customerId,
      feature: span.feature,
      periodStart: span.to,
      quantity,
      limit: null,
      now,
    });
    after = before + quantity;
    periodStart = span.to;
  } else {
    const value = await addWithinLimit(tx, {
      customerId,
      feature: span.feature,
      periodStart: span.from,
      quantity,
      limit,
      credits,
      now,
    });
    if (value === null) {
      const usage = await readUsage(tx, { customerId, ...span });
      return refused({ usage, periodStart: span.from, credited, credits });
    }
    // The upsert is atomic, so the value before it is exactly the value after less what it added.
    counter = value;
    after = value;
    before = value - quantity;
    periodStart = span.from;
  }
  await recordGranted({ tx, customerId, span, periodStart, quantity, counter: counter ?? quantity, now });
  if (!credited) return { granted: true, usage: after, periodStart };
  const { draws } = settleCredits({ allowance, before, after, balances });
  await applyCreditDraws(tx, { draws, now });
  return { granted: true, usage: after, periodStart, credits };
}

function refused(input: { usage: number; periodStart: number; credited: boolean; credits: number }) {
  return input.credited
    ? { granted: false, usage: input.usage, periodStart: input.periodStart, credits: input.credits }
    : { granted: false, usage: input.usage, periodStart: input.periodStart };
}

/**
 * Records units that are not asked for but reported (usage events): added whatever the limit,
 * with what passes the period's `allowance` drawn from the customer's one-off credit grants, under
 * the same lock consumes take — so credits pay for metered usage as they do for consumes. Only
 * for `count` and `sum` meters: the units go to the usage history as they add to the counter.
 */
export async function recordWithCredits(input: {
  tx: Db;
  dialect: Dialect;
  customerId: string;
  feature: string;
  periodStart: number;
  amount: number;
  /** The amount by the UTC hour of the events' timestamps (it adds up to `amount`), for the history. */
  hours: ReadonlyMap<number, HourChange>;
  allowance: number;
  now: number;
}): Promise<void> {
  const { tx, customerId, feature, now } = input;
  await lockUsage({ db: tx, dialect: input.dialect, key: `${customerId}/${feature}` });
  const after = await addWithinLimit(tx, {
    customerId,
    feature,
    periodStart: input.periodStart,
    quantity: input.amount,
    limit: null,
    now,
  });
  if (after === null) return;
  const history = [...input.hours].map(([bucketStart, hour]) => ({
    customerId,
    feature,
    periodStart: input.periodStart,
    bucketStart,
    mode: 'add' as const,
    amount: hour.amount,
    observedAt: hour.observedAt,
  }));
  await recordHistory(tx, { changes: history, now });
  const balances = await loadCreditBalances(tx, { customerId, feature, now });
  const { draws } = settleCredits({ allowance: input.allowance, before: after - input.amount, after, balances });
  await applyCreditDraws(tx, { draws, now });
}
