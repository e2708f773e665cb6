import type { AlertRule } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { fromDbAlertRule, toDbAlertRule } from './convert.js';

export async function insertAlertRule(db: Db, rule: AlertRule): Promise<void> {
  await db.insertInto('alert_rules').values(toDbAlertRule(rule)).execute();
}

export async function findAlertRule(db: Db, id: string): Promise<AlertRule | undefined> {
  const row = await db.selectFrom('alert_rules').selectAll().where('id', '=', id).executeTakeFirst();
  return row && fromDbAlertRule(row);
}

export async function deleteAlertRule(db: Db, id: string): Promise<void> {
  await db.deleteFrom('alert_rules').where('id', '=', id).execute();
}

export async function listAlertRules(
  db: Db,
  page: { feature: string | undefined; after: string | undefined; limit: number },
): Promise<AlertRule[]> {
  let query = db.selectFrom('alert_rules').selectAll().orderBy('id').limit(page.limit);
  if (page.feature !== undefined) query = query.where('feature', '=', page.feature);
  if (page.after !== undefined) query = query.where('id', '>', page.after);
  return (await query.execute()).map(fromDbAlertRule);
}

/** Every rule, for the cache: a handful per feature at most, read once per catalog change. */
export async function loadAllAlertRules(db: Db): Promise<AlertRule[]> {
  return (await db.selectFrom('alert_rules').selectAll().orderBy('id').execute()).map(fromDbAlertRule);
}

/** One alert to fire once: `ruleId` is `limit` for `usage.limit_reached`. */
export interface FiringKey {
  ruleId: string;
  customerId: string;
  feature: string;
  periodStart: number;
}

/**
 * Inserts the firings not there yet and answers which went in: the only writer of this table.
 * Concurrent writers of the same key — on any node — are serialised by the primary key, so
 * exactly one of them gets the row back.
 */
export async function claimFirings(db: Db, input: { keys: FiringKey[]; now: number }): Promise<FiringKey[]> {
  if (input.keys.length === 0) return [];
  const rows = await db
    .insertInto('alert_firings')
    .values(
      input.keys.map((key) => ({
        rule_id: key.ruleId,
        customer_id: key.customerId,
        feature: key.feature,
        period_start: key.periodStart,
        fired_at: input.now,
      })),
    )
    .onConflict((oc) => oc.columns(['rule_id', 'customer_id', 'feature', 'period_start']).doNothing())
    .returning(['rule_id', 'customer_id', 'feature', 'period_start'])
    .execute();
  return rows.map((row) => ({
    ruleId: row.rule_id,
    customerId: row.customer_id,
    feature: row.feature,
    periodStart: Number(row.period_start),
  }));
}

/** Re-arms a gauge's rules: the firings of those no longer met at its current level go. */
export async function rearmFirings(
  db: Db,
  input: { customerId: string; feature: string; periodStart: number; ruleIds: string[] },
): Promise<void> {
  if (input.ruleIds.length === 0) return;
  await db
    .deleteFrom('alert_firings')
    .where('customer_id', '=', input.customerId)
    .where('feature', '=', input.feature)
    .where('period_start', '=', input.periodStart)
    .where('rule_id', 'in', input.ruleIds)
    .execute();
}
