import { createHash } from 'node:crypto';
import type { ConsumeRequest } from '@keymaster/contract';
import {
  type AlertRule,
  alertPeriod,
  type Catalog,
  type CustomerEntitlements,
  type CustomerState,
  conflict,
  type Decision,
  ErrorCodes,
  type Feature,
  keepsDecision,
} from '@keymaster/core';
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { createGroupCommit, createKeyedGroupCommit } from '../../db/group-commit.js';
import type { Database } from '../../db/schema.js';
import { claimed, type EffectClaim, withTransaction } from '../../db/transaction.js';
import { fireAlerts, mayFire, rememberFired, type UsageWatch } from '../alerts/fire.js';
import type { AlertRuleCache } from '../alerts/rule-cache.js';
import type { ChangeListener } from '../changes/change-feed.js';
import { grantUnits } from '../counters/grant-units.js';
import { grantedDecision, meteredTarget } from '../counters/metered-target.js';
import { createConsumeBatcher } from './batch.js';

export type ConsumeService = ReturnType<typeof createConsumeService>;

const noRules: readonly AlertRule[] = [];

/**
 * Atomic check-and-record. The decision to grant is the database's, not this node's: the units
 * are added by a conditional upsert that refuses to pass the limit, so any number of concurrent
 * callers on any number of nodes can never over-grant, and every granted unit is recorded.
 * Rolling windows span several counters; there the (customer, feature) is locked for the
 * transaction and the window's sum read under the lock. A feature drawing from a credit pool
 * records `quantity × per_unit` on the pool's counter (and nothing on its own); a customer with
 * one-off credit grants on the counter has them drawn once the period's allowance is used up.
 */
/** What a consume is decided from: the catalog, and the customer resolved and as stored (their grants). */
export interface ConsumeSnapshot {
  catalog: Catalog;
  resolved: CustomerEntitlements | null;
  state?: CustomerState | null | undefined;
}

/** A consume's decision with what it was decided from, for the decision log. */
export interface ConsumedDecision {
  decision: Decision;
  quantity: number;
  feature: Feature;
  snapshot: ConsumeSnapshot;
  now: number;
}

