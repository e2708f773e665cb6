import { type Static, Type } from '@sinclair/typebox';
import { Nullable, StringEnum, Timestamp } from './schema-helpers.js';

/** What became of a Stripe event (see docs/stripe.md). */
export const StripeEventOutcomes = ['received', 'applied', 'duplicate', 'stale', 'ignored', 'failed'] as const;

const outcome = StringEnum(StripeEventOutcomes, {
  description:
    '`applied`; `duplicate` (applied before); `stale` (older than the last change applied to its subscription); ' +
    '`ignored` (`detail` says why); `failed` (Stripe retries it; `keymaster stripe replay` applies it again); ' +
    '`received` while it is being applied.',
});

export const StripeWebhookResult = Type.Object(
  {
    event: Type.String({ description: "Stripe's event id (`evt_…`)." }),
    outcome,
    detail: Nullable(
      Type.String({ description: 'Why it was ignored or stale, and items of unknown products left out.' }),
    ),
  },
  { description: 'What became of the event.' },
);
export type StripeWebhookResult = Static<typeof StripeWebhookResult>;

export const StripeEvent = Type.Object(
  {
    id: Type.String({ description: "Stripe's event id (`evt_…`)." }),
    type: Type.String({ description: 'e.g. `customer.subscription.updated`.' }),
    created: Timestamp,
    outcome,
    detail: Nullable(Type.String()),
    subscription: Nullable(Type.String({ description: 'The Stripe subscription (`sub_…`) it was about.' })),
    customer: Nullable(Type.String({ description: 'The Keymaster customer it was about.' })),
    received_at: Timestamp,
    applied_at: Nullable(Timestamp),
  },
  { description: 'An event Stripe delivered, as received, and what became of it.' },
);
export type StripeEvent = Static<typeof StripeEvent>;
