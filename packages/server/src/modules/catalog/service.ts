import type { CatalogFile, FeatureCreate, PlanCreate } from '@keymaster/contract';
import stringify from 'safe-stable-stringify';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import { fromApiFeature, toFeatureBody } from '../features/convert.js';
import { createFeatureService } from '../features/service.js';
import { listAllFeatures } from '../features/store.js';
import { fromApiPlanFields, type PlanRecord, toPlanBody } from '../plans/convert.js';
import { createPlanService } from '../plans/service.js';
import { findPlanVersions } from '../plans/store.js';

/** One step of bringing the stored catalog in line with a file. */
export interface CatalogChange {
  kind: 'feature' | 'plan';
  key: string;
  action: 'create' | 'update';
  /** Top-level fields that differ (for updates). */
  fields: string[];
  /** For plans: the version that will be published. */
  version?: number;
}

export interface CatalogPlan {
  changes: CatalogChange[];
  unchanged: number;
}

const canonicalFeature = (body: FeatureCreate) =>
  toFeatureBody(fromApiFeature({ body, id: '', createdAt: 0, updatedAt: 0 })) as Record<string, unknown>;

function canonicalPlan(body: Omit<PlanCreate, 'key'>): Record<string, unknown> {
  const fields = fromApiPlanFields(body);
  const record = {
    ...fields,
    entitlements: fields.entitlements.map((e) => ({ ...e, limit: e.limit ?? null })),
  } as PlanRecord;
  return toPlanBody(record) as Record<string, unknown>;
}

function differingFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => stringify(a[k]) !== stringify(b[k])).sort();
}

/** Pools first: a feature can only draw from a pool that already exists. */
function poolsFirst(features: FeatureCreate[]): FeatureCreate[] {
  return [...features].sort((a, b) => Number(a.credit_cost !== undefined) - Number(b.credit_cost !== undefined));
}

/**
 * The catalog as a file: export what is published, and apply a file idempotently. Applying runs
 * in one transaction — the whole file lands or nothing does — through the same services (and so
 * the same validation) as the API.
 */
export function createCatalogService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  async function diff(tx: Db, file: CatalogFile): Promise<CatalogPlan> {
    const changes: CatalogChange[] = [];
    let unchanged = 0;
    const stored = new Map((await listAllFeatures(tx)).map((f) => [f.key, f]));
    for (const body of poolsFirst(file.features ?? [])) {
      const current = stored.get(body.key);
      if (!current) {
        changes.push({ kind: 'feature', key: body.key, action: 'create', fields: [] });
        continue;
      }
      const fields = differingFields(toFeatureBody(current) as Record<string, unknown>, canonicalFeature(body));
      if (fields.length === 0) unchanged++;
      else changes.push({ kind: 'feature', key: body.key, action: 'update', fields });
    }
    for (const { key, ...body } of file.plans ?? []) {
      const versions = await findPlanVersions(tx, key);
      const latest = versions.at(-1);
      if (!latest) {
        changes.push({ kind: 'plan', key, action: 'create', fields: [], version: 1 });
        continue;
      }
      const published = versions.filter((v) => v.status === 'published').at(-1);
      const fields = differingFields(
        published ? (toPlanBody(published) as Record<string, unknown>) : {},
        canonicalPlan(body),
      );
      if (fields.length === 0) unchanged++;
      else
        changes.push({
          kind: 'plan',
          key,
          action: 'update',
          fields,
          version: latest.status === 'draft' ? latest.version : latest.version + 1,
        });
    }
    return { changes, unchanged };
  }

  return {
    async export(): Promise<CatalogFile> {
      const features = (await listAllFeatures(db)).map(toFeatureBody);
      const keys = await db.selectFrom('plans').select('key').orderBy('key').execute();
      const plans: PlanCreate[] = [];
      for (const { key } of keys) {
        const published = (await findPlanVersions(db, key)).filter((v) => v.status === 'published').at(-1);
        if (published) plans.push({ key, ...toPlanBody(published) });
      }
      return { features, plans };
    },

    /** What applying the file would change; writes nothing. */
    plan(file: CatalogFile): Promise<CatalogPlan> {
      return diff(db, file);
    },

    /** Creates or updates every feature and plan that differs, publishing changed plans. */
    apply(file: CatalogFile): Promise<CatalogPlan> {
      return withTransaction(db, async (tx) => {
        const plan = await diff(tx, file);
        const features = createFeatureService({ db: tx, clock });
        const plans = createPlanService({ db: tx, clock });
        const bodies = new Map((file.features ?? []).map((f) => [f.key, f]));
        const planBodies = new Map((file.plans ?? []).map((p) => [p.key, p]));
        for (const change of plan.changes) {
          if (change.kind === 'feature') {
            const body = bodies.get(change.key)!;
            if (change.action === 'create') await features.create({ body });
            else {
              const { key: _key, ...patch } = body;
              // Fields the file leaves out are cleared, so the stored feature matches the file.
              const cleared = Object.fromEntries(change.fields.filter((f) => !(f in patch)).map((f) => [f, null]));
              await features.patch({ key: change.key, patch: { ...cleared, ...patch } });
            }
          } else {
            const body = planBodies.get(change.key)!;
            if (change.action === 'create') await plans.create({ body });
            else {
              const { key: _key, ...patch } = body;
              const cleared = Object.fromEntries(change.fields.filter((f) => !(f in patch)).map((f) => [f, null]));
              await plans.patch({ key: change.key, patch: { ...cleared, ...patch } });
            }
            await plans.publish({ key: change.key });
          }
        }
        return plan;
      });
    },
  };
}

/** A change as one line of `catalog apply` output. */
export function describeChange(change: CatalogChange): string {
  const what = `${change.kind} ${change.key}`;
  if (change.action === 'create') return change.kind === 'plan' ? `+ ${what} (publish v1)` : `+ ${what}`;
  const version = change.version !== undefined ? ` (publish v${change.version})` : '';
  return `~ ${what}${version}: ${change.fields.join(', ')}`;
}
