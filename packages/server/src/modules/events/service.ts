import type { IngestResult } from '@keymaster/contract';
import {
  type AlertRule,
  alertPeriod,
  type Catalog,
  type CustomerEntitlements,
  contributions,
  counterPeriodStart,
  creditPoolOf,
  type Entitlement,
  type FieldError,
  type MeterContribution,
  metersByEventType,
  poolCost,
  readCloudEvent,
  readEvent,
  type UsageEvent,
  usageSpan,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { DatabaseHandle, Db } from '../../db/database.js';
import type { AlertRuleCache } from '../alerts/rule-cache.js';
import { type BatchPlan, type BatchWriter, creditKey } from './batch-writer.js';
import { type EventMediaType, readEventBody } from './event-body.js';
import { existingCustomers } from './store.js';

export type EventService = ReturnType<typeof createEventService>;

export type EventFormat = 'keymaster' | 'cloudevents';

/** What `POST /v1/events` is sent: its body as it arrived, of a media type it takes. */
export interface EventRequest {
  body: Uint8Array | undefined;
  mediaType: EventMediaType;
}

/**
 * Takes the body of `POST /v1/events` (see `readEventBody`) and ingests it: answers the batch's
 * counts, or fails with the domain error that refused all of it.
 */
export interface EventIngester {
  ingest(input: EventRequest): Promise<IngestResult>;
  close(): Promise<void>;
}

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
 * Notes what an event adds to each counter it feeds (a pool's share included), and in which
 * period — for the features the customer is entitled to now. Counters of customers holding
 * one-off credits are noted with their allowance.
 */
function planAdds(input: {
  catalog: Catalog;
  resolved: CustomerEntitlements;
  event: UsageEvent;
  index: number;
  contributions: MeterContribution[];
  plan: BatchPlan;
  /** The alert rules watching a feature of this customer (see AlertRuleCache.rulesFor). */
  rulesFor: ((feature: string) => readonly AlertRule[]) | undefined;
}): void {
  const { resolved, event, plan } = input;
  const add = (entitlement: Entitlement, contribution: MeterContribution) => {
    const { adds } = plan;
    const periodStart = counterPeriodStart({ entitlement, at: event.timestamp });
    adds.event.push(input.index);
    adds.feature.push(contribution.feature);
    adds.aggregation.push(contribution.aggregation);
    adds.amount.push(contribution.amount);
    adds.distinct.push(contribution.distinct);
    adds.periodStart.push(periodStart);
    if (input.rulesFor) watch({ entitlement, contribution, periodStart });
  };
  // A counter alert rules watch, or one with a limit, is checked for alerts once written.
  const watch = (target: { entitlement: Entitlement; contribution: MeterContribution; periodStart: number }) => {
    const { entitlement, contribution, periodStart } = target;
    const key = `${event.customerId}\u0000${contribution.feature}\u0000${periodStart}`;
    if (plan.watches.has(key)) return;
    const rules = input.rulesFor!(contribution.feature);
    if (rules.length === 0 && entitlement.limit === null) return;
    const windowed = entitlement.window !== null;
    const span = windowed ? usageSpan({ catalog: input.catalog, entitlement, now: plan.now }) : null;
    plan.watches.set(key, {
      customerId: event.customerId,
      feature: contribution.feature,
      aggregation: contribution.aggregation,
      from: span ? span.from : periodStart,
      to: span ? span.to : periodStart,
      limit: entitlement.limit,
      period: alertPeriod({ entitlement, now: windowed ? plan.now : event.timestamp }),
      windowed,
      rules,
      credited: entitlement.limit !== null && entitlement.credits > 0,
    });
    if (entitlement.limit !== null && entitlement.credits > 0) {
      plan.creditAllowances.set(creditKey(event.customerId, contribution.feature), entitlement.limit);
    }
  };
  for (const contribution of input.contributions) {
    const entitlement = resolved.entitlements.get(contribution.feature);
    if (!entitlement?.enabled) continue;
    add(entitlement, contribution);
    const drawn = poolContribution({ catalog: input.catalog, resolved, contribution });
    if (drawn) add(drawn.pool, drawn.contribution);
  }
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
  /** SQLite's read-only connection, if any (see `DatabaseHandle.readNow`). */
  readNow: DatabaseHandle['readNow'];
  /** Where planned batches are written: on SQLite, a thread of its own. */
  writer: BatchWriter;
  clock: Clock;
  catalog: () => Catalog | Promise<Catalog>;
  /** A customer's entitlements now, or null for a customer the cache does not know. */
  entitlementsOf: (customerId: string) => CustomerEntitlements | null | Promise<CustomerEntitlements | null>;
  /** The alert rules; without them no alert fires (a dry run, a one-off import). */
  alerts?: AlertRuleCache | undefined;
}) {
  const { db, clock } = deps;
  const service = {
    /** `now`: when the batch was received, when not now (a batch planned on another thread). */
    async ingest(input: { events: unknown[]; format: EventFormat; now?: number }): Promise<IngestResult> {
      const now = input.now ?? clock.now();
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
      // Customers are looked up in the cached snapshots; those the cache does not know are asked
      // of the database (one created on another node may not have reached this one's cache yet).
      const entitlements = new Map<string, CustomerEntitlements | null>();
      for (const { event } of valid) {
        if (entitlements.has(event.customerId)) continue;
        const found = deps.entitlementsOf(event.customerId);
        entitlements.set(event.customerId, found instanceof Promise ? await found : found);
      }
      const uncached = [...entitlements].filter(([, resolved]) => resolved === null).map(([id]) => id);
      const known = await existingCustomers({ db, readNow: deps.readNow, ids: uncached });
      const plan: BatchPlan = {
        now,
        events: { source: [], id: [], customerId: [], type: [], timestamp: [], properties: [] },
        adds: { event: [], feature: [], aggregation: [], amount: [], distinct: [], periodStart: [] },
        creditAllowances: new Map(),
        watches: new Map(),
      };
      const { alerts } = deps;
      const loaded = alerts?.get();
      const ruleIndex = loaded instanceof Promise ? await loaded : loaded;
      const { events } = plan;
      for (const { index, event, adds } of valid) {
        const resolved = entitlements.get(event.customerId);
        if (!resolved && !known.has(event.customerId)) {
          rejected.push({ index, error: `unknown customer "${event.customerId}"` });
          continue;
        }
        if (resolved) {
          const rulesFor =
            alerts && ruleIndex ? (feature: string) => alerts.rulesFor(ruleIndex, { resolved, feature }) : undefined;
          planAdds({ catalog, resolved, event, index: events.id.length, contributions: adds, plan, rulesFor });
        }
        events.source.push(event.source);
        events.id.push(event.id);
        events.customerId.push(event.customerId);
        events.type.push(event.type);
        events.timestamp.push(event.timestamp);
        events.properties.push(JSON.stringify(event.properties));
      }
      rejected.sort((a, b) => a.index - b.index);
      const accepted = await deps.writer.write(plan);
      return { accepted, duplicates: events.id.length - accepted, rejected };
    },
    /** A request body as it arrived: read, then ingested (see `readEventBody`). */
    async ingestBody(input: EventRequest & { now?: number }): Promise<IngestResult> {
      return service.ingest({ ...readEventBody(input), now: input.now });
    },
  };
  return service;
}
