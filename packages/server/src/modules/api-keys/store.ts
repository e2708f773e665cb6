import type { Selectable } from 'kysely';
import type { Db } from '../../db/database.js';
import type { ApiKeyTable } from '../../db/schema.js';

export type ApiKeyRow = Selectable<ApiKeyTable>;

export async function listActiveKeys(db: Db): Promise<ApiKeyRow[]> {
  return db.selectFrom('api_keys').selectAll().where('revoked_at', 'is', null).execute();
}

export async function listKeys(db: Db, page: { after: string | undefined; limit: number }): Promise<ApiKeyRow[]> {
  let query = db.selectFrom('api_keys').selectAll().orderBy('id').limit(page.limit);
  if (page.after !== undefined) query = query.where('id', '>', page.after);
  return query.execute();
}

export async function countKeys(db: Db): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export async function insertKey(db: Db, row: ApiKeyRow): Promise<void> {
  await db.insertInto('api_keys').values(row).execute();
}

export async function findKey(db: Db, idOrPrefix: string): Promise<ApiKeyRow[]> {
  return db
    .selectFrom('api_keys')
    .selectAll()
    .where((eb) => eb.or([eb('id', '=', idOrPrefix), eb('prefix', '=', idOrPrefix)]))
    .execute();
}

export async function revokeKey(db: Db, input: { id: string; at: number }): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ revoked_at: input.at })
    .where('id', '=', input.id)
    .where('revoked_at', 'is', null)
    .execute();
}

export async function touchKey(db: Db, input: { id: string; at: number }): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: input.at }).where('id', '=', input.id).execute();
}

export async function setKeyExpiry(db: Db, input: { id: string; at: number }): Promise<void> {
  await db.updateTable('api_keys').set({ expires_at: input.at }).where('id', '=', input.id).execute();
}
