import { historyGranularities, MeterAggregations, maxQuantity } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { Decision } from './entitlements.js';
import { FeatureKey, StringEnum, Timestamp } from './schema-helpers.js';

/** Sets or adjusts a gauge's current level (seats in use, projects, GB stored). */
export const GaugeUpdate = Type.Object(
  {
    feature: FeatureKey,
    set: Type.Optional(Type.Number({ minimum: 0, maximum: maxQuantity, description: 'The new level.' })),
    delta: Type.Optional(
      Type.Number({
        minimum: -maxQuantity,
        maximum: maxQuantity,
        description: 'A change to the level, e.g. 1 when a seat is added, -1 when removed.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Exactly one of `set` or `delta`.' },
);
export type GaugeUpdate = Static<typeof GaugeUpdate>;

export const GaugeLevel = Type.Object(
  {
    customer: Type.String(),
    feature: Type.String(),
    usage: Type.Number({ description: 'The level now.' }),
  },
  { description: "A gauge's current level." },
);
export type GaugeLevel = Static<typeof GaugeLevel>;

/** Atomic check-and-record: the usage is recorded only when allowed. */
export const ConsumeRequest = Type.Object(
  {
    customer: Type.String({ pattern: '^[^\\s/]{1,255}$' }),
    feature: FeatureKey,
    quantity: Type.Optional(
      Type.Integer({ minimum: 1, maximum: maxQuantity, description: 'Units to use; default 1.' }),
    ),
    idempotency_key: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'A retried consume with the same key counts once.' }),
    ),
  },
  { additionalProperties: false, description: 'Use `quantity` units of a metered feature, if allowed.' },
);
export type ConsumeRequest = Static<typeof ConsumeRequest>;

export const ReservationCreate = Type.Object(
  {
    customer: Type.String({ pattern: '^[^\\s/]{1,255}$' }),
    feature: FeatureKey,
    quantity: Type.Integer({ minimum: 1, maximum: maxQuantity, description: 'Units to hold.' }),
    ttl_seconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 86_400,
        default: 300,
        description: 'How long the hold lasts unless settled.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Hold units for work whose final cost is not known yet.' },
);
export type ReservationCreate = Static<typeof ReservationCreate>;

export const ReservationCommit = Type.Object(
  {
    quantity: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: maxQuantity,
        description: 'The actual units used; default the held quantity.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ReservationCommit = Static<typeof ReservationCommit>;

export const reservationStatuses = ['held', 'committed', 'released', 'expired', 'refused'] as const;

export const Reservation = Type.Object(
  {
    id: Type.Union([Type.String(), Type.Null()], { description: 'Null when the hold was refused.' }),
    customer: Type.String(),
    feature: Type.String(),
    quantity: Type.Integer(),
    status: Type.Unsafe<(typeof reservationStatuses)[number]>({ type: 'string', enum: [...reservationStatuses] }),
    committed_quantity: Type.Union([Type.Integer(), Type.Null()]),
    expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    decision: Decision,
  },
  { description: 'A hold on usage and the decision it was granted (or refused) with.' },
);
export type Reservation = Static<typeof Reservation>;

/**
 * Which usage history to read: `GET /v1/customers/acme/usage?feature=api_calls&granularity=hour`.
 * Without `from` and `to` it covers the customer's current usage period for the feature.
 */
export const UsageHistoryQuery = Type.Object(
  {
    feature: Type.String({ pattern: FeatureKey.pattern, description: 'A metered feature.' }),
    from: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          "Start (rounded down to a bucket); default: the start of the customer's current usage period (a rolling " +
          "window's start; for usage that never resets, its first hour).",
      }),
    ),
    to: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'End, exclusive (rounded up to a bucket); default: the end of the current usage period (for a rolling ' +
          'window or usage that never resets, the end of the current bucket).',
      }),
    ),
    granularity: Type.Optional(
      StringEnum(historyGranularities, {
        description: 'UTC hours (at most 1,000 buckets) or UTC days (at most 400); default `day`.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type UsageHistoryQuery = Static<typeof UsageHistoryQuery>;

export const UsageHistoryBucket = Type.Object(
  {
    start: Timestamp,
    end: Type.String({ format: 'date-time', description: 'Exclusive.' }),
    usage: Type.Number({ description: "Usage in the bucket, combined by the meter's aggregation; 0 when none." }),
  },
  { description: 'Usage in [start, end).' },
);
export type UsageHistoryBucket = Static<typeof UsageHistoryBucket>;

/**
 * A metered feature's usage over time, in zero-filled buckets. With the default range the
 * buckets add up (`max`: their largest; `latest`: the last value) to `total`, which is what
 * `POST /v1/check` reports as `usage`.
 */
export const UsageHistory = Type.Object(
  {
    customer: Type.String(),
    feature: Type.String(),
    aggregation: StringEnum(MeterAggregations, {
      description: 'How buckets combine: count, sum and unique_count add; max takes the largest; latest the last.',
    }),
    granularity: StringEnum(historyGranularities),
    from: Type.String({ format: 'date-time', description: 'The start of the first bucket.' }),
    to: Type.String({ format: 'date-time', description: 'The end of the last bucket (exclusive).' }),
    current_period: Type.Boolean({
      description:
        'True when `from` and `to` were left to their defaults: only the usage `check` counts now is included ' +
        '(a billing period or rolling window that starts mid-bucket leaves out what came before it).',
    }),
    total: Type.Number({ description: "All buckets combined; with the default range, equal to check's `usage`." }),
    buckets: Type.Array(UsageHistoryBucket),
  },
  { description: "A metered feature's usage history for one customer." },
);
export type UsageHistory = Static<typeof UsageHistory>;
