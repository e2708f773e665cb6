import type { Contract } from '@keymaster/contract';
import type { Db } from '../../db/database.js';

/** A contract revision as applied: the first answer and the grants it created. */
export interface ContractRevision {
  answer: Contract;
  grantIds: string[];
}

export interface ContractRef {
  system: string;
  dealId: string;
  revision: number;
}

export async function findRevision(db: Db, ref: ContractRef): Promise<ContractRevision | undefined> {
  const row = await db
    .selectFrom('contract_revisions')
    .select(['answer', 'grant_ids'])
    .where('system', '=', ref.system)
    .where('deal_id', '=', ref.dealId)
    .where('revision', '=', ref.revision)
    .executeTakeFirst();
  return row && { answer: JSON.parse(row.answer) as Contract, grantIds: JSON.parse(row.grant_ids) as string[] };
}

/** The latest revision of the contract applied before `ref`'s, if any. */
export async function findPreviousRevision(db: Db, ref: ContractRef): Promise<ContractRevision | undefined> {
  const row = await db
    .selectFrom('contract_revisions')
    .select(['answer', 'grant_ids'])
    .where('system', '=', ref.system)
    .where('deal_id', '=', ref.dealId)
    .where('revision', '<', ref.revision)
    .orderBy('revision', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row && { answer: JSON.parse(row.answer) as Contract, grantIds: JSON.parse(row.grant_ids) as string[] };
}

export async function insertRevision(
  db: Db,
  input: { ref: ContractRef; customerId: string; subscriptionId: string; revision: ContractRevision; now: number },
): Promise<void> {
  await db
    .insertInto('contract_revisions')
    .values({
      system: input.ref.system,
      deal_id: input.ref.dealId,
      revision: input.ref.revision,
      customer_id: input.customerId,
      subscription_id: input.subscriptionId,
      grant_ids: JSON.stringify(input.revision.grantIds),
      answer: JSON.stringify(input.revision.answer),
      created_at: input.now,
    })
    .execute();
}
