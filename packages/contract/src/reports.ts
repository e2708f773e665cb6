import { type Static, Type } from '@sinclair/typebox';
import { CatalogKey, Nullable, StringEnum, Timestamp } from './schema-helpers.js';

export const usageRevenueFlags = ['upsell', 'unused', 'over_limit', 'unpaid_access'] as const;

/** The range and filters of a usage-revenue report: the query on demand, the body when one is stored. */
const usageRevenueInput = {
  from: Timestamp,
  to: Type.String({
    format: 'date-time',
    description: 'ISO-8601 UTC time, after `from` and at most 400 days after it.',
  }),
  plan: Type.Optional(CatalogKey),
  flag: Type.Optional(StringEnum(usageRevenueFlags, { description: 'Only the customers with this flag.' })),
};

export const UsageRevenueQuery = Type.Object(usageRevenueInput, { additionalProperties: false });
export type UsageRevenueQuery = Static<typeof UsageRevenueQuery>;

const Money = Type.Object(
  { amount: Type.Integer({ description: 'Minor units (cents).' }), currency: Type.String() },
  { additionalProperties: false },
);
const ByCurrency = Type.Record(Type.String(), Type.Integer(), { description: 'Minor units by currency.' });
const Flags = Type.Array(StringEnum(usageRevenueFlags));
const FlagCounts = Type.Record(Type.String(), Type.Integer(), { description: 'Customers per flag.' });
const Span = Type.Object({ start: Timestamp, end: Timestamp }, { additionalProperties: false });

