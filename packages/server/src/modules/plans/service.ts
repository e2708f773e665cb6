import type { PlanCreate, PlanPatch } from '@keymaster/contract';
import { conflict, ErrorCodes, type Feature, invalid, notFound, validatePlan } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { type AuditActor, appendAudit, changedFields, systemActor } from '../audit/trail.js';
import { listAllFeatures } from '../features/store.js';
import { fromApiPlanFields, type PlanRecord, toPlanBody } from './convert.js';
import { findPlanVersions, insertPlan, insertPlanVersion, listLatestPlans, updatePlanVersion } from './store.js';

export type PlanService = ReturnType<typeof createPlanService>;

/** A plan version with the two facts about its siblings every answer carries. */
export interface PlanView {
  plan: PlanRecord;
  latestVersion: number;
  publishedVersion: number | null;
}

function view(versions: PlanRecord[], plan: PlanRecord): PlanView {
  const published = versions.filter((v) => v.status === 'published').at(-1);
  return {
    plan,
    latestVersion: versions.at(-1)?.version ?? plan.version,
    publishedVersion: published?.version ?? null,
  };
}

/** A new draft version with validated fields. */
function newDraft(input: {
  key: string;
  version: number;
  fields: Omit<
    PlanRecord,
    'id' | 'key' | 'version' | 'status' | 'createdAt' | 'updatedAt' | 'publishedAt' | 'archivedAt'
  >;
  now: number;
}): PlanRecord {
  return {
    id: newId('planv'),
    key: input.key,
    version: input.version,
    status: 'draft',
    ...input.fields,
    createdAt: input.now,
    updatedAt: input.now,
    publishedAt: null,
    archivedAt: null,
  };
}

/**
 * Appends the trail's row for a change to a plan, `plan.<verb>`, naming the plan by key and the
 * version changed in `data`.
 */
function audit(
  tx: Db,
  input: { actor: AuditActor | undefined; verb: string; key: string; at: number; data: Record<string, unknown> },
): Promise<void> {
  return appendAudit(tx, [
    {
      at: input.at,
      actor: input.actor ?? systemActor,
      action: `plan.${input.verb}`,
      target: { type: 'plan', id: input.key },
      data: input.data,
    },
  ]);
}

