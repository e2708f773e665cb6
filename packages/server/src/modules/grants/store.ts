import type { Grant } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { fromDbGrant, toDbGrant } from './convert.js';

export async function findGrant(db: Db, id: string): Promise<Grant | undefined> {
  const row = await db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
  return row && fromDbGrant(row);
}

/** Grants that can apply at `now` or later: not revoked, not expired. */
export async function listCurrentGrants(db: Db, input: { customerId: string; now: number }): Promise<Grant[]> {
  const rows = await db
    .selectFrom('grants')
    .selectAll()
    .where('customer_id', '=', input.customerId)
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', input.now)]))
    .orderBy('id')
    .execute();
  return rows.map(fromDbGrant);
}

/** Every grant the customer had been given by `at`, revoked and expired ones included (resolution judges them at `at`). */
export async function listGrantsGivenBy(db: Db, input: { customerId: string; at: number }): Promise<Grant[]> {
  const rows = await db
    .selectFrom('grants')
    .selectAll()
    .where('customer_id', '=', input.customerId)
    .where('created_at', '<=', input.at)
    .orderBy('id')
    .execute();
  return rows.map(fromDbGrant);
}

export async function listGrants(
  db: Db,
  page: { customerId: string; after: string | undefined; limit: number; includeRevoked: boolean },
): Promise<Grant[]> {
  let query = db
    .selectFrom('grants')
    .selectAll()
    .where('customer_id', '=', page.customerId)
    .orderBy('id')
    .limit(page.limit);
  if (!page.includeRevoked) query = query.where('revoked_at', 'is', null);
  if (page.after !== undefined) query = query.where('id', '>', page.after);
  return (await query.execute()).map(fromDbGrant);
}

export async function insertGrant(db: Db, grant: Grant): Promise<void> {
  await db.insertInto('grants').values(toDbGrant(grant)).execute();
}

export async function revokeGrant(db: Db, input: { id: string; at: number }): Promise<void> {
  await db
    .updateTable('grants')
    .set({ revoked_at: input.at })
    .where('id', '=', input.id)
    .where('revoked_at', 'is', null)
    .execute();
}
