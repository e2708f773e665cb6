import {
  type Amounts,
  ErrorCodes,
  type FeatureUse,
  flagsOf,
  invalid,
  notFound,
  type PricedItems,
  type RevenueLine,
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
import type { EntitlementService } from '../entitlements/service.js';
import type { PlanRecord } from '../plans/convert.js';
import { listNonDraftPlanVersions } from '../plans/store.js';
import { fromDbSubscription } from '../subscriptions/convert.js';

/** The longest range a report covers. */
export const maxRangeDays = 400;
const dayMs = 86_400_000;
/** Customers read per round of queries. */
const batchSize = 500;

/** One customer's row of the report, with the evidence behind its numbers. */
export interface UsageRevenueRow {
  customer: string;
  /** The base plan at the end of the range (or when their last subscription in it ended). */
  plan: string;
  /** Revenue in the plan's currency; `by_currency` has every currency when there are several. */
  revenue: { amount: number; currency: string; byCurrency: Amounts };
  features: (FeatureUse & { utilization: number | null; period: { start: number; end: number } | null })[];
  flags: UsageRevenueFlag[];
  evidence: {
    /** The subscriptions' stretches in the range, and what each earned. */
    revenue: RevenueLine[];
    /** Features held only through grants (access that earns nothing). */
    grantedOnly: string[];
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

/**
 * The usage-vs-revenue audit (SPEC: "Usage-vs-revenue report"): per customer with a subscription
 * in the range, what it earned — each plan's and add-on's price per billing period, prorated by
 * the share of the period inside the range; trial, paused, past-due and canceled time earn 0 —
 * against how much of each limited feature they used, with the flags finance acts on. Limits and
 * usage are those of each feature's last usage period in the range. The arithmetic is core's
 * (`revenueOver`, `flagsOf`); this reads the history it runs on.
 */
export type UsageRevenueService = ReturnType<typeof createUsageRevenueReport>;

export function createUsageRevenueReport(deps: { db: Db; clock: Clock; entitlements: EntitlementService }) {
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

  return {
    async run(input: {
      from: number;
      to: number;
      plan?: string | undefined;
      flag?: UsageRevenueFlag | undefined;
    }): Promise<UsageRevenueReport> {
      const { from, to } = input;
      if (!(to > from)) throw invalid([{ path: '/querystring/to', message: 'must be after from' }]);
      if (to - from > maxRangeDays * dayMs) {
        throw invalid([{ path: '/querystring/to', message: `must be at most ${maxRangeDays} days after from` }]);
      }
      const versions = await planVersions();
      if (input.plan !== undefined && ![...versions.values()].some((v) => v.key === input.plan)) {
        throw notFound(ErrorCodes.planNotFound, `Plan "${input.plan}" does not exist.`, [
          { path: '/querystring/plan', message: 'unknown plan' },
        ]);
      }
      const now = clock.now();
      const until = Math.min(to, now);
      const items = pricedItems(versions);

      const customers = (
        await db
          .selectFrom('subscription_history')
          .select('customer_id')
          .distinct()
          .where('at', '<', until)
          .orderBy('customer_id')
          .execute()
      ).map((row) => row.customer_id);

      const data: UsageRevenueRow[] = [];
      for (let start = 0; start < customers.length; start += batchSize) {
        const batch = customers.slice(start, start + batchSize);
        const [history, used] = await Promise.all([
          db
            .selectFrom('subscription_history')
            .select(['customer_id', 'subscription_id', 'at', 'after'])
            .where('customer_id', 'in', batch)
            .where('at', '<', until)
            .orderBy('seq')
            .execute(),
          db
            .selectFrom('usage_history')
            .select(['customer_id', 'feature'])
            .select((eb) => eb.fn.sum<number>('value').as('total'))
            .where('customer_id', 'in', batch)
            .where('bucket_start', '>=', from)
            .where('bucket_start', '<', until)
            .groupBy(['customer_id', 'feature'])
            .execute(),
        ]);
        const usedInRange = new Map(used.map((row) => [`${row.customer_id}\u0000${row.feature}`, Number(row.total)]));
        const states = new Map<
          string,
          Map<string, { at: number; subscription: ReturnType<typeof fromDbSubscription> }[]>
        >();
        for (const row of history) {
          let bySubscription = states.get(row.customer_id);
          if (!bySubscription) {
            bySubscription = new Map();
            states.set(row.customer_id, bySubscription);
          }
          let list = bySubscription.get(row.subscription_id);
          if (!list) {
            list = [];
            bySubscription.set(row.subscription_id, list);
          }
          list.push({ at: row.at, subscription: fromDbSubscription(JSON.parse(row.after)) });
        }
        for (const customer of batch) {
          const spans = [...(states.get(customer)?.values() ?? [])]
            .flatMap((list) => subscriptionSpans({ states: list, until, items }))
            .filter((span) => span.to > from);
          if (spans.length === 0) continue;
          const row = await rowOf({ customer, spans, from, until, usedInRange });
          if (input.plan !== undefined && row.plan !== input.plan) continue;
          if (input.flag !== undefined && !row.flags.includes(input.flag)) continue;
          data.push(row);
        }
      }
      return { from, to, data, plans: totalsByPlan(data), totals: totalsOf(data) };
    },
  };

  async function rowOf(input: {
    customer: string;
    spans: SubscriptionSpan[];
    from: number;
    until: number;
    usedInRange: Map<string, number>;
  }): Promise<UsageRevenueRow> {
    const { customer, spans, from, until } = input;
    const range = { from, to: until };
    const { lines, total } = revenueOver(spans, range);
    const last = spans.reduce((latest, span) => (span.to > latest.to ? span : latest));
    const currency = last.items[0]?.price.currency ?? Object.keys(total)[0] ?? 'usd';
    // Limits and usage of each feature's usage period at the end of the range.
    const { resolved, decisions } = await deps.entitlements.snapshotAt(customer, until - 1);
    const features: UsageRevenueRow['features'] = [];
    const grantedOnly: string[] = [];
    for (const entitlement of resolved.entitlements.values()) {
      if (!entitlement.enabled) continue;
      const paid = entitlement.source === 'plan' || entitlement.source === 'addon';
      if (entitlement.source === 'grant') grantedOnly.push(entitlement.feature);
      if (entitlement.limit === null || entitlement.unlimited) continue;
      const usage = decisions.get(entitlement.feature)?.usage ?? 0;
      const recorded = input.usedInRange.get(`${customer}\u0000${entitlement.feature}`) ?? 0;
      const use: FeatureUse = {
        feature: entitlement.feature,
        limit: entitlement.limit,
        usage,
        // A gauge keeps a level, not a history: in use when its level is.
        usedInRange: entitlement.type === 'gauge' ? Math.max(recorded, usage) : recorded,
        paid,
      };
      features.push({
        ...use,
        utilization: utilization(use),
        period: entitlement.period && { start: entitlement.period.start, end: entitlement.period.end },
      });
    }
    const unpaid = unpaidAccessMs(spans, range);
    return {
      customer,
      plan: last.plan,
      revenue: { amount: total[currency] ?? 0, currency, byCurrency: total },
      features,
      flags: flagsOf({ features, unpaidAccessMs: unpaid, grantedOnly }),
      evidence: { revenue: lines, grantedOnly, unpaidAccessMs: unpaid },
    };
  }
}

function emptyFlags(): Record<UsageRevenueFlag, number> {
  return Object.fromEntries(UsageRevenueFlags.map((flag) => [flag, 0])) as Record<UsageRevenueFlag, number>;
}

function totalsOf(rows: readonly UsageRevenueRow[]): UsageRevenueTotals {
  const totals: UsageRevenueTotals = { customers: rows.length, revenue: {}, flags: emptyFlags() };
  for (const row of rows) {
    for (const [currency, amount] of Object.entries(row.revenue.byCurrency)) {
      totals.revenue[currency] = (totals.revenue[currency] ?? 0) + amount;
    }
    for (const flag of row.flags) totals.flags[flag]++;
  }
  return totals;
}

function totalsByPlan(rows: readonly UsageRevenueRow[]): UsageRevenueReport['plans'] {
  const byPlan = new Map<string, UsageRevenueRow[]>();
  for (const row of rows) byPlan.set(row.plan, [...(byPlan.get(row.plan) ?? []), row]);
  const plans: UsageRevenueReport['plans'] = {};
  for (const [plan, planRows] of byPlan) {
    const sums = new Map<string, { sum: number; count: number }>();
    for (const row of planRows) {
      for (const feature of row.features) {
        if (feature.utilization === null || !Number.isFinite(feature.utilization)) continue;
        const entry = sums.get(feature.feature) ?? { sum: 0, count: 0 };
        entry.sum += feature.utilization;
        entry.count++;
        sums.set(feature.feature, entry);
      }
    }
    plans[plan] = {
      ...totalsOf(planRows),
      utilization: Object.fromEntries([...sums].map(([feature, { sum, count }]) => [feature, sum / count])),
    };
  }
  return plans;
}
