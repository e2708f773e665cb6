import {
  type Amounts,
  type Catalog,
  type CountedAs,
  countedAs,
  type FeatureUse,
  flagsOf,
  type Grant,
  grantsBehind,
  invalid,
  isGrantActive,
  isLive,
  type PricedItems,
  type RevenueLine,
  resolve,
  revenueOver,
  type SubscriptionSpan,
  subscriptionSpans,
  type UsageRevenueFlag,
  UsageRevenueFlags,
  unpaidAccessMs,
  utilization,
} from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { readUsage } from '../counters/store.js';
import type { CustomerRecord } from '../customers/convert.js';
import type { PlanRecord } from '../plans/convert.js';
import { listNonDraftPlanVersions } from '../plans/store.js';
import type { SubscriptionRecord } from '../subscriptions/convert.js';
import {
  counterKey,
  findCustomers,
  listCountersAt,
  listGrantsGivenBy,
  listReportedCustomers,
  listSubscriptionStates,
  type StoredPage,
  sumUsageHistory,
} from './store.js';

/** The longest range a report covers. */
export const maxRangeDays = 400;
const dayMs = 86_400_000;
/** Customers read per round of queries (each round is a handful of set-wise reads). */
const pageSize = 1000;

/** One customer's row of the report, with the evidence behind its numbers. */
export interface UsageRevenueRow {
  customer: string;
  /** The base plan at the end of the range (or when their last subscription in it ended). */
  plan: string;
  /** Revenue in the plan's currency; `by_currency` has every currency when there are several. */
  revenue: { amount: number; currency: string; byCurrency: Amounts };
  features: (FeatureUse & {
    utilization: number | null;
    period: { start: number; end: number } | null;
    /** Where the limit came from: the plan, an add-on, a grant, a targeting rule or the default. */
    source: string | null;
    /** The subscription whose plan or add-on the limit came from, if it did. */
    subscription: string | null;
    /** The grants applying to the feature at the end of the range (a comped limit, added units, credits). */
    grants: string[];
  })[];
  flags: UsageRevenueFlag[];
  evidence: {
    /** Every subscription with time in the range. */
    subscriptions: string[];
    /** The subscriptions' stretches in the range, and what each earned. */
    revenue: RevenueLine[];
    /** Features held only through grants (access that earns nothing). */
    grantedOnly: string[];
    /** The grants applying at the end of the range, each with its feature. */
    grants: { grant: string; feature: string }[];
    /** Time in the range with access that earned nothing (trial, past due), in milliseconds. */
    unpaidAccessMs: number;
  };
}

export interface UsageRevenueTotals {
  customers: number;
  revenue: Amounts;
  flags: Record<UsageRevenueFlag, number>;
}

export interface UsageRevenueReport {
  from: number;
  to: number;
  data: UsageRevenueRow[];
  /** Per plan: customers, revenue, flag counts and the mean utilization of each limited feature. */
  plans: Record<string, UsageRevenueTotals & { utilization: Record<string, number> }>;
  totals: UsageRevenueTotals;
}

export interface UsageRevenueInput {
  from: number;
  to: number;
  plan?: string | undefined;
  flag?: UsageRevenueFlag | undefined;
}

/** A report being read: its rows a page at a time, then the totals over them. */
export interface UsageRevenuePages {
  from: number;
  to: number;
  pages(): AsyncGenerator<UsageRevenueRow[]>;
  summary(): Pick<UsageRevenueReport, 'plans' | 'totals'>;
}

/**
 * The usage-vs-revenue audit (SPEC: "Usage-vs-revenue report"): per customer with a subscription
 * in the range, what it earned — each plan's and add-on's price per billing period, prorated by
 * the share of the period inside the range; trial, paused, past-due and canceled time earn 0 —
 * against how much of each limited feature they used, with the flags finance acts on. Limits and
 * usage are those of each feature's last usage period in the range. The arithmetic is core's
 * (`revenueOver`, `resolve`, `flagsOf`); this reads the history it runs on, a page of customers
 * at a time, each read set-wise for the whole page.
 */
export type UsageRevenueService = ReturnType<typeof createUsageRevenueReport>;