export function createPlanService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  async function validated(input: { db: Db; key: string; body: Omit<PlanCreate, 'key'> }) {
    const fields = fromApiPlanFields(input.body);
    const features = new Map<string, Feature>((await listAllFeatures(input.db)).map((f) => [f.key, f]));
    const errors = validatePlan({ plan: { key: input.key, ...fields }, features });
    // Amounts are 64-bit columns read back as JS numbers: beyond 2^53 they overflow or lose cents.
    if (fields.price && !Number.isSafeInteger(fields.price.amount)) {
      errors.push({ path: '/price/amount', message: `must be at most ${Number.MAX_SAFE_INTEGER}` });
    }
    if (errors.length > 0) throw invalid(errors);
    return { ...fields, entitlements: fields.entitlements.map((e) => ({ ...e, limit: e.limit ?? null })) };
  }

  async function versionsOf(tx: Db, key: string): Promise<PlanRecord[]> {
    const versions = await findPlanVersions(tx, key);
    if (versions.length === 0) throw notFound(ErrorCodes.planNotFound, `Plan "${key}" does not exist.`);
    return versions;
  }

  return {
    async create(input: {
      body: PlanCreate;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<PlanView> {
      const { body } = input;
      const now = clock.now();
      return withTransaction({ db, claim: input.claim }, async (tx) => {
        const fields = await validated({ db: tx, key: body.key, body });
        const plan = newDraft({ key: body.key, version: 1, fields, now });
        try {
          await insertPlan(tx, { key: body.key, createdAt: now });
        } catch (error) {
          if (isUniqueViolation(error)) throw conflict(ErrorCodes.planExists, `Plan "${body.key}" already exists.`);
          throw error;
        }
        await insertPlanVersion(tx, plan);
        await audit(tx, {
          actor: input.actor,
          verb: 'created',
          key: body.key,
          at: now,
          data: { version: 1, ...changedFields(null, toPlanBody(plan)) },
        });
        return { plan, latestVersion: 1, publishedVersion: null };
      });
    },

    async get(input: { key: string; version?: number | undefined }): Promise<PlanView> {
      const versions = await versionsOf(db, input.key);
      const plan = input.version === undefined ? versions.at(-1) : versions.find((v) => v.version === input.version);
      if (!plan) throw notFound(ErrorCodes.planNotFound, `Plan "${input.key}" has no version ${input.version}.`);
      return view(versions, plan);
    },

    async versions(key: string): Promise<PlanView[]> {
      const versions = await versionsOf(db, key);
      return versions.map((plan) => view(versions, plan));
    },

    async list(page: { after: string | undefined; limit: number; status: string | undefined }): Promise<PlanView[]> {
      const latest = await listLatestPlans(db, page);
      const published = await db
        .selectFrom('plan_versions')
        .select(['plan_key', (eb) => eb.fn.max('version').as('version')])
        .where('status', '=', 'published')
        .where('plan_key', 'in', latest.map((p) => p.key).concat(['']))
        .groupBy('plan_key')
        .execute();
      const publishedByKey = new Map(published.map((row) => [row.plan_key, Number(row.version)]));
      return latest.map((plan) => ({
        plan,
        latestVersion: plan.version,
        publishedVersion: publishedByKey.get(plan.key) ?? null,
      }));
    },

    /**
     * Edits the draft, or — when the latest version is published or archived — opens the next
     * version as a draft with the patch applied. Published versions never change.
     */
    async patch(input: { key: string; patch: PlanPatch; actor?: AuditActor | undefined }): Promise<PlanView> {
      const now = clock.now();
      return withTransaction(db, async (tx) => {
        const versions = await versionsOf(tx, input.key);
        const latest = versions.at(-1)!;
        if (input.patch.kind !== undefined && input.patch.kind !== latest.kind) {
          throw conflict(
            ErrorCodes.planKindMismatch,
            `Plan "${input.key}" is a ${latest.kind} plan; its kind cannot change.`,
            [{ path: '/kind', message: `cannot change from ${latest.kind}` }],
          );
        }
        const body: Record<string, unknown> = { ...toPlanBody(latest) };
        for (const [field, value] of Object.entries(input.patch)) {
          if (value === null) delete body[field];
          else if (value !== undefined) body[field] = value;
        }
        const fields = await validated({ db: tx, key: input.key, body: body as Omit<PlanCreate, 'key'> });
        // The change is from the latest version, whether it is edited in place or opens the next.
        const updated = (plan: PlanRecord) =>
          audit(tx, {
            actor: input.actor,
            verb: 'updated',
            key: input.key,
            at: now,
            data: { version: plan.version, ...changedFields(toPlanBody(latest), toPlanBody(plan)) },
          });
        if (latest.status === 'draft') {
          const plan: PlanRecord = { ...latest, ...fields, updatedAt: now };
          await updatePlanVersion(tx, plan);
          await updated(plan);
          return view([...versions.slice(0, -1), plan], plan);
        }
        const plan = newDraft({ key: input.key, version: latest.version + 1, fields, now });
        try {
          await insertPlanVersion(tx, plan);
        } catch (error) {
          if (isUniqueViolation(error))
            throw conflict(ErrorCodes.conflict, 'Another edit opened this draft at the same time; retry.');
          throw error;
        }
        await updated(plan);
        return view([...versions, plan], plan);
      });
    },

    /** Publishes the draft (or the given version, which must be the draft). It is immutable from then on. */
    async publish(input: {
      key: string;
      version?: number | undefined;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<PlanView> {
      const now = clock.now();
      return withTransaction({ db, claim: input.claim }, async (tx) => {
        const versions = await versionsOf(tx, input.key);
        const target =
          input.version === undefined
            ? versions.find((v) => v.status === 'draft')
            : versions.find((v) => v.version === input.version);
        if (!target && input.version !== undefined) {
          throw notFound(ErrorCodes.planNotFound, `Plan "${input.key}" has no version ${input.version}.`);
        }
        if (target?.status !== 'draft') {
          const which = target
            ? `Version ${target.version} is already ${target.status}`
            : 'There is no draft to publish';
          throw conflict(ErrorCodes.planAlreadyPublished, `${which}; PATCH the plan to open the next draft.`, [
            { path: '/version', message: 'is not a draft' },
          ]);
        }
        // The catalog may have changed since the draft was edited (a feature's options, say).
        await validated({ db: tx, key: target.key, body: toPlanBody(target) });
        const plan: PlanRecord = { ...target, status: 'published', publishedAt: now, updatedAt: now };
        await updatePlanVersion(tx, plan);
        await audit(tx, {
          actor: input.actor,
          verb: 'published',
          key: plan.key,
          at: now,
          data: { version: plan.version, before: { status: 'draft' }, after: { status: 'published' } },
        });
        return view(
          versions.map((v) => (v.id === plan.id ? plan : v)),
          plan,
        );
      });
    },

    /** Takes a plan off sale: its published versions stop taking new subscriptions; existing ones continue. */
    async archive(input: {
      key: string;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<PlanView> {
      const { key } = input;
      const now = clock.now();
      return withTransaction({ db, claim: input.claim }, async (tx) => {
        const versions = await versionsOf(tx, key);
        const published = versions.filter((v) => v.status === 'published');
        if (published.length === 0) {
          throw conflict(ErrorCodes.planNotPublished, `Plan "${key}" has no published version to archive.`);
        }
        const archived = published.map((v) => ({ ...v, status: 'archived' as const, archivedAt: now, updatedAt: now }));
        for (const plan of archived) await updatePlanVersion(tx, plan);
        await audit(tx, {
          actor: input.actor,
          verb: 'archived',
          key,
          at: now,
          data: {
            versions: archived.map((v) => v.version),
            before: { status: 'published' },
            after: { status: 'archived' },
          },
        });
        const next = versions.map((v) => archived.find((a) => a.id === v.id) ?? v);
        return view(next, archived.at(-1)!);
      });
    },
  };
}
