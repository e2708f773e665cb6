import type { Grant } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { fromDbGrant, toDbGrant } from './convert.js';

/** Grants with what is left of each `credit` grant's balance (null for other modes). */
function selectGrants(db: Db) {
  return db
    .selectFrom('grants')
    .leftJoin('credit_balances', 'credit_balances.grant_id', 'grants.id')
    .selectAll('grants')
    .select('credit_balances.remaining');
}

export async function findGrant(db: Db, id: string): Promise<Grant | undefined> {
  const row = await selectGrants(db).where('grants.id', '=', id).executeTakeFirst();
  return row && fromDbGrant(row);
}

/** Grants that can apply at `now` or later: not revoked, not expired. */
export async function listCurrentGrants(db: Db, input: { customerId: string; now: number }): Promise<Grant[]> {
  const rows = await selectGrants(db)
    .where('grants.customer_id', '=', input.customerId)
    .where('grants.revoked_at', 'is', null)
    .where((eb) => eb.or([eb('grants.expires_at', 'is', null), eb('grants.expires_at', '>', input.now)]))
    .orderBy('grants.id')
    .execute();
  return rows.map(fromDbGrant);
}

/** Every grant the customer had been given by `at`, revoked and expired ones included (resolution judges them at `at`). */
export async function listGrantsGivenBy(db: Db, input: { customerId: string; at: number }): Promise<Grant[]> {
  const rows = await selectGrants(db)
    .where('grants.customer_id', '=', input.customerId)
    .where('grants.created_at', '<=', input.at)
    .orderBy('grants.id')
    .execute();
  return rows.map(fromDbGrant);
}

export async function listGrants(
  db: Db,
  page: { customerId: string; after: string | undefined; limit: number; includeRevoked: boolean },
): Promise<Grant[]> {
  let query = selectGrants(db).where('grants.customer_id', '=', page.customerId).orderBy('grants.id').limit(page.limit);
  if (!page.includeRevoked) query = query.where('grants.revoked_at', 'is', null);
  if (page.after !== undefined) query = query.where('grants.id', '>', page.after);
  return (await query.execute()).map(fromDbGrant);
}

/** Stores a grant; a `credit` grant starts with its whole balance left. */
export async function insertGrant(db: Db, grant: Grant): Promise<void> {
  await db.insertInto('grants').values(toDbGrant(grant)).execute();
  if (grant.mode === 'credit') {
    await db
      .insertInto('credit_balances')
      .values({
        grant_id: grant.id,
        customer_id: grant.customerId,
        feature: grant.feature,
        remaining: grant.limit ?? 0,
        updated_at: grant.createdAt,
      })
      .execute();
  }
}

export async function revokeGrant(db: Db, input: { id: string; at: number }): Promise<void> {
  await db
    .updateTable('grants')
    .set({ revoked_at: input.at })
    .where('id', '=', input.id)
    .where('revoked_at', 'is', null)
    .execute();
}