export function createUsageRevenueReport(deps: { db: Db; clock: Clock; catalog: () => Catalog | Promise<Catalog> }) {
  const { db, clock } = deps;

  /** Every published or archived plan version by `key@version`, for prices. */
  async function planVersions(): Promise<Map<string, PlanRecord>> {
    const versions = await listNonDraftPlanVersions(db);
    return new Map(versions.map((v) => [`${v.key}@${v.version}`, v]));
  }

  function pricedItems(versions: Map<string, PlanRecord>): PricedItems {
    return (subscription) => {
      const items: SubscriptionSpan['items'][number][] = [];
      const base = versions.get(`${subscription.planKey}@${subscription.planVersion}`);
      if (base?.price) items.push({ plan: base.key, price: base.price, quantity: 1 });
      for (const addOn of subscription.addOns) {
        const version = versions.get(`${addOn.planKey}@${addOn.planVersion}`);
        if (version?.price) items.push({ plan: version.key, price: version.price, quantity: addOn.quantity });
      }
      return items;
    };
  }

  /**
   * Checks the input and reads what every page needs (400 `invalid` before anything is
   * answered), then yields the report's rows a page of customers at a time; `summary` has the
   * totals once every page has been taken.
   */
  async function open(input: UsageRevenueInput): Promise<UsageRevenuePages> {
    const { from, to } = input;
    if (!(to > from)) throw invalid([{ path: '/querystring/to', message: 'must be after from' }]);
    if (to - from > maxRangeDays * dayMs) {
      throw invalid([{ path: '/querystring/to', message: `must be at most ${maxRangeDays} days after from` }]);
    }
    const [versions, catalog] = await Promise.all([planVersions(), deps.catalog()]);
    if (input.plan !== undefined && ![...versions.values()].some((v) => v.key === input.plan)) {
      throw invalid([{ path: '/querystring/plan', message: `unknown plan "${input.plan}"` }]);
    }
    const until = Math.min(to, clock.now());
    const page = { from, until, items: pricedItems(versions), catalog };
    // The customer list in one read (a page read with `> after` made PostgreSQL sort the whole
    // history again for every page), then a page of them at a time.
    const everyone = await listReportedCustomers(db, { until });
    const tally = createTally();
    let done = false;
    return {
      from,
      to,
      async *pages() {
        const read = (start: number) => {
          const reading = readPage({ ...page, customers: everyone.slice(start, start + pageSize) });
          // Awaited below; a report abandoned half-way (the client went) leaves it unawaited.
          reading.catch(() => undefined);
          return reading;
        };
        let next = everyone.length > 0 ? read(0) : undefined;
        for (let start = 0; next; start += pageSize) {
          const stored = await next;
          // The next page's reads go to the database while this page is computed and sent.
          next = start + pageSize < everyone.length ? read(start + pageSize) : undefined;
          const rows: UsageRevenueRow[] = [];
          for (const row of await rowsOf({ ...page, stored })) {
            if (input.plan !== undefined && row.plan !== input.plan) continue;
            if (input.flag !== undefined && !row.flags.includes(input.flag)) continue;
            tally.add(row);
            rows.push(row);
          }
          if (rows.length > 0) yield rows;
        }
        done = true;
      },
      summary() {
        if (!done) throw new Error('the report’s summary is known once every page has been read');
        return tally.result();
      },
    };
  }

  return { open };

  /** What a page of customers' rows are computed from, read set-wise for the page. */
  async function readPage(input: { customers: string[]; from: number; until: number }): Promise<StoredPage> {
    const { customers, from, until } = input;
    const [states, records, grants, usedInRange] = await Promise.all([
      listSubscriptionStates(db, { customerIds: customers, until }),
      findCustomers(db, customers),
      listGrantsGivenBy(db, { customerIds: customers, at: until - 1 }),
      sumUsageHistory(db, { customerIds: customers, from, until }),
    ]);
    return { customers, states, records, grants, usedInRange };
  }

  /**
   * The rows of a page of customers, from their history, records, grants and usage read for the
   * page: each customer resolved as they stood at the end of the range (`resolve`, as a snapshot
   * at that instant does) and their revenue computed from their spans.
   */
  async function rowsOf(input: {
    stored: StoredPage;
    from: number;
    until: number;
    items: PricedItems;
    catalog: Catalog;
  }): Promise<UsageRevenueRow[]> {
    const { from, until, catalog } = input;
    const { customers, states, records, grants, usedInRange } = input.stored;
    const at = until - 1;
    const pending: Pending[] = [];
    for (const customer of customers) {
      const record = records.get(customer);
      const bySubscription = states.get(customer);
      if (!record || !bySubscription) continue;
      const spans = [...bySubscription.values()]
        .flatMap((list) => subscriptionSpans({ states: list, until, items: input.items }))
        .filter((span) => span.to > from);
      if (spans.length === 0) continue;
      const customerGrants = grants.get(customer) ?? [];
      const subscription = subscriptionAt(bySubscription, at);
      const resolved = resolve({
        catalog,
        state: { customer: record satisfies CustomerRecord, subscription, grants: customerGrants },
        now: at,
      });
      const counted: CountedAs[] = [];
      for (const entitlement of resolved.entitlements.values()) {
        if (!entitlement.enabled || entitlement.limit === null || entitlement.unlimited) continue;
        counted.push(countedAs({ catalog, resolved, entitlement, customer, now: at, upgrades: false }));
      }
      pending.push({ customer, spans, resolved, counted, grants: customerGrants, subscription });
    }
    const usage = await usageOf(pending);
    const context = { from, until, at, usage, usedInRange };
    return pending.map((p) => rowOf(p, context));
  }

  /**
   * The usage each counted feature is decided against, by customer and span key: the counters of
   * single periods (and gauges' levels) in one read for the page; a rolling window's buckets one
   * read each.
   */
  async function usageOf(pending: readonly Pending[]): Promise<Map<string, Map<string, number>>> {
    const usage = new Map<string, Map<string, number>>();
    const set = (customer: string, key: string, value: number) => {
      const of = usage.get(customer);
      if (of) of.set(key, value);
      else usage.set(customer, new Map([[key, value]]));
    };
    const periodStarts = new Set<number>();
    const windows: Promise<void>[] = [];
    for (const { customer, counted } of pending) {
      for (const { span } of counted) {
        if (span === null) continue;
        if (span.from === span.to) periodStarts.add(span.from);
        else {
          windows.push(
            readUsage(db, { customerId: customer, ...span }).then((value) => {
              set(customer, span.key, value);
            }),
          );
        }
      }
    }
    const counters = await listCountersAt(db, {
      customerIds: pending.map((p) => p.customer),
      periodStarts: [...periodStarts],
    });
    await Promise.all(windows);
    for (const { customer, counted } of pending) {
      const of = counters.get(customer);
      for (const { span } of counted) {
        if (span === null || span.from !== span.to) continue;
        set(customer, span.key, of?.get(counterKey(span.feature, span.from)) ?? 0);
      }
    }
    return usage;
  }

  function rowOf(
    input: Pending,
    context: {
      from: number;
      until: number;
      at: number;
      usage: Map<string, Map<string, number>>;
      usedInRange: Map<string, Map<string, number>>;
    },
  ): UsageRevenueRow {
    const { customer, spans, resolved } = input;
    const { from, until, at } = context;
    const range = { from, to: until };
    const { lines, total } = revenueOver(spans, range);
    const last = spans.reduce((latest, span) => (span.to > latest.to ? span : latest));
    const currency = last.items[0]?.price.currency ?? Object.keys(total)[0] ?? 'usd';
    // Limits and usage of each feature's usage period at the end of the range.
    const usage = context.usage.get(customer);
    const usedInRange = context.usedInRange.get(customer);
    const features: UsageRevenueRow['features'] = [];
    const grantedOnly: string[] = [];
    for (const entitlement of resolved.entitlements.values()) {
      if (entitlement.enabled && entitlement.source === 'grant') grantedOnly.push(entitlement.feature);
    }
    for (const counted of input.counted) {
      const { entitlement, span } = counted;
      const decision = counted.decideAt({
        usage: span ? (usage?.get(span.key) ?? 0) : 0,
        quantity: 0,
      });
      const recorded = usedInRange?.get(entitlement.feature) ?? 0;
      const use: FeatureUse = {
        feature: entitlement.feature,
        limit: entitlement.limit,
        usage: decision.usage ?? 0,
        // A gauge keeps a level, not a history: in use when its level is.
        usedInRange: entitlement.type === 'gauge' ? Math.max(recorded, decision.usage ?? 0) : recorded,
        paid: entitlement.source === 'plan' || entitlement.source === 'addon',
      };
      features.push({
        feature: use.feature,
        limit: use.limit,
        usage: use.usage,
        usedInRange: use.usedInRange,
        paid: use.paid,
        utilization: utilization(use),
        period: entitlement.period && { start: entitlement.period.start, end: entitlement.period.end },
        source: entitlement.source,
        subscription:
          (entitlement.source === 'plan' || entitlement.source === 'addon') && input.subscription
            ? input.subscription.id
            : null,
        grants: grantsBehind(input.grants, entitlement.feature, at),
      });
    }
    const unpaid = unpaidAccessMs(spans, range);
    return {
      customer,
      plan: last.plan,
      revenue: { amount: total[currency] ?? 0, currency, byCurrency: total },
      features,
      flags: flagsOf({ features, unpaidAccessMs: unpaid, grantedOnly }),
      evidence: {
        subscriptions: [...new Set(spans.map((span) => span.subscriptionId))],
        revenue: lines,
        grantedOnly,
        grants: input.grants
          .filter((grant) => isGrantActive(grant, at))
          .map((grant) => ({ grant: grant.id, feature: grant.feature })),
        unpaidAccessMs: unpaid,
      },
    };
  }
}

