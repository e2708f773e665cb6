import { type CreditBalance, type CreditDraw, creditBalances } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { fromDbGrant } from '../grants/convert.js';

/**
 * The customer's credit grants for a feature that are active at `now`, in draw order. Read under
 * the (customer, feature) usage lock: only holders of that lock change these balances, so what is
 * read stays true until the transaction ends.
 */
export async function loadCreditBalances(
  db: Db,
  input: { customerId: string; feature: string; now: number },
): Promise<CreditBalance[]> {
  const rows = await db
    .selectFrom('credit_balances')
    .innerJoin('grants', 'grants.id', 'credit_balances.grant_id')
    .selectAll('grants')
    .select('credit_balances.remaining')
    .where('credit_balances.customer_id', '=', input.customerId)
    .where('credit_balances.feature', '=', input.feature)
    .execute();
  return creditBalances({ grants: rows.map(fromDbGrant), feature: input.feature, now: input.now });
}

/** Takes each draw's units from its grant's balance (a negative draw gives them back). */
export async function applyCreditDraws(db: Db, input: { draws: readonly CreditDraw[]; now: number }): Promise<void> {
  for (const draw of input.draws) {
    await db
      .updateTable('credit_balances')
      .set((eb) => ({ remaining: eb('remaining', '-', draw.units), updated_at: input.now }))
      .where('grant_id', '=', draw.grantId)
      .execute();
  }
}
