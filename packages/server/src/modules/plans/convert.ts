import type { Plan as ApiPlan, PlanCreate } from '@keymaster/contract';
import type { PlanEntitlement, PlanVersion } from '@keymaster/core';
import type { Insertable, Selectable } from 'kysely';
import type { PlanVersionTable } from '../../db/schema.js';
import { toIso } from '../../json-column.js';

/** A stored plan version with what only storage and the API care about. */
export type PlanRecord = PlanVersion & {
  id: string;
  /** The Stripe product it is sold as (see docs/stripe.md); null: none. */
  stripeProduct: string | null;
  createdAt: number;
  updatedAt: number;
  publishedAt: number | null;
  archivedAt: number | null;
};

type EntitlementJson = {
  feature: string;
  enabled: boolean;
  limit: number | null;
  reset: PlanEntitlement['reset'];
  window: string | null;
  overage: PlanEntitlement['overage'];
  value: PlanEntitlement['value'];
};

export function fromDbPlan(row: Selectable<PlanVersionTable>): PlanRecord {
  return {
    id: row.id,
    key: row.plan_key,
    version: row.version,
    status: row.status as PlanRecord['status'],
    name: row.name,
    description: row.description,
    kind: row.kind as PlanRecord['kind'],
    price:
      row.price_amount !== null && row.price_currency !== null && row.price_interval !== null
        ? { amount: row.price_amount, currency: row.price_currency, interval: row.price_interval as 'month' }
        : null,
    trialDays: row.trial_days,
    stripeProduct: row.stripe_product,
    entitlements: (JSON.parse(row.entitlements) as EntitlementJson[]).map((e) => ({ ...e })),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    publishedAt: row.published_at,
    archivedAt: row.archived_at,
  };
}

export function toDbPlan(plan: PlanRecord): Insertable<PlanVersionTable> {
  return {
    id: plan.id,
    plan_key: plan.key,
    version: plan.version,
    status: plan.status,
    name: plan.name,
    description: plan.description,
    kind: plan.kind,
    price_amount: plan.price?.amount ?? null,
    price_currency: plan.price?.currency ?? null,
    price_interval: plan.price?.interval ?? null,
    trial_days: plan.trialDays,
    stripe_product: plan.stripeProduct,
    entitlements: JSON.stringify(plan.entitlements satisfies EntitlementJson[]),
    created_at: plan.createdAt,
    updated_at: plan.updatedAt,
    published_at: plan.publishedAt,
    archived_at: plan.archivedAt,
  };
}

export function toApiPlan(input: {
  plan: PlanRecord;
  latestVersion: number;
  publishedVersion: number | null;
}): ApiPlan {
  const { plan } = input;
  return {
    id: plan.id,
    key: plan.key,
    version: plan.version,
    status: plan.status,
    name: plan.name,
    description: plan.description,
    kind: plan.kind,
    price: plan.price,
    trial_days: plan.trialDays,
    stripe_product: plan.stripeProduct,
    entitlements: plan.entitlements.map((e) => ({ ...e })),
    latest_version: input.latestVersion,
    published_version: input.publishedVersion,
    created_at: toIso(plan.createdAt),
    published_at: toIso(plan.publishedAt),
    archived_at: toIso(plan.archivedAt),
  };
}

/** The plan fields of an API body, with defaults applied; `limit` stays absent when absent. */
export function fromApiPlanFields(body: Omit<PlanCreate, 'key'>) {
  return {
    name: body.name,
    description: body.description ?? null,
    kind: body.kind ?? 'base',
    price: body.price ?? null,
    trialDays: body.trial_days ?? null,
    stripeProduct: body.stripe_product ?? null,
    entitlements: body.entitlements.map((e) => ({
      feature: e.feature,
      enabled: e.enabled ?? true,
      ...(e.limit !== undefined ? { limit: e.limit } : {}),
      reset: e.reset ?? null,
      window: e.window ?? null,
      overage: e.overage ?? 'block',
      value: (e.value ?? null) as PlanEntitlement['value'],
    })),
  };
}

/** The create-shaped body of a stored version, so a patch can be applied and re-validated whole. */
export function toPlanBody(plan: PlanRecord): Omit<PlanCreate, 'key'> {
  return {
    name: plan.name,
    ...(plan.description !== null ? { description: plan.description } : {}),
    kind: plan.kind,
    ...(plan.price !== null ? { price: plan.price } : {}),
    ...(plan.trialDays !== null ? { trial_days: plan.trialDays } : {}),
    ...(plan.stripeProduct !== null ? { stripe_product: plan.stripeProduct } : {}),
    entitlements: plan.entitlements.map((e) => ({
      feature: e.feature,
      enabled: e.enabled,
      limit: e.limit,
      ...(e.reset !== null ? { reset: e.reset } : {}),
      ...(e.window !== null ? { window: e.window } : {}),
      overage: e.overage,
      ...(e.value !== null ? { value: e.value } : {}),
    })),
  };
}