/** One customer of a page, resolved, waiting for its usage. */
interface Pending {
  customer: string;
  spans: SubscriptionSpan[];
  resolved: ReturnType<typeof resolve>;
  counted: CountedAs[];
  grants: readonly Grant[];
  subscription: SubscriptionRecord | null;
}

/**
 * The customer's subscription as it stood at `at` (as a snapshot at that instant reads it): of
 * every subscription's last recorded state by then, the one live at that instant, else the newest.
 */
function subscriptionAt(
  bySubscription: ReadonlyMap<string, readonly { at: number; subscription: SubscriptionRecord }[]>,
  at: number,
): SubscriptionRecord | null {
  const latest: SubscriptionRecord[] = [];
  for (const list of bySubscription.values()) {
    let state: SubscriptionRecord | undefined;
    for (const entry of list) if (entry.at <= at) state = entry.subscription;
    if (state) latest.push(state);
  }
  latest.sort((a, b) => (a.id < b.id ? 1 : -1));
  return latest.find((s) => isLive(s, at)) ?? latest[0] ?? null;
}

function emptyFlags(): Record<UsageRevenueFlag, number> {
  return Object.fromEntries(UsageRevenueFlags.map((flag) => [flag, 0])) as Record<UsageRevenueFlag, number>;
}

