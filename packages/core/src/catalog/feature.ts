import type { FieldError } from '../errors.js';
import { type JsonObject, type JsonValue, jsonEquals } from '../json.js';

export const FeatureTypes = ['boolean', 'metered', 'gauge', 'config'] as const;
export type FeatureType = (typeof FeatureTypes)[number];

export const FeatureStatuses = ['active', 'disabled'] as const;
export type FeatureStatus = (typeof FeatureStatuses)[number];

export const MeterAggregations = ['count', 'sum', 'max', 'unique_count', 'latest'] as const;
export type MeterAggregation = (typeof MeterAggregations)[number];

/** How usage events feed a metered feature. */
export interface Meter {
  eventType: string;
  aggregation: MeterAggregation;
  property: string | null;
  filter: JsonObject | null;
}

/** A feature drawing from a credit pool: each unit used costs `perUnit` units of `pool`. */
export interface CreditCost {
  pool: string;
  perUnit: number;
}

/**
 * Which of a feature's decisions the decision log keeps: none, the refusals (the default: "why
 * was acme denied?"), or every one.
 */
export const DecisionLogLevels = ['off', 'denied', 'all'] as const;
export type DecisionLogLevel = (typeof DecisionLogLevels)[number];

interface FeatureBase {
  key: string;
  name: string;
  unit: string | null;
  /** `disabled` is the kill switch: the feature is denied to everyone. */
  status: FeatureStatus;
  /** A flagd targeting rule (JsonLogic + fractional, sem_ver, starts_with, ends_with). */
  targeting: JsonValue | null;
  /** flagd-style named values a targeting rule may answer with; see `defaultVariants`. */
  variants: JsonObject | null;
  /**
   * The variant that answers when nothing else does (flagd's `defaultVariant`): the lowest layer
   * of a customer's resolution, and the value of a customer-less evaluation (`evaluateFlag`)
   * without targeting or when the rule picks nothing. One of `variants` or `defaultVariants`.
   */
  defaultVariant: string | null;
  /** The flag's own metadata (flagd/OpenFeature `flagMetadata`): a flat object of strings, numbers and booleans. */
  metadata: JsonObject | null;
  /** Which decisions the decision log keeps; `denied` when absent. */
  decisionLog?: DecisionLogLevel;
}

export interface BooleanFeature extends FeatureBase {
  type: 'boolean';
}
export interface MeteredFeature extends FeatureBase {
  type: 'metered';
  meter: Meter | null;
  creditCost: CreditCost | null;
}
export interface GaugeFeature extends FeatureBase {
  type: 'gauge';
}
export interface ConfigFeature extends FeatureBase {
  type: 'config';
  /** When set, the feature is an enum: every plan, grant and variant value must be one of these. */
  options: JsonValue[] | null;
}
export type Feature = BooleanFeature | MeteredFeature | GaugeFeature | ConfigFeature;

/**
 * The largest quantity, limit, level or event amount Keymaster takes: 2^53 − 1, exact in every
 * JSON client and in both databases. Larger figures would round, or overflow a counter to
 * infinity (a 500 on PostgreSQL, a silent `null` in answers on SQLite).
 */
export const maxQuantity = Number.MAX_SAFE_INTEGER;

/** Metered and gauge features are counted against a limit; the others are not. */
export function isQuantityType(type: FeatureType): type is 'metered' | 'gauge' {
  return type === 'metered' || type === 'gauge';
}

const keyPattern = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const featureKeyPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Catalog keys are stable slugs: lower case, digits, `_`, `.`, `-`, up to 64 characters. */
export function validateKey(key: string, path: string): FieldError[] {
  return keyPattern.test(key)
    ? []
    : [{ path, message: 'must be a slug: lower-case letters, digits, "_", "." or "-" (1-64 chars)' }];
}

/**
 * Feature keys are slugs that may also hold upper-case letters: flag keys (flagd, OpenFeature) are
 * case-sensitive and often camelCase, and an imported flag keeps its key so that the same
 * evaluation finds it and `fractional` hashes the same flag key.
 */
