import type { Contract, ContractCreate } from '@keymaster/contract';
import { conflict, DomainError, ErrorCodes, type Grant, invalid, resolve } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import type { EffectClaim } from '../../db/transaction.js';
import { fromIso } from '../../json-column.js';
import { type AuditActor, actorOf } from '../audit/trail.js';
import type { BillingSource } from '../billing/billing-source.js';
import { loadCatalog, loadCustomerState } from '../entitlements/store.js';
import { toApiGrant } from '../grants/convert.js';
import { createGrantService } from '../grants/service.js';
import { findGrant } from '../grants/store.js';
import type { SubscriptionRecord } from '../subscriptions/convert.js';
import { toApiSubscription } from '../subscriptions/convert.js';
import { contractIds, fromApiContract, toApiContractEntitlements, toGrantCreate } from './convert.js';
import { type ContractRef, findPreviousRevision, findRevision, insertRevision } from './store.js';

export type ContractService = ReturnType<typeof createContractService>;

/** The source contracts' subscriptions carry, and the actor of their history. */
export const contractSource = 'contract';
export const contractActor = 'integration:contract';

/**
 * Contracts (CRM deals) through the billing seam: a revision provisions or amends the customer's
 * subscription, replaces the previous revision's grants with its own, and stores its answer —
 * all in the seam's one transaction, so a contract is applied whole or not at all.
 */
export function createContractService(deps: { db: Db; clock: Clock; billing: BillingSource }) {
  const { db, clock, billing } = deps;

  /** Checks what the schema cannot: the term is a real interval. */
  function checkTerm(body: ContractCreate, now: number): void {
    const endsAt = fromIso(body.ends_at)!;
    const startsAt = fromIso(body.starts_at);
    if (startsAt !== null && endsAt <= startsAt) {
      throw invalid([{ path: '/ends_at', message: 'must be after starts_at' }]);
    }
    if (startsAt === null && endsAt <= now) throw invalid([{ path: '/ends_at', message: 'must be in the future' }]);
  }

  /** The contract's grants, created by the grants module in the seam's transaction; errors name `/grants/<i>/…`. */
  async function createGrants(
    tx: Db,
    input: { body: ContractCreate; customerId: string; actor: AuditActor },
  ): Promise<Grant[]> {
    const { body, customerId, actor } = input;
    const grants = createGrantService({ db: tx, clock });
    const created: Grant[] = [];
    for (const index of (body.grants ?? []).keys()) {
      try {
        created.push(await grants.create({ customerId, body: toGrantCreate({ body, index }), actor }));
      } catch (error) {
        if (!(error instanceof DomainError) || error.errors === undefined) throw error;
        throw invalid(error.errors.map((e) => ({ path: `/grants/${index}${e.path}`, message: e.message })));
      }
    }
    return created;
  }

  /** Runs in the seam's transaction once the subscription is in place: grants, entitlements, the answer. */
  async function settle(
    tx: Db,
    input: {
      body: ContractCreate;
      ref: ContractRef;
      subscription: SubscriptionRecord;
      before: SubscriptionRecord | null;
      dryRun: boolean;
      actor: AuditActor;
    },
  ): Promise<Contract> {
    const { body, ref, subscription, actor } = input;
    const now = clock.now();
    const previous = await findPreviousRevision(tx, ref);
    const revoked: string[] = [];
    const grantService = createGrantService({ db: tx, clock });
    for (const id of previous?.grantIds ?? []) {
      const grant = await findGrant(tx, id);
      if (!grant || grant.revokedAt !== null) continue;
      await grantService.revoke(id, actor);
      revoked.push(id);
    }
    const grants = await createGrants(tx, { body, customerId: subscription.customerId, actor });
    const [catalog, state] = await Promise.all([
      loadCatalog(tx),
      loadCustomerState(tx, { customerId: subscription.customerId, now }),
    ]);
    const answer: Contract = {
      source: body.source,
      outcome: input.before === null ? 'created' : 'amended',
      dry_run: input.dryRun,
      subscription: toApiSubscription(subscription, now),
      previous: input.before && toApiSubscription(input.before, now),
      entitlements: state ? toApiContractEntitlements(resolve({ catalog, state, now })) : [],
      grants: grants.map((g) => toApiGrant(g, now)),
      revoked_grants: revoked,
    };
    await insertRevision(tx, {
      ref,
      customerId: subscription.customerId,
      subscriptionId: subscription.id,
      revision: { answer, grantIds: grants.map((g) => g.id) },
      now,
    });
    return answer;
  }

  return {
    /**
     * Applies one revision of a contract. The same revision again answers its first answer
     * (whatever the body says now); a lower one than the last applied is a 409 `stale_revision`.
     */
    async apply(input: {
      body: ContractCreate;
      dryRun: boolean;
      actor?: string | undefined;
      /** The request that delivered it, for the audit trail. */
      requestId?: string | undefined;
      claim?: EffectClaim | undefined;
    }): Promise<{ created: boolean; contract: Contract }> {
      const { body, dryRun } = input;
      const ref: ContractRef = {
        system: body.source.system,
        dealId: body.source.deal_id,
        revision: body.source.revision,
      };
      const { externalId, idempotencyId } = contractIds(body.source);
      const replay = await findRevision(db, ref);
      if (replay) return { created: replay.answer.outcome === 'created', contract: replay.answer };
      checkTerm(body, clock.now());
      let answer: Contract | undefined;
      const actor = input.actor ?? contractActor;
      const outcome = await billing.apply({
        source: contractSource,
        externalId,
        ordering: body.source.revision,
        idempotencyId,
        actor,
        requestId: input.requestId,
        desired: fromApiContract(body),
        dryRun,
        claim: input.claim,
        alsoInTransaction: async (tx, subscription, before) => {
          answer = await settle(tx, {
            body,
            ref,
            subscription,
            before,
            dryRun,
            actor: actorOf(actor, input.requestId),
          });
        },
      });
      if (outcome.outcome === 'stale') {
        throw conflict(
          ErrorCodes.staleRevision,
          `Revision ${body.source.revision} of ${externalId} is older than revision ${outcome.lastOrdering}, already applied.`,
          [{ path: '/source/revision', message: `must be at least ${outcome.lastOrdering}` }],
        );
      }
      if (outcome.outcome === 'duplicate') {
        // Applied by another request a moment ago: its answer is stored with it.
        const first = await findRevision(db, ref);
        if (!first)
          throw conflict(
            ErrorCodes.conflict,
            `Revision ${body.source.revision} of ${externalId} was applied, but its answer is gone.`,
          );
        return { created: first.answer.outcome === 'created', contract: first.answer };
      }
      return { created: !dryRun && answer!.outcome === 'created', contract: answer! };
    },
  };
}