/** Totals per plan and overall, added to a row at a time. */
function createTally() {
  const overall: UsageRevenueTotals = { customers: 0, revenue: {}, flags: emptyFlags() };
  const plans = new Map<string, { totals: UsageRevenueTotals; sums: Map<string, { sum: number; count: number }> }>();
  function count(totals: UsageRevenueTotals, row: UsageRevenueRow) {
    totals.customers++;
    for (const [currency, amount] of Object.entries(row.revenue.byCurrency)) {
      totals.revenue[currency] = (totals.revenue[currency] ?? 0) + amount;
    }
    for (const flag of row.flags) totals.flags[flag]++;
  }
  return {
    add(row: UsageRevenueRow) {
      count(overall, row);
      let plan = plans.get(row.plan);
      if (!plan) {
        plan = { totals: { customers: 0, revenue: {}, flags: emptyFlags() }, sums: new Map() };
        plans.set(row.plan, plan);
      }
      count(plan.totals, row);
      for (const feature of row.features) {
        if (feature.utilization === null || !Number.isFinite(feature.utilization)) continue;
        const entry = plan.sums.get(feature.feature) ?? { sum: 0, count: 0 };
        entry.sum += feature.utilization;
        entry.count++;
        plan.sums.set(feature.feature, entry);
      }
    },
    result(): Pick<UsageRevenueReport, 'plans' | 'totals'> {
      const byPlan: UsageRevenueReport['plans'] = {};
      for (const [key, { totals, sums }] of plans) {
        byPlan[key] = {
          ...totals,
          utilization: Object.fromEntries([...sums].map(([feature, { sum, count }]) => [feature, sum / count])),
        };
      }
      return { plans: byPlan, totals: overall };
    },
  };
}
