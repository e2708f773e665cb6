import type { GrantCreate } from '@keymaster/contract';
import { ErrorCodes, type Grant, invalid, type JsonValue, notFound, validateGrant } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { fromIso, toIso } from '../../json-column.js';
import { fireAfterAllowanceChange } from '../alerts/allowance-change.js';
import { rememberFired } from '../alerts/fire.js';
import { type AuditActor, appendAudit, changedFields, systemActor } from '../audit/trail.js';
import { findCustomer } from '../customers/store.js';
import { type CatalogSource, entitlementsAround } from '../entitlements/around.js';
import { findFeature } from '../features/store.js';
import { emitDomainEvents } from '../outbox/emit.js';
import { findCurrentSubscription } from '../subscriptions/store.js';
import { toApiGrant } from './convert.js';
import { findGrant, insertGrant, listCurrentGrants, listGrants, revokeGrant } from './store.js';

export type GrantService = ReturnType<typeof createGrantService>;

/** What the trail keeps of a grant: its terms, as the API names them. */
function auditFields(grant: Grant): Record<string, unknown> {
  return {
    feature: grant.feature,
    mode: grant.mode,
    enabled: grant.enabled ?? null,
    limit: grant.limit ?? null,
    value: grant.value ?? null,
    starts_at: toIso(grant.startsAt),
    expires_at: toIso(grant.expiresAt),
    reason: grant.reason ?? null,
    rollover_cap: grant.rolloverCap,
  };
}

export function createGrantService(deps: { db: Db; clock: Clock; catalog?: CatalogSource | undefined }) {
  const { db, clock } = deps;

  /**
   * In the grant's transaction: `entitlements.updated` with the customer's entitlements before and
   * after, and the alerts the moved limit meets without a unit used (see `fireAfterAllowanceChange`).
   * Answers the firings to remember after the commit.
   */
  async function afterGrantChange(tx: Db, input: { grant: Grant; change: 'created' | 'revoked'; now: number }) {
    const { grant, change, now } = input;
    // Receivers of `entitlements.updated` learn what the grant did to the customer, feature by feature.
    const [grants, subscription] = await Promise.all([
      listCurrentGrants(tx, { customerId: grant.customerId, now }),
      findCurrentSubscription(tx, grant.customerId),
    ]);
    const others = grants.filter((g) => g.id !== grant.id);
    const live = { ...grant, revokedAt: null };
    const entitlements = await entitlementsAround(tx, {
      customerId: grant.customerId,
      at: now,
      catalog: deps.catalog,
      before: { subscription: subscription ?? null, grants: change === 'created' ? others : [...others, live] },
      after: { subscription: subscription ?? null, grants: change === 'created' ? [...others, live] : others },
    });
    await emitDomainEvents(
      tx,
      [
        {
          type: 'entitlements.updated',
          customerId: grant.customerId,
          subscriptionId: subscription?.id ?? null,
          occurredAt: now,
          data: { customer: grant.customerId, reason: `grant.${change}`, grant: toApiGrant(grant, now), entitlements },
        },
      ],
      now,
    );
    return fireAfterAllowanceChange(tx, {
      customerId: grant.customerId,
      feature: grant.feature,
      now,
      catalog: deps.catalog,
    });
  }
  return {
    async create(input: {
      customerId: string;
      body: GrantCreate;
      actor?: AuditActor | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<Grant> {
      const { body, customerId } = input;
      const now = clock.now();
      let seen: string[] = [];
      const created = await withTransaction({ db, claim: input.claim }, async (tx) => {
        if (!(await findCustomer(tx, customerId))) {
          throw notFound(ErrorCodes.customerNotFound, `Customer "${customerId}" does not exist; PUT it first.`);
        }
        const feature = await findFeature(tx, body.feature);
        if (!feature) throw invalid([{ path: '/feature', message: `unknown feature "${body.feature}"` }]);
        const grant: Grant = {
          id: newId('grt'),
          customerId,
          feature: body.feature,
          mode: body.mode ?? 'override',
          enabled: body.enabled,
          limit: body.limit,
          value: body.value as JsonValue | undefined,
          startsAt: fromIso(body.starts_at),
          expiresAt: fromIso(body.expires_at),
          reason: body.reason,
          createdAt: now,
          revokedAt: null,
          remaining: body.mode === 'credit' && typeof body.limit === 'number' ? body.limit : null,
          rolloverCap: body.rollover_cap ?? null,
        };
        const errors = validateGrant({ grant, feature });
        if (grant.expiresAt !== null && grant.expiresAt <= now) {
          errors.push({ path: '/expires_at', message: 'must be in the future' });
        }
        if (errors.length > 0) throw invalid(errors);
        await insertGrant(tx, grant);
        await appendAudit(tx, [
          {
            at: now,
            actor: input.actor ?? systemActor,
            action: 'grant.created',
            target: { type: 'grant', id: grant.id },
            customerId,
            data: changedFields(null, auditFields(grant)),
          },
        ]);
        seen = await afterGrantChange(tx, { grant, change: 'created', now });
        return grant;
      });
      rememberFired(seen);
      return created;
    },

    async list(page: { customerId: string; after: string | undefined; limit: number; includeRevoked: boolean }) {
      if (!(await findCustomer(db, page.customerId))) {
        throw notFound(ErrorCodes.customerNotFound, `Customer "${page.customerId}" does not exist.`);
      }
      return listGrants(db, page);
    },

    /** Revokes a grant; revoking one already revoked answers the same grant (DELETE is idempotent). */
    async revoke(id: string, actor: AuditActor = systemActor): Promise<Grant> {
      let seen: string[] = [];
      const revoked = await withTransaction(db, async (tx) => {
        const grant = await findGrant(tx, id);
        if (!grant) throw notFound(ErrorCodes.grantNotFound, `Grant "${id}" does not exist.`);
        if (grant.revokedAt !== null) return grant;
        const at = clock.now();
        await revokeGrant(tx, { id, at });
        await appendAudit(tx, [
          {
            at,
            actor,
            action: 'grant.revoked',
            target: { type: 'grant', id },
            customerId: grant.customerId,
            data: { before: { revoked_at: null }, after: { revoked_at: toIso(at) } },
          },
        ]);
        seen = await afterGrantChange(tx, { grant: { ...grant, revokedAt: at }, change: 'revoked', now: at });
        return { ...grant, revokedAt: at };
      });
      rememberFired(seen);
      return revoked;
    },
  };
}
