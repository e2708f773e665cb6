import { maxQuantity, Overages, PlanKinds, PlanStatuses, PriceIntervals, Resets } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { CatalogKey, FeatureKey, JsonValue, Nullable, StringEnum, Timestamp } from './schema-helpers.js';

const planKinds = PlanKinds;
const planStatuses = PlanStatuses;
const priceIntervals = PriceIntervals;
const resets = Resets;
const overages = Overages;

export const Price = Type.Object(
  {
    amount: Type.Integer({ minimum: 0, description: 'In minor units (cents).' }),
    currency: Type.String({ pattern: '^[a-z]{3}$', description: 'ISO 4217 code in lower case, e.g. `usd`.' }),
    interval: StringEnum(priceIntervals),
  },
  { additionalProperties: false },
);

export const PlanEntitlementInput = Type.Object(
  {
    feature: FeatureKey,
    enabled: Type.Optional(Type.Boolean({ default: true, description: 'Defaults to true.' })),
    limit: Type.Optional(
      Type.Unsafe<number | null>({
        type: ['integer', 'null'],
        minimum: 0,
        maximum: maxQuantity,
        description: 'Units per period (metered) or in total (gauge); null = unlimited. Required for those kinds.',
      }),
    ),
    reset: Type.Optional(StringEnum(resets, { description: 'When metered usage resets; default billing_period.' })),
    window: Type.Optional(Type.String({ description: 'A rolling window instead of a reset, e.g. `5h`, `7d`.' })),
    overage: Type.Optional(StringEnum(overages, { description: '`block` (default) refuses past the limit.' })),
    value: Type.Optional(JsonValue),
  },
  { additionalProperties: false },
);

const StripeProduct = Type.String({
  pattern: '^[^\\s]{1,255}$',
  description:
    'The Stripe product (`prod_…`) this plan is sold as: a Stripe subscription item of that product is this plan (or add-on).',
});

const planFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  kind: Type.Optional(StringEnum(planKinds, { description: '`base` (default) or `addon`.' })),
  price: Type.Optional(Price),
  trial_days: Type.Optional(Type.Integer({ minimum: 0, maximum: 730 })),
  stripe_product: Type.Optional(StripeProduct),
  entitlements: Type.Array(PlanEntitlementInput, { maxItems: 500 }),
};

export const PlanCreate = Type.Object(
  { key: CatalogKey, ...planFields },
  { additionalProperties: false, description: 'A new plan, created as version 1 in draft.' },
);
export type PlanCreate = Static<typeof PlanCreate>;

export const PlanPatch = Type.Object(
  {
    name: Type.Optional(planFields.name),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
    kind: planFields.kind,
    price: Type.Optional(Type.Unsafe<Static<typeof Price> | null>({ ...Price, type: ['object', 'null'] })),
    trial_days: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 730 }))),
    stripe_product: Type.Optional(Nullable(StripeProduct)),
    entitlements: Type.Optional(planFields.entitlements),
  },
  {
    additionalProperties: false,
    description: 'Edits the draft; after a publish it opens the next version as a draft.',
  },
);
export type PlanPatch = Static<typeof PlanPatch>;

export const PlanEntitlement = Type.Object({
  feature: Type.String(),
  enabled: Type.Boolean(),
  limit: Nullable(Type.Integer()),
  reset: Nullable(StringEnum(resets)),
  window: Nullable(Type.String()),
  overage: StringEnum(overages),
  value: JsonValue,
});

export const Plan = Type.Object(
  {
    id: Type.String(),
    key: Type.String(),
    version: Type.Integer(),
    status: StringEnum(planStatuses),
    name: Type.String(),
    description: Nullable(Type.String()),
    kind: StringEnum(planKinds),
    price: Type.Unsafe<Static<typeof Price> | null>({ ...Price, type: ['object', 'null'] }),
    trial_days: Nullable(Type.Integer()),
    stripe_product: Nullable(Type.String({ description: 'The Stripe product it is sold as; null: none.' })),
    entitlements: Type.Array(PlanEntitlement),
    latest_version: Type.Integer({ description: 'The newest version of this plan, draft or not.' }),
    published_version: Nullable(Type.Integer({ description: 'What new subscriptions get; null if none.' })),
    created_at: Timestamp,
    published_at: Nullable(Timestamp),
    archived_at: Nullable(Timestamp),
  },
  { description: 'One version of a plan.' },
);
export type Plan = Static<typeof Plan>;

export const PlanParams = Type.Object({ key: Type.String() });
export const PlanQuery = Type.Object(
  { version: Type.Optional(Type.Integer({ minimum: 1, description: 'A specific version; default the latest.' })) },
  { additionalProperties: false },
);
export const PlanListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String()),
    status: Type.Optional(
      StringEnum(planStatuses, { description: 'Only plans whose latest version has this status.' }),
    ),
  },
  { additionalProperties: false },
);
export const PublishRequest = Type.Object(
  { version: Type.Optional(Type.Integer({ minimum: 1, description: 'Defaults to the current draft.' })) },
  { additionalProperties: false },
);

export const PlanMigrationRequest = Type.Object(
  {
    from_version: Type.Integer({ minimum: 1, description: 'Subscribers on this version are moved.' }),
    to_version: Type.Integer({ minimum: 1, description: 'A published version of the same plan.' }),
    when: Type.Optional(
      StringEnum(['now', 'period_end'] as const, {
        description: "`period_end` (default): at each subscriber's period end, shown as `scheduled_change` until then.",
      }),
    ),
    dry_run: Type.Optional(Type.Boolean({ description: 'Report what would change, change nothing (default false).' })),
  },
  {
    additionalProperties: false,
    description: 'Moves grandfathered subscribers from one version of a plan to another.',
  },
);
export type PlanMigrationRequest = Static<typeof PlanMigrationRequest>;

const MigrationTerms = Type.Object({
  enabled: Type.Boolean(),
  limit: Nullable(Type.Integer()),
  value: JsonValue,
});

export const PlanMigrationResult = Type.Object(
  {
    plan: Type.String(),
    from_version: Type.Integer(),
    to_version: Type.Integer(),
    when: Type.String(),
    dry_run: Type.Boolean(),
    affected: Type.Integer({ description: 'Subscriptions on `from_version` that are live or paused.' }),
    applied: Type.Integer({ description: 'Subscriptions moved (or scheduled to move); 0 on a dry run.' }),
    customers: Type.Array(
      Type.Object({
        customer: Type.String(),
        subscription: Type.String(),
        gains: Type.Array(Type.String(), { description: 'Features they would get that they do not have.' }),
        losses: Type.Array(Type.String(), { description: 'Features they have that they would lose.' }),
        changes: Type.Array(Type.Object({ feature: Type.String(), from: MigrationTerms, to: MigrationTerms })),
        over_limit: Type.Array(Type.Object({ feature: Type.String(), usage: Type.Number(), limit: Type.Integer() }), {
          description: 'Where current usage (or a gauge level) would exceed the new limit.',
        }),
        skipped: Nullable(
          Type.String({ description: 'Why this subscription was not moved (e.g. another change is scheduled).' }),
        ),
      }),
    ),
  },
  { description: 'What a plan migration changes, per customer.' },
);
export type PlanMigrationResult = Static<typeof PlanMigrationResult>;
