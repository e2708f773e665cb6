import { type Feature, featureVariants } from '../catalog/feature.js';
import type { JsonObject, JsonValue } from '../json.js';
import { type CompiledTargeting, compileTargeting } from './targeting.js';

/** Why a customer-less evaluation answered as it did: OpenFeature's standard reasons, as flagd gives them. */
export const FlagReasons = ['STATIC', 'TARGETING_MATCH', 'DEFAULT', 'DISABLED', 'ERROR'] as const;
export type FlagReason = (typeof FlagReasons)[number];

/**
 * A feature evaluated from its definition alone, as flagd evaluates a flag. `value` and `variant`
 * are undefined when the caller's default applies (`DISABLED`, `ERROR`, or `DEFAULT` without a
 * default variant).
 */
export interface FlagEvaluation {
  value: JsonValue | undefined;
  variant: string | undefined;
  reason: FlagReason;
  /** Why the rule failed, for `ERROR`. */
  error?: string;
}

/**
 * Evaluates a feature without a customer — for anonymous visitors, or users Keymaster does not
 * know — exactly as flagd evaluates the same flag:
 *
 * - `DISABLED`: the kill switch; no value, no variant.
 * - `STATIC`: no targeting rule; the default variant answers.
 * - `TARGETING_MATCH`: the rule named a variant.
 * - `DEFAULT`: the rule named nothing; the default variant answers, or (without one) nothing.
 * - `ERROR`: the rule failed or named a variant the feature does not have.
 *
 * The context is the caller's, read as is: `fractional` buckets on its `targetingKey` with the
 * same hash as flagd. Pass the catalog's compiled rule (`catalog.targeting.get(key)`) when there
 * is one; without it the rule is compiled here, which costs far more than the evaluation.
 *
 * @example
 * evaluateFlag({ feature: buildFeature({ key: 'beta', defaultVariant: 'off' }), context: {} });
 * // → { value: false, variant: 'off', reason: 'STATIC' }
 */
export function evaluateFlag(input: {
  feature: Feature;
  context: JsonObject;
  targeting?: CompiledTargeting | undefined;
}): FlagEvaluation {
  const { feature } = input;
  if (feature.status === 'disabled') return { value: undefined, variant: undefined, reason: 'DISABLED' };
  if (feature.targeting === null) return byDefault(feature, 'STATIC');
  const targeting = input.targeting ?? compileTargeting(feature).targeting;
  // Stored rules were validated; one that no longer compiles is flagd's PARSE_ERROR, not a static answer.
  if (!targeting) return { value: undefined, variant: undefined, reason: 'ERROR', error: 'the rule does not compile' };
  const pick = targeting.pick(input.context);
  if (pick.kind === 'match') return { value: pick.value, variant: pick.variant, reason: 'TARGETING_MATCH' };
  if (pick.kind === 'error') return { value: undefined, variant: undefined, reason: 'ERROR', error: pick.message };
  return byDefault(feature, 'DEFAULT');
}

function byDefault(feature: Feature, reason: 'STATIC' | 'DEFAULT'): FlagEvaluation {
  const variants = featureVariants(feature);
  if (feature.defaultVariant === null || !(feature.defaultVariant in variants)) {
    return { value: undefined, variant: undefined, reason: 'DEFAULT' };
  }
  return { value: variants[feature.defaultVariant], variant: feature.defaultVariant, reason };
}
