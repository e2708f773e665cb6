import { type Static, Type } from '@sinclair/typebox';
import { CustomerId, Nullable, Timestamp } from './schema-helpers.js';

export const CustomerUpsert = Type.Object(
  {
    name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    email: Type.Optional(Nullable(Type.String({ format: 'email', maxLength: 320 }))),
    stripe_customer: Type.Optional(
      Nullable(
        Type.String({
          pattern: '^[^\\s]{1,255}$',
          description: "The Stripe customer (`cus_…`) it pays as: that customer's Stripe subscriptions are its.",
        }),
      ),
    ),
    traits: Type.Optional(
      Type.Record(Type.String({ minLength: 1, maxLength: 100 }), Type.Unsafe<unknown>({}), {
        description: 'Attributes for targeting rules; replaces the stored traits when given.',
        maxProperties: 100,
      }),
    ),
  },
  { additionalProperties: false, description: 'Creates the customer or updates the fields given.' },
);
export type CustomerUpsert = Static<typeof CustomerUpsert>;

export const Customer = Type.Object(
  {
    id: Type.String(),
    name: Nullable(Type.String()),
    email: Nullable(Type.String()),
    traits: Type.Record(Type.String(), Type.Unsafe<unknown>({})),
    stripe_customer: Nullable(Type.String({ description: 'The Stripe customer it pays as; null: none.' })),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { description: 'A customer of your product.' },
);
export type Customer = Static<typeof Customer>;

export const CustomerParams = Type.Object({ id: CustomerId });
