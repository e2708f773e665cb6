import type { FeatureCreate, FeaturePatch } from '@keymaster/contract';
import {
  conflict,
  ErrorCodes,
  type FieldError,
  invalid,
  notFound,
  validateFeature,
  validateTargeting,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { isUniqueViolation } from '../../db/dialect-sql.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { type AuditActor, appendAudit, changedFields, systemActor } from '../audit/trail.js';
import { type FeatureRecord, fromApiFeature, toFeatureBody } from './convert.js';
import { findDrawingFeature, findFeature, insertFeature, listFeatures, updateFeature } from './store.js';

export type FeatureService = ReturnType<typeof createFeatureService>;

export function createFeatureService(deps: { db: Db; clock: Clock }) {
  const { db, clock } = deps;

  /** Fields only some types have: dropping them silently would store less than was asked for. */
  function typeMismatches(body: FeatureCreate): FieldError[] {
    const only = { options: 'config', meter: 'metered', credit_cost: 'metered' } as const;
    return Object.entries(only).flatMap(([field, type]) =>
      body[field as keyof typeof only] !== undefined && body.type !== type
        ? [{ path: `/${field}`, message: `only ${type} features have ${field}; "${body.key}" is ${body.type}` }]
        : [],
    );
  }

  async function check(feature: FeatureRecord, body: FeatureCreate): Promise<void> {
    const errors: FieldError[] = [
      ...typeMismatches(body),
      ...validateFeature(feature),
      ...(feature.targeting === null ? [] : validateTargeting(feature.targeting)),
    ];
    if (feature.type === 'metered' && feature.creditCost) {
      const pool = await findFeature(db, feature.creditCost.pool);
      if (pool?.type !== 'metered') {
        errors.push({ path: '/credit_cost/pool', message: `"${feature.creditCost.pool}" is not a metered feature` });
      } else if (pool.creditCost) {
        // One level only: a use is charged to one pool, in one transaction, under one lock.
        errors.push({
          path: '/credit_cost/pool',
          message: `"${pool.key}" draws from "${pool.creditCost.pool}" itself`,
        });
      } else if (pool.meter && pool.meter.aggregation !== 'count' && pool.meter.aggregation !== 'sum') {
        errors.push({
          path: '/credit_cost/pool',
          message: `"${pool.key}" counts by ${pool.meter.aggregation}, not a sum`,
        });
      }
    }
    if (feature.type === 'metered' && (feature.creditCost || feature.meter)) {
      const drawing = await findDrawingFeature(db, feature.key);
      if (drawing && feature.creditCost) {
        errors.push({ path: '/credit_cost', message: `"${drawing}" draws from "${feature.key}": a pool cannot draw` });
      } else if (drawing && feature.meter && !['count', 'sum'].includes(feature.meter.aggregation)) {
        errors.push({ path: '/meter/aggregation', message: `must be count or sum: "${drawing}" draws from this pool` });
      }
    }
    if (errors.length > 0) throw invalid(errors);
  }

  /**
   * The trail's row for a write: `feature.created`; `feature.disabled` or `feature.enabled` when
   * the kill switch moves; else `feature.updated`. It holds the fields that changed, in their API
   * form. A patch that changes nothing appends nothing.
   */
  async function audit(
    tx: Db,
    input: { actor: AuditActor | undefined; before: FeatureRecord | null; after: FeatureRecord },
  ): Promise<void> {
    const { before, after } = input;
    const change = changedFields(before && toFeatureBody(before), toFeatureBody(after));
    if (before && Object.keys(change.after).length === 0) return;
    const verb =
      before === null
        ? 'created'
        : before.status === after.status
          ? 'updated'
          : after.status === 'disabled'
            ? 'disabled'
            : 'enabled';
    await appendAudit(tx, [
      {
        at: after.updatedAt,
        actor: input.actor ?? systemActor,
        action: `feature.${verb}`,
        target: { type: 'feature', id: after.key },
        data: change,
      },
    ]);
  }

  return {
    async create(input: {
      body: FeatureCreate;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<FeatureRecord> {
      const { body } = input;
      const now = clock.now();
      const feature = fromApiFeature({ body, id: newId('feat'), createdAt: now, updatedAt: now });
      await check(feature, body);
      try {
        await withTransaction({ db, claim: input.claim }, async (tx) => {
          await insertFeature(tx, feature);
          await audit(tx, { actor: input.actor, before: null, after: feature });
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict(ErrorCodes.featureExists, `Feature "${body.key}" already exists.`);
        throw error;
      }
      return feature;
    },

    async get(key: string): Promise<FeatureRecord> {
      const feature = await findFeature(db, key);
      if (!feature) throw notFound(ErrorCodes.featureNotFound, `Feature "${key}" does not exist.`);
      return feature;
    },

    async list(page: { after: string | undefined; limit: number }): Promise<FeatureRecord[]> {
      return listFeatures(db, page);
    },

    /** Applies a patch to the whole feature and validates the result as if it were created so. */
    async patch(input: { key: string; patch: FeaturePatch; actor?: AuditActor | undefined }): Promise<FeatureRecord> {
      const current = await this.get(input.key);
      const { patch } = input;
      if (patch.type !== undefined && patch.type !== current.type) {
        throw conflict(ErrorCodes.featureTypeImmutable, `A feature's type cannot change (it is ${current.type}).`, [
          { path: '/type', message: `cannot change from ${current.type}` },
        ]);
      }
      const body: Record<string, unknown> = { ...toFeatureBody(current) };
      for (const [field, value] of Object.entries(patch)) {
        if (value === null) delete body[field];
        else if (value !== undefined) body[field] = value;
      }
      const next = fromApiFeature({
        body: body as FeatureCreate,
        id: current.id,
        createdAt: current.createdAt,
        updatedAt: clock.now(),
      });
      await check(next, body as FeatureCreate);
      await withTransaction(db, async (tx) => {
        await updateFeature(tx, next);
        await audit(tx, { actor: input.actor, before: current, after: next });
      });
      return next;
    },
  };
}
