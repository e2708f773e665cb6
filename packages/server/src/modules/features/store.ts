import type { Db } from '../../db/database.js';
import { type FeatureRecord, fromDbFeature, toDbFeature } from './convert.js';

export async function findFeature(db: Db, key: string): Promise<FeatureRecord | undefined> {
  const row = await db.selectFrom('features').selectAll().where('key', '=', key).executeTakeFirst();
  return row && fromDbFeature(row);
}

export async function listAllFeatures(db: Db): Promise<FeatureRecord[]> {
  const rows = await db.selectFrom('features').selectAll().orderBy('key').execute();
  return rows.map(fromDbFeature);
}

export async function listFeatures(
  db: Db,
  page: { after: string | undefined; limit: number },
): Promise<FeatureRecord[]> {
  let query = db.selectFrom('features').selectAll().orderBy('key').limit(page.limit);
  if (page.after !== undefined) query = query.where('key', '>', page.after);
  return (await query.execute()).map(fromDbFeature);
}

export async function insertFeature(db: Db, feature: FeatureRecord): Promise<void> {
  await db.insertInto('features').values(toDbFeature(feature)).execute();
}

export async function updateFeature(db: Db, feature: FeatureRecord): Promise<void> {
  const { id: _id, key: _key, created_at: _created, ...changes } = toDbFeature(feature);
  await db.updateTable('features').set(changes).where('key', '=', feature.key).execute();
}

/** A feature drawing from `pool` (`credit_cost.pool`), if any: the first by key. */
export async function findDrawingFeature(db: Db, pool: string): Promise<string | undefined> {
  const rows = await db
    .selectFrom('features')
    .selectAll()
    .where('credit_cost', 'is not', null)
    .orderBy('key')
    .execute();
  return rows.map(fromDbFeature).find((f) => f.type === 'metered' && f.creditCost?.pool === pool)?.key;
}
