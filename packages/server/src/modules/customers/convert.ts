import type { Customer as ApiCustomer } from '@keymaster/contract';
import type { Customer, JsonObject } from '@keymaster/core';
import type { Insertable, Selectable } from 'kysely';
import type { CustomerTable } from '../../db/schema.js';
import { toIso } from '../../json-column.js';

export type CustomerRecord = Customer & {
  /** The Stripe customer it pays as (see docs/stripe.md); null: none. */
  stripeCustomer: string | null;
  createdAt: number;
  updatedAt: number;
};

export function fromDbCustomer(row: Selectable<CustomerTable>): CustomerRecord {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    traits: JSON.parse(row.traits) as JsonObject,
    stripeCustomer: row.stripe_customer,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toDbCustomer(customer: CustomerRecord): Insertable<CustomerTable> {
  return {
    id: customer.id,
    name: customer.name,
    email: customer.email,
    traits: JSON.stringify(customer.traits),
    stripe_customer: customer.stripeCustomer,
    created_at: customer.createdAt,
    updated_at: customer.updatedAt,
  };
}

export function toApiCustomer(customer: CustomerRecord): ApiCustomer {
  return {
    id: customer.id,
    name: customer.name,
    email: customer.email,
    traits: customer.traits,
    stripe_customer: customer.stripeCustomer,
    created_at: toIso(customer.createdAt),
    updated_at: toIso(customer.updatedAt),
  };
}
