import type { ReservationCommit, ReservationCreate } from '@keymaster/contract';
import {
  type Catalog,
  type CustomerEntitlements,
  conflict,
  countedAs,
  creditsLeft,
  type Decision,
  ErrorCodes,
  historyHour,
  type MeterAggregation,
  notFound,
  settleCredits,
  unknownDecision,
} from '@keymaster/core';
import type { Selectable } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { lockUsage } from '../../db/dialect-sql.js';
import type { ReservationTable } from '../../db/schema.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { newId } from '../../ids.js';
import { fireAlerts, rememberFired } from '../alerts/fire.js';
import type { AlertRuleCache } from '../alerts/rule-cache.js';
import { applyCreditDraws, loadCreditBalances } from '../counters/credit-store.js';
import { grantUnits } from '../counters/grant-units.js';
import { historyMode, lowerHistory, recordHistory } from '../counters/history-store.js';
import { grantedDecision, meteredTarget } from '../counters/metered-target.js';
import { readUsage } from '../counters/store.js';
import { reservationAlerts } from './reservation-alerts.js';

export type ReservationService = ReturnType<typeof createReservationService>;

export type ReservationRow = Selectable<ReservationTable>;

export interface ReservationAnswer {
  row: ReservationRow | null;
  request: { customer: string; feature: string; quantity: number };
  decision: Decision;
}

/**
 * The aggregation of the counter a reservation holds units on (the pool's, for a feature drawing
 * from one; features without a meter add, as consumes do).
 */
function aggregationOf(catalog: Catalog, row: Pick<ReservationRow, 'feature' | 'counter_feature'>): MeterAggregation {
  const found = catalog.features.get(row.counter_feature ?? row.feature);
  return found?.type === 'metered' && found.meter ? found.meter.aggregation : 'sum';
}

/**
 * Moves a reservation's counter by `delta` units of the feature (negative to give units back):
 * `delta × per_unit` of the pool for a feature drawing from one. When credit grants paid for the
 * hold, whatever the move takes past (or brings back below) the allowance in force then is drawn
 * from (or refilled into) them, under the same lock consumes take. The counter's usage history
 * moves with it: the units stay in the hour they were held in (committed: the actual cost;
 * released or expired: nothing), so the hours always add up to the counter check reads — the
 * pool's, for a drawing feature. For a `max` or `latest` meter the history holds the counter's
 * level instead.
 */
async function adjustCounter(
  tx: Db,
  input: { dialect: Dialect; row: ReservationRow; delta: number; aggregation: MeterAggregation; now: number },
): Promise<void> {
  const { row, now } = input;
  const delta = input.delta * Number(row.per_unit ?? 1);
  if (delta === 0) return;
  const feature = row.counter_feature ?? row.feature;
  const allowance = row.credit_allowance === null ? null : Number(row.credit_allowance);
  if (allowance !== null) {
    await lockUsage({ db: tx, dialect: input.dialect, key: `${row.customer_id}/${feature}` });
  }
  const moved = await tx
    .updateTable('usage_counters')
    .set((eb) => ({ value: eb('value', '+', delta), updated_at: now }))
    .where('customer_id', '=', row.customer_id)
    .where('feature', '=', feature)
    .where('period_start', '=', row.period_start)
    .returning('value')
    .executeTakeFirst();
  if (!moved) return;
  const after = Number(moved.value);
  await moveHistory(tx, { row, feature, delta, counter: after, aggregation: input.aggregation, now });
  if (allowance === null) return;
  const balances = await loadCreditBalances(tx, { customerId: row.customer_id, feature, now });
  const { draws } = settleCredits({ allowance, before: after - delta, after, balances });
  await applyCreditDraws(tx, { draws, now });
}

/** What `adjustCounter` does to the counter's usage history. */
async function moveHistory(
  tx: Db,
  input: {
    row: ReservationRow;
    feature: string;
    delta: number;
    counter: number;
    aggregation: MeterAggregation;
    now: number;
  },
): Promise<void> {
  const { row, delta, counter, now } = input;
  const mode = historyMode(input.aggregation);
  const target = { customerId: row.customer_id, feature: input.feature, periodStart: row.period_start };
  if (mode === 'max' && delta < 0) {
    await lowerHistory(tx, { ...target, level: counter, now });
    return;
  }
  const change = {
    ...target,
    bucketStart: historyHour(mode === 'add' ? Number(row.created_at) : now),
    mode,
    amount: mode === 'add' ? delta : counter,
    observedAt: now,
  };
  await recordHistory(tx, { changes: [change], now });
}

