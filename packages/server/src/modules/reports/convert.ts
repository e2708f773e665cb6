import type { UsageRevenueReport as ApiReport, StoredReport } from '@keymaster/contract';
import { toIso } from '../../json-column.js';
import type { ReportRow } from './stored-reports.js';
import type { UsageRevenuePages, UsageRevenueRow } from './usage-revenue.js';

/** One customer's row as the API answers it. */
export function toApiUsageRevenueRow(
  row: UsageRevenueRow,
  iso: (epochMs: number) => string = toIso,
): ApiReport['data'][number] {
  return {
    customer: row.customer,
    plan: row.plan,
    revenue: { amount: row.revenue.amount, currency: row.revenue.currency, by_currency: row.revenue.byCurrency },
    features: row.features.map((f) => ({
      feature: f.feature,
      limit: f.limit,
      usage: f.usage,
      used_in_range: f.usedInRange,
      utilization: f.utilization === null || Number.isFinite(f.utilization) ? f.utilization : null,
      paid: f.paid,
      period: f.period && { start: iso(f.period.start), end: iso(f.period.end) },
      source: f.source,
      subscription: f.subscription,
      grants: f.grants,
    })),
    flags: row.flags,
    evidence: {
      subscriptions: row.evidence.subscriptions,
      revenue: row.evidence.revenue.map((line) => ({
        subscription: line.subscriptionId,
        plan: line.plan,
        from: iso(line.from),
        to: iso(line.to),
        period: { start: iso(line.period.from), end: iso(line.period.to) },
        status: line.status,
        share: line.share,
        amounts: line.amounts,
      })),
      granted_only: row.evidence.grantedOnly,
      grants: row.evidence.grants,
      unpaid_access_seconds: Math.round(row.evidence.unpaidAccessMs / 1000),
    },
  };
}

/**
 * The report as the API's JSON document, in pieces as its pages are read: a large report is
 * never held whole in memory, and its first bytes go out while the rest is computed. The same
 * report as the API answers it: instants as ISO-8601, field names in snake case.
 */
export async function* usageRevenueJson(report: UsageRevenuePages): AsyncGenerator<string> {
  yield `{"from":${JSON.stringify(toIso(report.from))},"to":${JSON.stringify(toIso(report.to))},"data":[`;
  let first = true;
  // Rows share their periods' bounds: each instant is formatted once a page.
  for await (const rows of report.pages()) {
    const iso = memoized(toIso);
    const json = rows.map((row) => JSON.stringify(toApiUsageRevenueRow(row, iso))).join(',');
    yield first ? json : `,${json}`;
    first = false;
  }
  const { plans, totals } = report.summary();
  yield `],"plans":${JSON.stringify(plans)},"totals":${JSON.stringify(totals)}}`;
}

function memoized(format: (epochMs: number) => string): (epochMs: number) => string {
  const seen = new Map<number, string>();
  return (epochMs) => {
    let text = seen.get(epochMs);
    if (text === undefined) {
      text = format(epochMs);
      seen.set(epochMs, text);
    }
    return text;
  };
}

/** Where a stored report's document is served. */
export function reportUrl(id: string): string {
  return `/v1/reports/${id}`;
}

/** A ready stored report's row as the API shows it (its document is at `url`). */
export function toApiStoredReport(row: ReportRow): StoredReport {
  const filters = JSON.parse(row.filters) as { plan?: string | null; flag?: StoredReport['filters']['flag'] };
  return {
    id: row.id,
    kind: row.kind as StoredReport['kind'],
    from: toIso(Number(row.range_from)),
    to: toIso(Number(row.range_to)),
    filters: { plan: filters.plan ?? null, flag: filters.flag ?? null },
    made: row.made as StoredReport['made'],
    scheduled_for: row.scheduled_for === null ? null : toIso(Number(row.scheduled_for)),
    created_at: toIso(Number(row.created_at)),
    url: reportUrl(row.id),
    customers: Number(row.customers ?? 0),
    size: Number(row.size ?? 0),
    compressed_size: Number(row.compressed_size ?? 0),
  };
}
