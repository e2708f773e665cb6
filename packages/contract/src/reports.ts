import { type Static, Type } from '@sinclair/typebox';
import { CatalogKey, Nullable, StringEnum, Timestamp } from './schema-helpers.js';

export const usageRevenueFlags = ['upsell', 'unused', 'over_limit', 'unpaid_access'] as const;

export const UsageRevenueQuery = Type.Object(
  {
    from: Timestamp,
    to: Type.String({
      format: 'date-time',
      description: 'ISO-8601 UTC time, after `from` and at most 400 days after it.',
    }),
    plan: Type.Optional(CatalogKey),
    flag: Type.Optional(StringEnum(usageRevenueFlags, { description: 'Only the customers with this flag.' })),
  },
  { additionalProperties: false },
);
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
