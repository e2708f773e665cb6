import type { Db } from '../../db/database.js';
import { fromDbPlan, type PlanRecord, toDbPlan } from './convert.js';

/** Every version of one plan, oldest first. */
export async function findPlanVersions(db: Db, key: string): Promise<PlanRecord[]> {
  const rows = await db
    .selectFrom('plan_versions')
    .selectAll()
    .where('plan_key', '=', key)
    .orderBy('version')
    .execute();
  return rows.map(fromDbPlan);
}

/** The latest version of each plan, by key. */
export async function listLatestPlans(
  db: Db,
  page: { after: string | undefined; limit: number; status: string | undefined },
): Promise<PlanRecord[]> {
  let query = db
    .selectFrom('plan_versions as v')
    .selectAll('v')
    .where(({ eb, selectFrom }) =>
      eb(
        'v.version',
        '=',
        selectFrom('plan_versions as w')
          .select((w) => w.fn.max('w.version').as('m'))
          .whereRef('w.plan_key', '=', 'v.plan_key'),
      ),
    )
    .orderBy('v.plan_key')
    .limit(page.limit);
  if (page.after !== undefined) query = query.where('v.plan_key', '>', page.after);
  if (page.status !== undefined) query = query.where('v.status', '=', page.status);
  return (await query.execute()).map(fromDbPlan);
}

/** Every plan version a subscription can be on (all but drafts). */
export async function listNonDraftPlanVersions(db: Db): Promise<PlanRecord[]> {
  const rows = await db.selectFrom('plan_versions').selectAll().where('status', '!=', 'draft').execute();
  return rows.map(fromDbPlan);
}

export async function insertPlan(db: Db, input: { key: string; createdAt: number }): Promise<void> {
  await db.insertInto('plans').values({ key: input.key, created_at: input.createdAt }).execute();
}

export async function insertPlanVersion(db: Db, plan: PlanRecord): Promise<void> {
  await db.insertInto('plan_versions').values(toDbPlan(plan)).execute();
}

/** Rewrites a version; only ever a draft, or a status change of a published one. */
export async function updatePlanVersion(db: Db, plan: PlanRecord): Promise<void> {
  const { id, ...changes } = toDbPlan(plan);
  await db.updateTable('plan_versions').set(changes).where('id', '=', id).execute();
}
