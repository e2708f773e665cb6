import { FeatureStatuses, FeatureTypes, MeterAggregations } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { FeatureKey, JsonValue, Nullable, StringEnum, Timestamp } from './schema-helpers.js';

const featureTypes = FeatureTypes;
const featureStatuses = FeatureStatuses;
const meterAggregations = MeterAggregations;

const Meter = Type.Object(
  {
    event_type: Type.String({ minLength: 1, maxLength: 200, description: 'The usage event type this meter counts.' }),
    aggregation: StringEnum(meterAggregations, { description: 'How events become usage.' }),
    property: Type.Optional(
      Type.String({ minLength: 1, description: 'The event property aggregated (not for count).' }),
    ),
    filter: Type.Optional(
      Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
        description: 'Only events whose properties equal these values are counted.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Feeds a metered feature from usage events.' },
);

const CreditCost = Type.Object(
  {
    pool: FeatureKey,
    per_unit: Type.Number({ exclusiveMinimum: 0, description: 'Pool units drawn per unit of this feature.' }),
  },
  { additionalProperties: false, description: 'Draw from a credit pool feature instead of a limit of its own.' },
);

const Targeting = Type.Unsafe<unknown>({
  description:
    'A flagd targeting rule (JsonLogic plus fractional, sem_ver, starts_with, ends_with) over the customer traits, ' +
    'plan and caller context. It answers a variant name: "on"/"off" (or true/false) for any feature, an option of a ' +
    'config enum, or a name declared in `variants` (e.g. a limit). No answer falls through to the plan. Checked when ' +
    'written: an object, flagd operators only, each with its JsonLogic number of arguments (400 naming the place in ' +
    'the rule otherwise).',
  examples: [{ if: [{ in: [{ var: 'country' }, ['DE', 'FR']] }, 'on', null] }],
});

const Variants = Type.Record(Type.String({ minLength: 1 }), JsonValue, {
  description: 'Named values a targeting rule may answer with (flagd variants).',
});

const DefaultVariant = Type.String({
  minLength: 1,
  description:
    'The variant that answers when nothing else does (flagd `defaultVariant`): below targeting and the plan for a ' +
    'customer, and the value of a customer-less (OpenFeature/OFREP) evaluation without targeting or when the rule ' +
    'names nothing. One of `variants`, or a predeclared variant (`on`/`off`, a config option).',
});

const FlagMetadata = Type.Record(
  Type.String({ minLength: 1 }),
  Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
  {
    description: "The flag's own metadata (OpenFeature `flagMetadata`), returned with customer-less evaluations.",
  },
);

const decisionLogLevels = ['off', 'denied', 'all'] as const;
const decisionLogDescription =
  'Which decisions (checks and consumes) the decision log keeps, for `GET /v1/decisions`: none, the refusals, or all.';
const DecisionLog = StringEnum(decisionLogLevels, { description: decisionLogDescription });

const featureFields = {
  name: Type.String({ minLength: 1, maxLength: 200, description: 'Display name.' }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  unit: Type.Optional(Type.String({ maxLength: 50, description: 'Unit of a metered or gauge feature, e.g. `calls`.' })),
  status: Type.Optional(
    StringEnum(featureStatuses, { description: '`disabled` is the kill switch: denied to everyone.' }),
  ),
  options: Type.Optional(Type.Array(JsonValue, { minItems: 1, description: 'Allowed values of a config feature.' })),
  meter: Type.Optional(Meter),
  credit_cost: Type.Optional(CreditCost),
  targeting: Type.Optional(Targeting),
  variants: Type.Optional(Variants),
  default_variant: Type.Optional(DefaultVariant),
  metadata: Type.Optional(FlagMetadata),
  decision_log: Type.Optional(
    StringEnum(decisionLogLevels, { description: `${decisionLogDescription} Default: \`denied\`.` }),
  ),
};

export const FeatureCreate = Type.Object(
  {
    key: FeatureKey,
    type: StringEnum(featureTypes, { description: 'boolean, metered (resets), gauge (current level) or config.' }),
    ...featureFields,
  },
  { additionalProperties: false, description: 'A feature to add to the catalog.' },
);
export type FeatureCreate = Static<typeof FeatureCreate>;

export const FeaturePatch = Type.Object(
  {
    name: Type.Optional(featureFields.name),
    type: Type.Optional(StringEnum(featureTypes, { description: 'Cannot change; accepted when unchanged.' })),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
    unit: Type.Optional(Nullable(Type.String({ maxLength: 50 }))),
    status: featureFields.status,
    options: Type.Optional(Type.Unsafe<unknown[] | null>({ type: ['array', 'null'], minItems: 1 })),
    meter: Type.Optional(Type.Unsafe<Static<typeof Meter> | null>({ ...Meter, type: ['object', 'null'] })),
    credit_cost: Type.Optional(
      Type.Unsafe<Static<typeof CreditCost> | null>({ ...CreditCost, type: ['object', 'null'] }),
    ),
    targeting: Type.Optional(Targeting),
    variants: Type.Optional(Type.Unsafe<Record<string, unknown> | null>({ ...Variants, type: ['object', 'null'] })),
    default_variant: Type.Optional(Nullable(DefaultVariant)),
    metadata: Type.Optional(
      Type.Unsafe<Record<string, string | number | boolean> | null>({ ...FlagMetadata, type: ['object', 'null'] }),
    ),
    decision_log: Type.Optional(DecisionLog),
  },
  { additionalProperties: false, description: 'Changes to a feature; `null` clears an optional field.' },
);
export type FeaturePatch = Static<typeof FeaturePatch>;

export const Feature = Type.Object(
  {
    id: Type.String(),
    key: Type.String(),
    name: Type.String(),
    description: Nullable(Type.String()),
    type: StringEnum(featureTypes),
    unit: Nullable(Type.String()),
    status: StringEnum(featureStatuses),
    options: Type.Unsafe<unknown[] | null>({ type: ['array', 'null'] }),
    meter: Type.Unsafe<Static<typeof Meter> | null>({ ...Meter, type: ['object', 'null'] }),
    credit_cost: Type.Unsafe<Static<typeof CreditCost> | null>({ ...CreditCost, type: ['object', 'null'] }),
    targeting: JsonValue,
    variants: Type.Unsafe<Record<string, unknown> | null>({ type: ['object', 'null'], additionalProperties: true }),
    default_variant: Nullable(Type.String({ description: 'The variant that answers when nothing else does.' })),
    metadata: Type.Unsafe<Record<string, string | number | boolean> | null>({
      type: ['object', 'null'],
      additionalProperties: { type: ['string', 'number', 'boolean'] },
      description: "The flag's own metadata.",
    }),
    decision_log: DecisionLog,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { description: 'A feature of the catalog.' },
);
export type Feature = Static<typeof Feature>;

export const FeatureParams = Type.Object({ key: Type.String() });