export function validateFeatureKey(key: string, path: string): FieldError[] {
  return featureKeyPattern.test(key)
    ? []
    : [{ path, message: 'must be letters, digits, "_", "." or "-" (1-64 chars), starting with a letter or digit' }];
}

/**
 * The variants a targeting rule may name when the feature declares none. A rule may also
 * answer `true`/`false` directly: flagd turns any answer into a variant name with toString().
 */
export function defaultVariants(feature: Pick<Feature, 'type'> & { options?: JsonValue[] | null }): JsonObject {
  const onOff: JsonObject = { on: true, off: false, true: true, false: false };
  if (feature.type === 'config' && feature.options) {
    const variants: JsonObject = {};
    for (const option of feature.options) variants[String(option)] = option;
    return variants;
  }
  return feature.type === 'config' ? {} : onOff;
}

/** Every variant a rule or the default variant may name: the predeclared ones, then the feature's own. */
export function featureVariants(feature: Feature): JsonObject {
  return { ...defaultVariants(feature), ...(feature.variants ?? {}) };
}

/** Whether `value` is allowed for a config feature (always, unless it has `options`). */
export function isAllowedConfigValue(feature: ConfigFeature, value: JsonValue): boolean {
  return feature.options === null || feature.options.some((option) => jsonEquals(option, value));
}

/**
 * Domain rules a well-formed feature must also satisfy. Shape and types are the contract's job;
 * targeting rules are checked by `validateTargeting`.
 */
export function validateFeature(feature: Feature): FieldError[] {
  const errors = validateFeatureKey(feature.key, '/key');
  if (feature.type === 'config' && feature.options !== null && feature.options.length === 0) {
    errors.push({ path: '/options', message: 'must list at least one option' });
  }
  if (feature.type === 'metered' && feature.creditCost) {
    if (feature.creditCost.pool === feature.key) {
      errors.push({ path: '/credit_cost/pool', message: 'a feature cannot draw from itself' });
    }
    if (!(feature.creditCost.perUnit > 0)) {
      errors.push({ path: '/credit_cost/per_unit', message: 'must be greater than 0' });
    }
    // A pool counts credits spent: only a meter that adds up (count, sum) can spend them.
    const aggregation = feature.meter?.aggregation;
    if (aggregation !== undefined && aggregation !== 'count' && aggregation !== 'sum') {
      errors.push({ path: '/meter/aggregation', message: 'must be count or sum for a feature drawing from a pool' });
    }
  }
  if (feature.type === 'metered' && feature.meter) {
    const { aggregation, property } = feature.meter;
    if (aggregation !== 'count' && !property) {
      errors.push({ path: '/meter/property', message: `is required for aggregation "${aggregation}"` });
    }
  }
  for (const [name, value] of Object.entries(feature.variants ?? {})) {
    const problem = variantProblem(feature, value);
    if (problem) errors.push({ path: `/variants/${name}`, message: problem });
  }
  if (feature.defaultVariant !== null && !(feature.defaultVariant in featureVariants(feature))) {
    errors.push({ path: '/default_variant', message: "must name one of the feature's variants" });
  }
  for (const [name, value] of Object.entries(feature.metadata ?? {})) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      errors.push({ path: `/metadata/${name}`, message: 'must be a string, number or boolean' });
    }
  }
  return errors;
}

function variantProblem(feature: Feature, value: JsonValue): string | null {
  switch (feature.type) {
    case 'boolean':
      return typeof value === 'boolean' ? null : 'must be true or false for a boolean feature';
    case 'metered':
    case 'gauge':
      return typeof value === 'boolean' || (typeof value === 'number' && Number.isInteger(value) && value >= 0)
        ? null
        : 'must be true, false or a non-negative integer limit';
    case 'config':
      return isAllowedConfigValue(feature, value) ? null : 'must be one of the feature options';
  }
}
