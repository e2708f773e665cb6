import { SubscriptionStatuses, TrialEndActions } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { CatalogKey, Nullable, StringEnum, Timestamp } from './schema-helpers.js';

const subscriptionStatuses = SubscriptionStatuses;
const trialEndActions = TrialEndActions;
export const whens = ['now', 'period_end'] as const;

export const SubscriptionCreate = Type.Object(
  {
    plan: CatalogKey,
    trial_days: Type.Optional(Type.Integer({ minimum: 0, maximum: 730, description: "Overrides the plan's trial." })),
    on_trial_end: Type.Optional(
      StringEnum(trialEndActions, { description: '`cancel` (default): an unpaid trial ends access at its end.' }),
    ),
    add_ons: Type.Optional(
      Type.Array(
        Type.Object(
          { plan: CatalogKey, quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })) },
          { additionalProperties: false },
        ),
        { maxItems: 50 },
      ),
    ),
    ends_at: Type.Optional(Timestamp),
    source: Type.Optional(
      Type.String({ minLength: 1, maxLength: 50, description: 'Who provisioned it; default `api`.' }),
    ),
  },
  { additionalProperties: false, description: "Subscribes the customer to a plan's latest published version." },
);
export type SubscriptionCreate = Static<typeof SubscriptionCreate>;

export const CancelRequest = Type.Object(
  { when: Type.Optional(StringEnum(whens, { description: '`now` (default) or at `period_end`.' })) },
  { additionalProperties: false },
);
export type CancelRequest = Static<typeof CancelRequest>;

export const Subscription = Type.Object(
  {
    id: Type.String(),
    customer: Type.String(),
    plan: Type.String(),
    plan_version: Type.Integer(),
    status: StringEnum(subscriptionStatuses, { description: 'The status now, including any end already passed.' }),
    current_period_start: Timestamp,
    current_period_end: Timestamp,
    trial_end: Nullable(Timestamp),
    on_trial_end: StringEnum(trialEndActions),
    cancel_at: Nullable(Timestamp),
    canceled_at: Nullable(Timestamp),
    ends_at: Nullable(Timestamp),
    scheduled_change: Type.Unsafe<{ plan: string; at: string } | null>({
      type: ['object', 'null'],
      properties: { plan: { type: 'string' }, at: { type: 'string', format: 'date-time' } },
    }),
    add_ons: Type.Array(Type.Object({ plan: Type.String(), plan_version: Type.Integer(), quantity: Type.Integer() })),
    source: Type.String(),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { description: "A customer's subscription to a plan version." },
);
export type Subscription = Static<typeof Subscription>;

export const SubscriptionParams = Type.Object({ id: Type.String() });
