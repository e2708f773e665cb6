import { maxQuantity, Reasons } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { CustomerId, FeatureKey, JsonValue, Nullable, StringEnum, Timestamp } from './schema-helpers.js';

const reasons = Reasons;

const TargetingContext = Type.Record(Type.String(), Type.Unsafe<unknown>({}), {
  description:
    'Evaluation context for targeting rules (e.g. `{"app_version": "2.3.0"}`); stored traits win. From a customer ' +
    'token only the keys in KEYMASTER_CLIENT_CONTEXT_KEYS are used.',
  maxProperties: 100,
});

export const CheckRequest = Type.Object(
  {
    customer: CustomerId,
    feature: Type.String({ minLength: 1, maxLength: 64 }),
    quantity: Type.Optional(
      Type.Integer({ minimum: 0, maximum: maxQuantity, description: 'Units about to be used; default 1.' }),
    ),
    context: Type.Optional(TargetingContext),
  },
  { additionalProperties: false, description: 'May this customer use this feature (and `quantity` more of it)?' },
);
export type CheckRequest = Static<typeof CheckRequest>;

const UpgradePlan = Type.Object({
  key: Type.String(),
  name: Type.String(),
  kind: Type.String(),
  price: Type.Unsafe<{ amount: number; currency: string; interval: string } | null>({
    type: ['object', 'null'],
    properties: { amount: { type: 'integer' }, currency: { type: 'string' }, interval: { type: 'string' } },
  }),
});

const PoolCost = Type.Unsafe<{ pool: string; per_unit: number } | null>({
  type: ['object', 'null'],
  properties: { pool: { type: 'string' }, per_unit: { type: 'number' } },
  required: ['pool', 'per_unit'],
  description:
    'For a feature drawing from a credit pool: the pool and the pool units one unit costs. `limit`, `usage`, ' +
    "`balance`, `overage` and `resets_at` are then the pool's, in its units. Null for other features.",
});

export const Decision = Type.Object(
  {
    customer: Type.String(),
    feature: Type.String(),
    allowed: Type.Boolean(),
    reason: StringEnum(reasons),
    type: Nullable(Type.String()),
    limit: Nullable(Type.Integer()),
    usage: Nullable(Type.Number()),
    balance: Nullable(
      Type.Number({
        description: 'What is left: the period allowance not used yet plus units left on one-off `credit` grants.',
      }),
    ),
    unlimited: Type.Boolean(),
    overage: Nullable(Type.String()),
    value: JsonValue,
    resets_at: Nullable(Type.String({ format: 'date-time' })),
    upgrade: Type.Unsafe<{ plans: Static<typeof UpgradePlan>[] } | null>({
      type: ['object', 'null'],
      properties: { plans: { type: 'array', items: UpgradePlan } },
      description: 'When denied and a published plan would allow it: the cheapest such plans.',
    }),
    credit_cost: PoolCost,
  },
  { description: 'A decision; answered with 200 also when the answer is no.' },
);
export type Decision = Static<typeof Decision>;

export const Entitlement = Type.Object({
  feature: Type.String(),
  type: Type.String(),
  enabled: Type.Boolean(),
  reason: StringEnum(reasons, { description: '`entitled` or why not.' }),
  limit: Nullable(Type.Integer()),
  unlimited: Type.Boolean(),
  usage: Nullable(Type.Number()),
  balance: Nullable(Type.Number()),
  overage: Nullable(Type.String()),
  reset: Nullable(Type.String()),
  window: Nullable(Type.String()),
  resets_at: Nullable(Type.String({ format: 'date-time' })),
  value: JsonValue,
  source: Nullable(Type.String({ description: 'plan, addon, targeting or grant.' })),
  credit_cost: PoolCost,
});
export type Entitlement = Static<typeof Entitlement>;

export const CustomerEntitlements = Type.Object(
  {
    customer: Type.String(),
    plan: Type.Unsafe<{ key: string; version: number } | null>({
      type: ['object', 'null'],
      properties: { key: { type: 'string' }, version: { type: 'integer' } },
    }),
    subscription_status: Nullable(Type.String()),
    computed_at: Timestamp,
    valid_until: Nullable(Timestamp),
    entitlements: Type.Array(Entitlement),
  },
  { description: "A customer's full entitlement snapshot, for caches and portals." },
);
export type CustomerEntitlements = Static<typeof CustomerEntitlements>;

export const EntitlementsQuery = Type.Object(
  {
    feature: Type.Optional(FeatureKey),
    at: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'A past instant: what the customer was entitled to then (support and audits).',
      }),
    ),
  },
  { additionalProperties: false },
);