export const UsageRevenueRow = Type.Object(
  {
    customer: Type.String(),
    plan: Type.String({ description: 'The base plan at the end of the range (or of their last subscription in it).' }),
    revenue: Type.Intersect([Money, Type.Object({ by_currency: ByCurrency })]),
    features: Type.Array(
      Type.Object(
        {
          feature: Type.String(),
          limit: Nullable(Type.Number()),
          usage: Type.Number({ description: "The usage of the feature's usage period at the end of the range." }),
          used_in_range: Type.Number({ description: 'Everything used over the range.' }),
          utilization: Nullable(Type.Number({ description: 'usage ÷ limit.' })),
          paid: Type.Boolean({ description: 'From the plan or an add-on (not only a grant).' }),
          period: Nullable(Span),
          source: Nullable(
            Type.String({ description: 'Where the limit came from: plan, addon, grant, targeting or default.' }),
          ),
          subscription: Nullable(
            Type.String({ description: 'The subscription whose plan or add-on the limit came from.' }),
          ),
          grants: Type.Array(Type.String(), {
            description: 'The grants applying to the feature at the end of the range (a comped limit, units, credits).',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    flags: Flags,
    evidence: Type.Object(
      {
        subscriptions: Type.Array(Type.String(), { description: 'Every subscription with time in the range.' }),
        revenue: Type.Array(
          Type.Object(
            {
              subscription: Type.String(),
              plan: Type.String(),
              from: Timestamp,
              to: Timestamp,
              period: Span,
              status: Type.String(),
              share: Type.Number({ description: "The share of the period's price this stretch earns." }),
              amounts: ByCurrency,
            },
            { additionalProperties: false },
          ),
        ),
        granted_only: Type.Array(Type.String(), { description: 'Features held only through grants.' }),
        grants: Type.Array(
          Type.Object({ grant: Type.String(), feature: Type.String() }, { additionalProperties: false }),
          { description: 'The grants applying at the end of the range, each with its feature.' },
        ),
        unpaid_access_seconds: Type.Integer({ description: 'Access that earned nothing (trial, past due).' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

const Totals = {
  customers: Type.Integer(),
  revenue: ByCurrency,
  flags: FlagCounts,
};

export const UsageRevenueReport = Type.Object(
  {
    from: Timestamp,
    to: Timestamp,
    data: Type.Array(UsageRevenueRow),
    plans: Type.Record(
      Type.String(),
      Type.Object(
        {
          ...Totals,
          utilization: Type.Record(Type.String(), Type.Number(), {
            description: 'Mean utilization of each limited feature over the plan’s customers.',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    totals: Type.Object(Totals, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type UsageRevenueReport = Static<typeof UsageRevenueReport>;

/**
 * A usage-revenue report to compute now and store, over the same range and filters as
 * `GET /v1/reports/usage-revenue` takes.
 *
 * @example
 * { "from": "2026-01-01T00:00:00Z", "to": "2026-04-01T00:00:00Z", "flag": "upsell" }
 */
export const UsageRevenueReportCreate = Type.Object(usageRevenueInput, {
  additionalProperties: false,
  description: 'The range (and filters) of a usage-revenue report to store.',
});
export type UsageRevenueReportCreate = Static<typeof UsageRevenueReportCreate>;

/** The kinds of stored report. */
export const reportKinds = ['usage-revenue'] as const;
export type ReportKind = (typeof reportKinds)[number];

/** How a stored report came to be: the schedule (`KEYMASTER_REVENUE_REPORT_CRON`), the API or the CLI. */
export const reportOrigins = ['schedule', 'api', 'cli'] as const;
export type ReportOrigin = (typeof reportOrigins)[number];

/**
 * A stored report without its body, which `url` serves.
 *
 * @example
 * const report: StoredReport = {
 *   id: 'rpt_01j…', kind: 'usage-revenue', from: '2026-01-01T00:00:00.000Z', to: '2026-04-01T00:00:00.000Z',
 *   filters: { plan: null, flag: null }, made: 'schedule', scheduled_for: '2026-04-01T06:00:00.000Z',
 *   created_at: '2026-04-01T06:00:12.000Z', url: '/v1/reports/rpt_01j…', customers: 1250,
 *   size: 1843200, compressed_size: 161280,
 * };
 */
export const StoredReport = Type.Object(
  {
    id: Type.String({ description: 'The report id, `rpt_…`; ids sort by creation.' }),
    kind: StringEnum(reportKinds, { description: 'What report it is.' }),
    from: Timestamp,
    to: Type.String({ format: 'date-time', description: 'ISO-8601 UTC time, the end of the range (exclusive).' }),
    filters: Type.Object(
      {
        plan: Nullable(Type.String({ description: 'Only customers on this plan; null: every plan.' })),
        flag: Nullable(StringEnum(usageRevenueFlags, { description: 'Only customers with this flag; null: all.' })),
      },
      { additionalProperties: false },
    ),
    made: StringEnum(reportOrigins, {
      description: '`schedule` (KEYMASTER_REVENUE_REPORT_CRON), `api` (POST) or `cli` (`keymaster report … --save`).',
    }),
    scheduled_for: Nullable(
      Type.String({
        format: 'date-time',
        description: 'The schedule’s fire time it was made for; null when not scheduled.',
      }),
    ),
    created_at: Timestamp,
    url: Type.String({ description: 'Where the report itself is: `GET /v1/reports/{id}`.' }),
    customers: Type.Integer({ description: 'The rows of the report (customers).' }),
    size: Type.Integer({ description: 'The JSON document’s size in bytes.' }),
    compressed_size: Type.Integer({ description: 'Its size as stored and sent gzip-compressed, in bytes.' }),
  },
  { additionalProperties: false, description: 'A stored report (its document is at `url`).' },
);
export type StoredReport = Static<typeof StoredReport>;

export const StoredReportParams = Type.Object({
  id: Type.String({ maxLength: 64, description: 'The report id, `rpt_…`.' }),
});

export const StoredReportListQuery = Type.Object(
  {
    made: Type.Optional(StringEnum(reportOrigins, { description: 'Only the reports made this way.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1-100.' })),
    cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
  },
  { additionalProperties: false },
);
export type StoredReportListQuery = Static<typeof StoredReportListQuery>;

/** A stored usage-revenue report: the document `GET /v1/reports/usage-revenue` answers, and its id. */
export const StoredUsageRevenueReport = Type.Object(
  {
    id: Type.String({ description: 'The stored report’s id, `rpt_…`.' }),
    ...UsageRevenueReport.properties,
  },
  { additionalProperties: false },
);
export type StoredUsageRevenueReport = Static<typeof StoredUsageRevenueReport>;
