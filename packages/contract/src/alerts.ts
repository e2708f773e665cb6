import { AlertTypes, maxQuantity } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { CatalogKey, CustomerId, FeatureKey, Nullable, StringEnum, Timestamp } from './schema-helpers.js';

/**
 * A usage alert rule to create.
 *
 * @example
 * // Warn every `pro` subscriber once a month when they reach 80 % of their API calls.
 * const rule: AlertRuleCreate = { feature: 'api_calls', type: 'percent', value: 80, plan: 'pro' };
 */
export const AlertRuleCreate = Type.Object(
  {
    feature: FeatureKey,
    type: StringEnum(AlertTypes, {
      description:
        '`percent`: usage reaches `value` % of the limit; `units`: usage reaches `value` units; ' +
        "`forecast_percent`: usage so far, projected linearly to the period's end, reaches `value` % of the limit.",
    }),
    value: Type.Integer({
      minimum: 1,
      maximum: maxQuantity,
      description: 'The threshold: 1-1000 for `percent` and `forecast_percent`, at least 1 unit for `units`.',
    }),
    plan: Type.Optional(CatalogKey),
    customer: Type.Optional(CustomerId),
  },
  {
    additionalProperties: false,
    description:
      'Fires `usage.threshold_reached` once per customer and usage period. On a `plan`: its subscribers; on a ' +
      "`customer`: that customer, overriding the plan's rules on the feature; neither: every customer.",
  },
);
export type AlertRuleCreate = Static<typeof AlertRuleCreate>;

export const AlertRule = Type.Object(
  {
    id: Type.String({ description: 'The rule id, `alr_…`; named as `rule` in the events it fires.' }),
    feature: Type.String({ description: 'The metered feature watched.' }),
    type: StringEnum(AlertTypes, { description: 'What `value` measures.' }),
    value: Type.Integer({ description: 'The threshold.' }),
    plan: Nullable(Type.String({ description: 'The plan whose subscribers are watched.' })),
    customer: Nullable(Type.String({ description: 'The one customer watched.' })),
    created_at: Timestamp,
  },
  { description: 'A usage alert rule.' },
);
export type AlertRule = Static<typeof AlertRule>;

export const AlertRuleParams = Type.Object({ id: Type.String({ description: 'The rule id.' }) });

export const AlertRuleListQuery = Type.Object(
  {
    feature: Type.Optional(FeatureKey),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1-100.' })),
    cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
  },
  { additionalProperties: false },
);
export type AlertRuleListQuery = Static<typeof AlertRuleListQuery>;
