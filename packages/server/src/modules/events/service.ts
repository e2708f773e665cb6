import type { IngestResult } from '@keymaster/contract';
import {
  type Catalog,
  type CustomerEntitlements,
  contributions,
  counterPeriodStart,
  creditPoolOf,
  type Entitlement,
  type FieldError,
  historyHour,
  type MeterAggregation,
  type MeterContribution,
  metersByEventType,
  poolCost,
  readCloudEvent,
  readEvent,
  type UsageEvent,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import { withTransaction } from '../../db/transaction.js';
import { recordWithCredits } from '../usage/grant-units.js';
import { applyCounterChanges, type CounterChange, type HourChange } from '../usage/store.js';
import { eventKey, existingCustomers, insertNewEvents } from './store.js';

export type EventService = ReturnType<typeof createEventService>;

export type EventFormat = 'keymaster' | 'cloudevents';

function describe(errors: FieldError[]): string {
  return errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
}

const meterIndexes = new WeakMap<Catalog, ReturnType<typeof metersByEventType>>();
function metersOf(catalog: Catalog) {
  let index = meterIndexes.get(catalog);
  if (!index) {
    index = metersByEventType(catalog.features.values());
    meterIndexes.set(catalog, index);
  }
  return index;
}

/** Folds one reading into what a batch has so far for a counter or an hour of it. */
function fold(input: {
  aggregation: MeterAggregation;
  so: HourChange | undefined;
  amount: number;
  at: number;
}): HourChange {
  const { so, amount, at } = input;
  if (!so) return { amount, observedAt: at };
  switch (input.aggregation) {
    case 'max':
      return { amount: Math.max(so.amount, amount), observedAt: so.observedAt };
    case 'latest':
      return at >= so.observedAt ? { amount, observedAt: at } : so;
    default:
      return { amount: so.amount + amount, observedAt: so.observedAt };
  }
}

/** Adds one event's contribution to the batch's combined change for that counter and its hour. */
function combine(input: {
  changes: Map<string, CounterChange>;
  event: UsageEvent;
  contribution: MeterContribution;
  periodStart: number;
}): void {
  const { changes, event, contribution, periodStart } = input;
  const key = `${event.customerId}\u0000${contribution.feature}\u0000${periodStart}`;
  const { aggregation, amount } = contribution;
  const at = event.timestamp;
  const hour = historyHour(at);
  let change = changes.get(key);
  if (!change) {
    change = {
      customerId: event.customerId,
      feature: contribution.feature,
      periodStart,
      aggregation,
      amount: aggregation === 'unique_count' ? 0 : amount,
      observedAt: at,
      distinct: new Map(),
      hours: new Map(),
    };
    changes.set(key, change);
  } else if (aggregation !== 'unique_count') {
    const total = fold({ aggregation, so: change, amount, at });
    change.amount = total.amount;
    change.observedAt = total.observedAt;
  }
  if (aggregation === 'unique_count') {
    const value = contribution.distinct;
    if (value !== null) change.distinct.set(value, Math.min(change.distinct.get(value) ?? hour, hour));
    return;
  }
  change.hours.set(hour, fold({ aggregation, so: change.hours.get(hour), amount, at }));
}

/**
 * What an event's contribution to a feature drawing from a credit pool adds to the pool: its
 * amount times the cost per unit, counted in the pool's own period — while the pool is on.
 */
function poolContribution(input: {
  catalog: Catalog;
  resolved: CustomerEntitlements;
  contribution: MeterContribution;
}): { pool: Entitlement; contribution: MeterContribution } | null {
  const feature = input.catalog.features.get(input.contribution.feature);
  const cost = feature ? creditPoolOf(feature) : null;
  if (!cost) return null;
  const pool = input.resolved.entitlements.get(cost.pool);
  if (!pool?.enabled) return null;
  return {
    pool,
    contribution: {
      feature: cost.pool,
      aggregation: 'sum',
      amount: poolCost({ perUnit: cost.perUnit, quantity: input.contribution.amount }),
      distinct: null,
    },
  };
}

/**
 * Usage event ingestion. Each event is read on its own, so a bad one is reported by its index
 * and the rest are stored. Events for customers Keymaster does not know are rejected and not
 * stored (PUT the customer first): usage that nobody can be entitled to would otherwise pile up
 * unseen. New events and the usage they add to each metered feature's counter (in the period
 * the event's own time falls in) are written in one transaction, and the answer is given only
 * after it commits: a duplicate adds nothing, a crash loses nothing acknowledged.
 *
 * A feature counts an event only while the customer is entitled to it (its period comes from
 * the entitlement's reset or window). A feature drawing from a credit pool also adds `amount ×
 * per_unit` to the pool (while both are on); usage past the allowance of a customer with one-off
 * credit grants is drawn from them, as a consume would.
 */
export function createEventService(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  catalog: () => Catalog | Promise<Catalog>;
  entitlementsOf: (customerId: string) => CustomerEntitlements | null | Promise<CustomerEntitlements | null>;
}) {
  const { db, clock } = deps;
  return {
    async ingest(input: { events: unknown[]; format: EventFormat }): Promise<IngestResult> {
      const now = clock.now();
      const read = input.format === 'cloudevents' ? readCloudEvent : readEvent;
      const rejected: IngestResult['rejected'] = [];
      const catalog = await deps.catalog();
      const meters = metersOf(catalog);
      const valid: { index: number; event: UsageEvent; adds: MeterContribution[] }[] = [];
      for (const [index, raw] of input.events.entries()) {
        const result = read({ raw, now });
        if ('errors' in result) {
          rejected.push({ index, error: describe(result.errors) });
          continue;
        }
        const counted = contributions({ event: result.event, meters: meters.get(result.event.type) ?? [] });
        if ('error' in counted) rejected.push({ index, error: counted.error });
        else valid.push({ index, event: result.event, adds: counted.contributions });
      }
      const known = await existingCustomers(db, [...new Set(valid.map((v) => v.event.customerId))]);
      const storable = valid.filter(({ index, event }) => {
        if (known.has(event.customerId)) return true;
        rejected.push({ index, error: `unknown customer "${event.customerId}"` });
        return false;
      });
      rejected.sort((a, b) => a.index - b.index);
      // Entitlements are read before the transaction: on SQLite it holds the only connection.
      const entitlements = new Map<string, CustomerEntitlements | null>();
      for (const { event, adds } of storable) {
        if (adds.length > 0 && !entitlements.has(event.customerId)) {
          const resolved = deps.entitlementsOf(event.customerId);
          entitlements.set(event.customerId, resolved instanceof Promise ? await resolved : resolved);
        }
      }
      return withTransaction(db, async (tx) => {
        const inserted = await insertNewEvents(tx, {
          events: storable.map((v) => v.event),
          receivedAt: now,
          dialect: deps.dialect,
        });
        let accepted = 0;
        const counted = new Set<string>();
        const changes = new Map<string, CounterChange>();
        for (const { event, adds } of storable) {
          const key = eventKey(event.source, event.id);
          // A repeat within the batch is a duplicate too: only its first occurrence counts.
          if (!inserted.has(key) || counted.has(key)) continue;
          counted.add(key);
          accepted++;
          const resolved = entitlements.get(event.customerId);
          for (const contribution of adds) {
            const entitlement = resolved?.entitlements.get(contribution.feature);
            if (!entitlement?.enabled) continue;
            const periodStart = counterPeriodStart({ entitlement, at: event.timestamp });
            combine({ changes, event, contribution, periodStart });
            const drawn = poolContribution({ catalog, resolved: resolved!, contribution });
            if (drawn) {
              const poolStart = counterPeriodStart({ entitlement: drawn.pool, at: event.timestamp });
              combine({ changes, event, contribution: drawn.contribution, periodStart: poolStart });
            }
          }
        }
        // Counters of customers with one-off credits go through the credit-drawing path; the rest
        // are applied in bulk. Both write each counter's hours to the usage history (a pool's
        // hours hold what every drawing feature's events cost it).
        const plain: CounterChange[] = [];
        for (const change of changes.values()) {
          const counter = entitlements.get(change.customerId)?.entitlements.get(change.feature);
          const summed = change.aggregation === 'count' || change.aggregation === 'sum';
          if (!counter || counter.limit === null || counter.credits <= 0 || !summed) {
            plain.push(change);
            continue;
          }
          await recordWithCredits({
            tx,
            dialect: deps.dialect,
            customerId: change.customerId,
            feature: change.feature,
            periodStart: change.periodStart,
            amount: change.amount,
            hours: change.hours,
            allowance: counter.limit,
            now,
          });
        }
        await applyCounterChanges(tx, { changes: plain, now });
        return { accepted, duplicates: storable.length - accepted, rejected };
      });
    },
  };
}
