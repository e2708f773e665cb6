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
    allow_repeat_trial: Type.Optional(
      Type.Boolean({
        description: 'Allow a trial of a plan this customer has already trialed (one per plan by default).',
      }),
    ),
    source: Type.Optional(
      Type.String({ minLength: 1, maxLength: 50, description: 'Who provisioned it; default `api`.' }),
    ),
  },
  { additionalProperties: false, description: "Subscribes the customer to a plan's latest published version." },
);
export type SubscriptionCreate = Static<typeof SubscriptionCreate>;

/** Why a change was made, kept in the subscription's history. */
const Reason = Type.String({ minLength: 1, maxLength: 500, description: 'Why; kept in the history.' });

export const CancelRequest = Type.Object(
  {
    when: Type.Optional(StringEnum(whens, { description: '`now` (default) or at `period_end`.' })),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false },
);
export type CancelRequest = Static<typeof CancelRequest>;

export const ChangeRequest = Type.Object(
  {
    plan: CatalogKey,
    when: Type.Optional(
      StringEnum(whens, {
        description:
          'Default: `now` for an upgrade (same or higher price), `period_end` for a downgrade. A second change ' +
          'replaces a scheduled one.',
      }),
    ),
    reason: Type.Optional(Reason),
  },
  {
    additionalProperties: false,
    description: "Moves the subscription to another base plan's latest published version.",
  },
);
export type ChangeRequest = Static<typeof ChangeRequest>;

/** The body of the simple transitions (activate, undo-cancel, resume). */
export const TransitionRequest = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false });
export type TransitionRequest = Static<typeof TransitionRequest>;

export const PastDueRequest = Type.Object(
  {
    grace_days: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 365,
        description: 'Days of access kept before suspension; default KEYMASTER_PAST_DUE_GRACE_DAYS.',
      }),
    ),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false },
);
export type PastDueRequest = Static<typeof PastDueRequest>;

export const PauseRequest = Type.Object(
  {
    resumes_at: Type.Optional(Timestamp),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false, description: 'Pauses access; with `resumes_at` it resumes by itself then.' },
);
export type PauseRequest = Static<typeof PauseRequest>;

export const AddOnUpdate = Type.Object(
  {
    plan: CatalogKey,
    quantity: Type.Integer({ minimum: 0, maximum: 1_000_000, description: '0 detaches the add-on.' }),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false, description: 'Attaches an add-on, changes its quantity, or detaches it.' },
);
export type AddOnUpdate = Static<typeof AddOnUpdate>;

export const SubscriptionUpdate = Type.Object(
  {
    on_trial_end: Type.Optional(
      StringEnum(trialEndActions, { description: '`activate` once a payment method is on file.' }),
    ),
    ends_at: Type.Optional(Nullable(Timestamp)),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type SubscriptionUpdate = Static<typeof SubscriptionUpdate>;

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
    grace_ends_at: Nullable(Timestamp),
    resumes_at: Nullable(Timestamp),
    scheduled_change: Type.Unsafe<{ plan: string; plan_version: number; at: string } | null>({
      type: ['object', 'null'],
      properties: {
        plan: { type: 'string' },
        plan_version: { type: 'integer' },
        at: { type: 'string', format: 'date-time' },
      },
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

export const HistoryEntry = Type.Object(
  {
    at: Timestamp,
    action: Type.String({
      description: 'What happened: an API action (`cancel`, `change_plan`, ...) or a step of time.',
    }),
    actor: Type.String({ description: '`key:<id>` for an API key, `scheduler` for time.' }),
    reason: Nullable(Type.String()),
    before: Type.Unsafe<Subscription | null>({ ...Subscription, type: ['object', 'null'] }),
    after: Subscription,
  },
  { description: 'One change to a subscription.' },
);
export type HistoryEntry = Static<typeof HistoryEntry>;

export const TestClockAdvance = Type.Object(
  { to: Timestamp },
  { additionalProperties: false, description: 'Moves simulated time forward (never back).' },
);
export type TestClockAdvance = Static<typeof TestClockAdvance>;

export const TestClockNow = Type.Object({ now: Timestamp });
