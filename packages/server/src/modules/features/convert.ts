import type { Feature as ApiFeature, FeatureCreate } from '@keymaster/contract';
import type { DecisionLogLevel, Feature, JsonObject, JsonValue } from '@keymaster/core';
import type { Insertable, Selectable } from 'kysely';
import type { FeatureTable } from '../../db/schema.js';
import { fromJsonColumn, toIso, toJsonColumn } from '../../json-column.js';

/** A stored feature: the domain feature plus what only storage and the API care about. */
export type FeatureRecord = Feature & { id: string; description: string | null; createdAt: number; updatedAt: number };

type MeterJson = { event_type: string; aggregation: string; property?: string; filter?: Record<string, unknown> };
type CreditCostJson = { pool: string; per_unit: number };

export function fromDbFeature(row: Selectable<FeatureTable>): FeatureRecord {
  const base = {
    id: row.id,
    key: row.key,
    name: row.name,
    description: row.description,
    unit: row.unit,
    status: row.status as Feature['status'],
    targeting: fromJsonColumn<JsonValue>(row.targeting),
    variants: fromJsonColumn<JsonObject>(row.variants),
    defaultVariant: row.default_variant,
    metadata: fromJsonColumn<JsonObject>(row.metadata),
    decisionLog: (row.decision_log ?? 'denied') as DecisionLogLevel,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  } as const;
  switch (row.type) {
    case 'metered': {
      const meter = fromJsonColumn<MeterJson>(row.meter);
      const cost = fromJsonColumn<CreditCostJson>(row.credit_cost);
      return {
        ...base,
        type: 'metered',
        meter: meter && {
          eventType: meter.event_type,
          aggregation: meter.aggregation as 'count',
          property: meter.property ?? null,
          filter: (meter.filter ?? null) as never,
        },
        creditCost: cost && { pool: cost.pool, perUnit: cost.per_unit },
      };
    }
    case 'config':
      return { ...base, type: 'config', options: fromJsonColumn(row.options) };
    case 'gauge':
      return { ...base, type: 'gauge' };
    default:
      return { ...base, type: 'boolean' };
  }
}

export function toDbFeature(feature: FeatureRecord): Insertable<FeatureTable> {
  return {
    id: feature.id,
    key: feature.key,
    name: feature.name,
    description: feature.description,
    type: feature.type,
    unit: feature.unit,
    status: feature.status,
    options: feature.type === 'config' ? toJsonColumn(feature.options) : null,
    meter: feature.type === 'metered' ? toJsonColumn(feature.meter && toApiMeter(feature.meter)) : null,
    credit_cost:
      feature.type === 'metered' && feature.creditCost
        ? toJsonColumn({ pool: feature.creditCost.pool, per_unit: feature.creditCost.perUnit })
        : null,
    targeting: toJsonColumn(feature.targeting),
    variants: toJsonColumn(feature.variants),
    default_variant: feature.defaultVariant,
    metadata: toJsonColumn(feature.metadata),
    decision_log: feature.decisionLog ?? 'denied',
    created_at: feature.createdAt,
    updated_at: feature.updatedAt,
  };
}

function toApiMeter(meter: NonNullable<Extract<Feature, { type: 'metered' }>['meter']>): MeterJson {
  return {
    event_type: meter.eventType,
    aggregation: meter.aggregation,
    ...(meter.property !== null ? { property: meter.property } : {}),
    ...(meter.filter !== null ? { filter: meter.filter } : {}),
  };
}

export function toApiFeature(feature: FeatureRecord): ApiFeature {
  return {
    id: feature.id,
    key: feature.key,
    name: feature.name,
    description: feature.description,
    type: feature.type,
    unit: feature.unit,
    status: feature.status,
    options: feature.type === 'config' ? feature.options : null,
    meter: feature.type === 'metered' && feature.meter ? (toApiMeter(feature.meter) as ApiFeature['meter']) : null,
    credit_cost:
      feature.type === 'metered' && feature.creditCost
        ? { pool: feature.creditCost.pool, per_unit: feature.creditCost.perUnit }
        : null,
    targeting: feature.targeting,
    variants: feature.variants,
    default_variant: feature.defaultVariant,
    metadata: feature.metadata as ApiFeature['metadata'],
    decision_log: feature.decisionLog ?? 'denied',
    created_at: toIso(feature.createdAt),
    updated_at: toIso(feature.updatedAt),
  };
}

/** The domain feature an API body describes (create, or an existing feature with a patch applied). */
export function fromApiFeature(input: {
  body: FeatureCreate;
  id: string;
  createdAt: number;
  updatedAt: number;
}): FeatureRecord {
  const { body } = input;
  const base = {
    id: input.id,
    key: body.key,
    name: body.name,
    description: body.description ?? null,
    unit: body.unit ?? null,
    status: body.status ?? 'active',
    targeting: (body.targeting ?? null) as FeatureRecord['targeting'],
    variants: (body.variants ?? null) as FeatureRecord['variants'],
    defaultVariant: body.default_variant ?? null,
    metadata: (body.metadata ?? null) as FeatureRecord['metadata'],
    decisionLog: body.decision_log ?? 'denied',
    createdAt: input.createdAt,
    updatedAt: input.updatedAt,
  };
  switch (body.type) {
    case 'metered':
      return {
        ...base,
        type: 'metered',
        meter: body.meter
          ? {
              eventType: body.meter.event_type,
              aggregation: body.meter.aggregation,
              property: body.meter.property ?? null,
              filter: (body.meter.filter ?? null) as never,
            }
          : null,
        creditCost: body.credit_cost ? { pool: body.credit_cost.pool, perUnit: body.credit_cost.per_unit } : null,
      };
    case 'config':
      return { ...base, type: 'config', options: (body.options ?? null) as never };
    case 'gauge':
      return { ...base, type: 'gauge' };
    case 'boolean':
      return { ...base, type: 'boolean' };
  }
}

/** The create-shaped body of a stored feature, so a patch can be applied and re-validated whole. */
export function toFeatureBody(feature: FeatureRecord): FeatureCreate {
  const api = toApiFeature(feature);
  const body: FeatureCreate = { key: api.key, name: api.name, type: api.type, status: api.status };
  if (api.description !== null) body.description = api.description;
  if (api.unit !== null) body.unit = api.unit;
  if (api.options !== null) body.options = api.options;
  if (api.meter !== null) body.meter = api.meter;
  if (api.credit_cost !== null) body.credit_cost = api.credit_cost;
  if (api.targeting !== null) body.targeting = api.targeting;
  if (api.variants !== null) body.variants = api.variants;
  if (api.default_variant !== null) body.default_variant = api.default_variant;
  if (api.metadata !== null) body.metadata = api.metadata;
  // The default stays implicit, so catalog files name only what differs.
  if (api.decision_log !== 'denied') body.decision_log = api.decision_log;
  return body;
}