export function createConsumeService(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  snapshot: (customerId: string) => Promise<ConsumeSnapshot>;
  /** Told of each decision its feature's `decision_log` keeps (see `keepsDecision`); must not block. */
  onDecision?: ((input: ConsumedDecision) => void) | undefined;
  /** The alert rules; without them no alert fires (a service built for a one-off command). */
  alerts?: AlertRuleCache | undefined;
  /**
   * This node's cache, told what each consume changed once it has committed — the customer's
   * usage, or the customer (credits drawn) — so that its checks see it at once: the route answers
   * without catching up with the change feed.
   */
  cache?: Pick<ChangeListener, 'usageChanged' | 'customerChanged'> | undefined;
}) {
  const { db, clock } = deps;
  // SQLite (one writer): concurrent consumes share a transaction, each in its own savepoint.
  // PostgreSQL: concurrent consumes of one counter (customer and feature) share a transaction.
  // See group-commit.ts. A service built on a caller's transaction: that one. Plain consumes,
  // the most common, are decided in batches on top of this (see batch.ts).
  const own = !db.isTransaction;
  const group = deps.dialect === 'sqlite' && own ? createGroupCommit(db as Kysely<Database>) : undefined;
  const keyed = deps.dialect === 'postgres' && own ? createKeyedGroupCommit(db as Kysely<Database>) : undefined;
  const transaction = <T>(
    unit: { key: string; claim: EffectClaim | undefined },
    work: (tx: Transaction<Database>) => Promise<T>,
  ): Promise<T> => {
    const run = claimed(work, unit.claim);
    return group ? group.run(run) : keyed ? keyed.run(unit.key, run) : withTransaction(db, run);
  };
  // Firings found already there are remembered once the transaction that saw them committed.
  const transactionThenRemember = async <T>(
    unit: { key: string; claim: EffectClaim | undefined },
    work: (tx: Transaction<Database>) => Promise<T>,
    seen: string[],
  ): Promise<T> => {
    const result = await transaction(unit, work);
    rememberFired(seen);
    return result;
  };
  // Consumes of a plain period counter are decided a batch at a time (see batch.ts).
  const batcher = own
    ? createConsumeBatcher({
        dialect: deps.dialect,
        db,
        transaction: (work) => (group ? group.run(work) : withTransaction(db, work)),
      })
    : undefined;

  return {
    /**
     * `claim`: the request's `Idempotency-Key` claim, committed with the units (see
     * `EffectClaim`); such a consume runs alone, not in a batch. Positional, not in an options
     * object: this runs on every consume.
     */
    async consume(request: ConsumeRequest, claim?: EffectClaim): Promise<Decision> {
      const snapshot = await deps.snapshot(request.customer);
      const now = clock.now();
      const decision = await consumeAt(request, claim, snapshot, now);
      const feature = deps.onDecision && snapshot.catalog.features.get(request.feature);
      if (feature && keepsDecision(feature, decision.allowed)) {
        deps.onDecision!({ decision, quantity: request.quantity ?? 1, feature, snapshot, now });
      }
      return decision;
    },
  };

  async function consumeAt(
    request: ConsumeRequest,
    claim: EffectClaim | undefined,
    snapshot: ConsumeSnapshot,
    now: number,
  ): Promise<Decision> {
    const { catalog, resolved } = snapshot;
    const quantity = request.quantity ?? 1;
    const gate = meteredTarget({
      catalog,
      resolved,
      customer: request.customer,
      feature: request.feature,
      quantity,
      now,
      verb: 'consumed',
    });
    if ('answer' in gate) return gate.answer;
    const { counted, span, cost, limit, allowance, credited } = gate.target;
    const told = (answer: Decision): Decision => {
      if (answer.allowed && deps.cache) {
        if (credited) deps.cache.customerChanged(request.customer);
        else deps.cache.usageChanged(request.customer);
      }
      return answer;
    };
    // The alert rules watching this counter: one map lookup when none does.
    let rules: readonly AlertRule[] = noRules;
    if (deps.alerts) {
      const loaded = deps.alerts.get();
      const index = loaded instanceof Promise ? await loaded : loaded;
      rules = deps.alerts.rulesFor(index, { resolved: resolved!, feature: span.feature });
    }
    const watch = (input: { usage: number; refused: boolean }): UsageWatch | null =>
      deps.alerts && mayFire({ rules, usage: input.usage, limit: allowance, refused: input.refused })
        ? {
            customerId: request.customer,
            feature: span.feature,
            usage: input.usage,
            limit: allowance,
            period: alertPeriod({ entitlement: counted.counter, now }),
            windowed: counted.counter.window !== null,
            rules,
            refused: input.refused,
            credited,
          }
        : null;
    const seen: string[] = [];
    const alone = (): Promise<Decision> =>
      transactionThenRemember(
        { key: `${request.customer}\u0000${span.feature}`, claim },
        async (tx) => {
          if (request.idempotency_key !== undefined) {
            // Only a consume with a key needs its request's fingerprint.
            const hash = createHash('sha256').update(`${request.feature}\u0000${quantity}`).digest('hex');
            const claimed = await tx
              .insertInto('consumptions')
              .values({
                customer_id: request.customer,
                idempotency_key: request.idempotency_key,
                request_hash: hash,
                response: null,
                created_at: now,
              })
              .onConflict((oc) => oc.doNothing())
              .returning('idempotency_key')
              .executeTakeFirst();
            if (!claimed) {
              const earlier = await tx
                .selectFrom('consumptions')
                .select(['request_hash', 'response'])
                .where('customer_id', '=', request.customer)
                .where('idempotency_key', '=', request.idempotency_key)
                .executeTakeFirstOrThrow();
              if (earlier.request_hash !== hash || earlier.response === null) {
                throw conflict(
                  ErrorCodes.idempotencyConflict,
                  'This idempotency_key was already used for another consume.',
                  [{ path: '/idempotency_key', message: 'already used with another feature or quantity' }],
                );
              }
              return JSON.parse(earlier.response) as Decision;
            }
          }
          const { granted, usage, credits } = await grantUnits({
            tx,
            dialect: deps.dialect,
            customerId: request.customer,
            span,
            quantity: cost,
            limit,
            allowance,
            credited,
            windowed: counted.counter.window !== null,
            now,
          });
          const alerting = watch({ usage, refused: !granted });
          if (alerting) await fireAlerts(tx, { watches: [alerting], now, seen });
          // An allowed consume reports usage after its own units; a refused one, usage as it stands.
          const decision = counted.decideAt({ usage: granted ? usage - cost : usage, quantity, credits });
          const answer: Decision = granted ? grantedDecision(decision, { usage, spent: cost }) : decision;
          if (request.idempotency_key !== undefined) {
            await tx
              .updateTable('consumptions')
              .set({ response: JSON.stringify(answer) })
              .where('customer_id', '=', request.customer)
              .where('idempotency_key', '=', request.idempotency_key)
              .execute();
          }
          return answer;
        },
        seen,
      );
    const plain =
      batcher !== undefined &&
      claim === undefined &&
      request.idempotency_key === undefined &&
      !credited &&
      counted.counter.window === null &&
      span.from === span.to &&
      (span.aggregation === 'count' || span.aggregation === 'sum');
    if (plain) {
      const slot = batcher.join({
        counter: { customerId: request.customer, feature: span.feature, periodStart: span.from, limit },
        cost,
        now,
        alerts: deps.alerts && { watch, from: rules.length > 0 ? -Infinity : allowance },
      });
      if ('release' in slot) {
        try {
          return told(await alone());
        } finally {
          slot.release();
        }
      }
      const outcome = await slot.batched;
      if (outcome !== 'alone') {
        const { granted, usage } = outcome;
        const decision = counted.decideAt({ usage: granted ? usage - cost : usage, quantity, credits: undefined });
        return told(granted ? grantedDecision(decision, { usage, spent: cost }) : decision);
      }
    }
    return told(await alone());
  }
}
