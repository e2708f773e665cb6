import { GrantModes, maxQuantity } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { FeatureKey, JsonValue, Nullable, StringEnum, Timestamp } from './schema-helpers.js';

const grantModes = GrantModes;

export const GrantCreate = Type.Object(
  {
    feature: FeatureKey,
    mode: Type.Optional(
      StringEnum(grantModes, {
        description:
          '`override` (default) replaces the terms it sets; `add` adds `limit` units to the limit of every ' +
          'period while active; `credit` gives a one-off balance of `limit` units of a metered feature (a credit ' +
          'pool), drawn after the period allowance and kept across resets until used or expired.',
      }),
    ),
    enabled: Type.Optional(Type.Boolean({ description: 'false takes the feature away from this customer.' })),
    limit: Type.Optional(
      Type.Unsafe<number | null>({
        type: ['integer', 'null'],
        minimum: 0,
        maximum: maxQuantity,
        description: 'null = unlimited.',
      }),
    ),
    value: Type.Optional(JsonValue),
    rollover_cap: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: maxQuantity,
        description:
          'For an `add` grant of a metered feature: at each renewal, what is left of its units in the period that ' +
          'ended carries into the next period as one-off credits (expiring at that period end), at most this many.',
      }),
    ),
    starts_at: Type.Optional(Timestamp),
    expires_at: Type.Optional(Timestamp),
    reason: Type.String({ minLength: 1, maxLength: 500, description: 'Why: kept for support and audits.' }),
  },
  { additionalProperties: false, description: 'A per-customer override of the plan.' },
);
export type GrantCreate = Static<typeof GrantCreate>;

export const Grant = Type.Object(
  {
    id: Type.String(),
    customer: Type.String(),
    feature: Type.String(),
    mode: StringEnum(grantModes),
    enabled: Nullable(Type.Boolean()),
    limit: Nullable(Type.Integer()),
    unlimited: Type.Boolean({ description: 'Whether the grant sets an unlimited allowance.' }),
    value: JsonValue,
    starts_at: Nullable(Timestamp),
    expires_at: Nullable(Timestamp),
    reason: Type.String(),
    active: Type.Boolean({ description: 'Whether it applies now.' }),
    rollover_cap: Nullable(Type.Integer()),
    created_at: Timestamp,
    revoked_at: Nullable(Timestamp),
    remaining: Nullable(
      Type.Number({ description: 'For `credit` grants: the units not used yet. Null for other modes.' }),
    ),
  },
  { description: 'A per-customer override.' },
);
export type Grant = Static<typeof Grant>;

export const GrantParams = Type.Object({ id: Type.String() });
export const GrantListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String()),
    include_revoked: Type.Optional(Type.Boolean({ default: false })),
  },
  { additionalProperties: false },
);