/**
 * Reservations hold units for work whose final cost is not known yet (an LLM call, an export).
 * A hold is granted exactly as a consume is — the database refuses it past a `block` limit — and
 * its units count as used from then on. Committing records the actual quantity instead (which
 * may be more than held: the work was done); releasing gives the units back; a hold nobody
 * settles gives them back when it expires. Settling claims the reservation with one conditional
 * update, so a reservation is settled once, whichever node or sweeper gets there first.
 */
export function createReservationService(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  snapshot: (customerId: string) => Promise<{ catalog: Catalog; resolved: CustomerEntitlements | null }>;
  catalog: () => Catalog | Promise<Catalog>;
  /** The alert rules; without them no alert fires. */
  alerts?: AlertRuleCache | undefined;
}) {
  const { db, clock } = deps;
  const alerts = reservationAlerts({ alerts: deps.alerts, snapshot: deps.snapshot });

  /** The decision as it stands for the reservation's customer and feature, using nothing more. */
  async function standing(input: { tx: Db; customer: string; feature: string; now: number }): Promise<Decision> {
    const { catalog, resolved } = await deps.snapshot(input.customer);
    const entitlement = resolved?.entitlements.get(input.feature);
    if (!resolved || !entitlement) {
      return unknownDecision({
        customer: input.customer,
        feature: input.feature,
        reason: resolved ? 'unknown_feature' : 'unknown_customer',
      });
    }
    const counted = countedAs({
      catalog,
      resolved,
      entitlement,
      customer: input.customer,
      now: input.now,
      upgrades: false,
    });
    const usage = counted.span ? await readUsage(input.tx, { customerId: input.customer, ...counted.span }) : 0;
    const credits = counted.span
      ? creditsLeft(
          await loadCreditBalances(input.tx, {
            customerId: input.customer,
            feature: counted.counter.feature,
            now: input.now,
          }),
        )
      : undefined;
    return counted.decideAt({ usage, quantity: 0, credits });
  }

  async function settle(input: {
    id: string;
    status: 'committed' | 'released';
    quantity?: number | undefined;
    claim: EffectClaim | undefined;
  }): Promise<ReservationAnswer> {
    const now = clock.now();
    const existing = await db.selectFrom('reservations').selectAll().where('id', '=', input.id).executeTakeFirst();
    if (!existing) throw notFound(ErrorCodes.notFound, `Reservation "${input.id}" does not exist.`);
    const request = { customer: existing.customer_id, feature: existing.feature, quantity: Number(existing.quantity) };
    // Read before the transaction: on SQLite it holds the only connection.
    const aggregation = aggregationOf(await deps.catalog(), existing);
    // Only a commit can take usage up; a release gives units back, which re-arms nothing.
    const alerting = input.status === 'committed' ? await alerts.commit({ row: existing, now }) : null;
    const seen: string[] = [];
    const row = await withTransaction({ db, claim: input.claim }, async (tx) => {
      const claimed = await tx
        .updateTable('reservations')
        .set({
          status: input.status,
          committed_quantity: input.status === 'committed' ? (input.quantity ?? Number(existing.quantity)) : null,
          settled_at: now,
        })
        .where('id', '=', input.id)
        .where('status', '=', 'held')
        .where('expires_at', '>', now)
        .returningAll()
        .executeTakeFirst();
      if (!claimed) return null;
      const held = Number(claimed.quantity);
      const delta = input.status === 'committed' ? Number(claimed.committed_quantity) - held : -held;
      await adjustCounter(tx, { dialect: deps.dialect, row: claimed, delta, aggregation, now });
      if (alerting) {
        const usage = await readUsage(tx, { customerId: claimed.customer_id, ...alerting.span });
        const watch = alerting.watch({ usage, refused: false });
        if (watch) await fireAlerts(tx, { watches: [watch], now, seen });
      }
      return claimed;
    });
    rememberFired(seen);
    if (!row) {
      const state = existing.status === 'held' ? 'expired' : existing.status;
      throw conflict(ErrorCodes.conflict, `Reservation "${input.id}" is already ${state}.`);
    }
    return {
      row,
      request,
      decision: await standing({ tx: db, customer: request.customer, feature: request.feature, now }),
    };
  }

  return {
    async create(input: { body: ReservationCreate; claim?: EffectClaim | undefined }): Promise<ReservationAnswer> {
      const { body } = input;
      const request = { customer: body.customer, feature: body.feature, quantity: body.quantity };
      const { catalog, resolved } = await deps.snapshot(body.customer);
      const now = clock.now();
      const gate = meteredTarget({
        catalog,
        resolved,
        customer: body.customer,
        feature: body.feature,
        quantity: body.quantity,
        now,
        verb: 'reserved',
      });
      if ('answer' in gate) return { row: null, request, decision: gate.answer };
      const { counted, span, cost, limit, allowance, credited } = gate.target;
      const watch = await alerts.hold({ resolved: resolved!, customer: body.customer, target: gate.target, now });
      const seen: string[] = [];
      const answer = await withTransaction({ db, claim: input.claim }, async (tx): Promise<ReservationAnswer> => {
        const grant = await grantUnits({
          tx,
          dialect: deps.dialect,
          customerId: body.customer,
          span,
          quantity: cost,
          limit,
          allowance,
          credited,
          windowed: counted.counter.window !== null,
          now,
        });
        const before = grant.granted ? grant.usage - cost : grant.usage;
        const decision = counted.decideAt({ usage: before, quantity: body.quantity, credits: grant.credits });
        // A hold's units count as used from now on: alerts fire as for a consume of them.
        const alert = watch?.({ usage: grant.usage, refused: !grant.granted });
        if (alert) await fireAlerts(tx, { watches: [alert], now, seen });
        if (!grant.granted) return { row: null, request, decision };
        const row: ReservationRow = {
          id: newId('rsv'),
          customer_id: body.customer,
          feature: body.feature,
          period_start: grant.periodStart,
          quantity: body.quantity,
          status: 'held',
          committed_quantity: null,
          expires_at: now + (body.ttl_seconds ?? 300) * 1000,
          created_at: now,
          settled_at: null,
          counter_feature: counted.pooled ? counted.counter.feature : null,
          per_unit: counted.pooled ? counted.perUnit : null,
          credit_allowance: credited ? allowance : null,
        };
        await tx.insertInto('reservations').values(row).execute();
        return { row, request, decision: grantedDecision(decision, { usage: grant.usage, spent: cost }) };
      });
      rememberFired(seen);
      return answer;
    },

    commit(input: {
      id: string;
      body: ReservationCommit;
      claim?: EffectClaim | undefined;
    }): Promise<ReservationAnswer> {
      return settle({ id: input.id, status: 'committed', quantity: input.body.quantity, claim: input.claim });
    },

    release(input: { id: string; claim?: EffectClaim | undefined }): Promise<ReservationAnswer> {
      return settle({ id: input.id, status: 'released', claim: input.claim });
    },

    /** Gives back the units of holds past their expiry; safe to run on every node at once. */
    async expireDue(): Promise<number> {
      const now = clock.now();
      // A read first: the sweep runs every second on every node, and a write transaction opened
      // for nothing would, on SQLite, wait for (and freeze the event loop behind) any other
      // process's write lock.
      const due = await db
        .selectFrom('reservations')
        .select('id')
        .where('status', '=', 'held')
        .where('expires_at', '<=', now)
        .limit(1)
        .executeTakeFirst();
      if (!due) return 0;
      const catalog = await deps.catalog();
      return withTransaction(db, async (tx) => {
        const expired = await tx
          .updateTable('reservations')
          .set({ status: 'expired', settled_at: now })
          .where('status', '=', 'held')
          .where('expires_at', '<=', now)
          .returningAll()
          .execute();
        for (const row of expired) {
          const aggregation = aggregationOf(catalog, row);
          await adjustCounter(tx, { dialect: deps.dialect, row, delta: -Number(row.quantity), aggregation, now });
        }
        return expired.length;
      });
    },
  };
}
