import type { EvaluationContext, Logger } from '@openfeature/core';
import { FeatureFlag } from '@openfeature/flagd-core';
import { type Feature, featureVariants } from '../catalog/feature.js';
import type { FieldError } from '../errors.js';
import type { JsonObject, JsonValue } from '../json.js';

/** A feature's targeting rule, compiled once per catalog version and evaluated per customer. */
export interface CompiledTargeting {
  /**
   * The value the rule picks for this context, or undefined when it picks nothing. The context is
   * only read (flagd copies it): `resolve` hands the same one to every rule of a customer.
   */
  evaluate(context: JsonObject): JsonValue | undefined;
  /**
   * What the rule names for this context, as flagd reports it: the variant and its value
   * (`match`), nothing (`none`: the rule answered null), or `error` (the rule failed or named a
   * variant the feature does not have).
   */
  pick(context: JsonObject): TargetingPick;
}

export type TargetingPick =
  | { kind: 'match'; variant: string; value: JsonValue }
  | { kind: 'none' }
  | { kind: 'error'; message: string };

const silent: Logger = { error() {}, warn() {}, info() {}, debug() {} };

/**
 * Compiles a feature's targeting rule with flagd's own evaluator, so that rules written for flagd
 * behave identically here — including `fractional`, whose bucketing hashes the flag key and the
 * targeting key (the customer id) with murmur3, exactly as flagd does in every language.
 *
 * The rule answers a variant name (flagd style) or a literal the feature understands;
 * `null` / no answer means "no opinion": resolution falls through to the plan.
 */
export function compileTargeting(feature: Feature): { targeting: CompiledTargeting | null; errors: FieldError[] } {
  if (feature.targeting === null) return { targeting: null, errors: [] };
  const flag = new FeatureFlag(
    feature.key,
    {
      state: 'ENABLED',
      // No default variant: a rule that answers nothing must fall through, not pick a value.
      defaultVariant: '',
      variants: featureVariants(feature) as Record<string, never>,
      targeting: feature.targeting as unknown as string,
    },
    silent,
  );
  const probe = flag.evaluate({});
  if (probe.reason === 'ERROR' && probe.errorCode === 'PARSE_ERROR') {
    return {
      targeting: null,
      errors: [
        {
          path: '/targeting',
          message: 'is not a valid flagd targeting rule (JsonLogic with fractional, sem_ver, starts_with, ends_with)',
        },
      ],
    };
  }
  return {
    targeting: {
      evaluate(context) {
        const result = flag.evaluate(context as EvaluationContext);
        return result.reason === 'ERROR' || result.value === undefined ? undefined : (result.value as JsonValue);
      },
      pick(context) {
        const result = flag.evaluate(context as EvaluationContext);
        if (result.reason === 'ERROR') return { kind: 'error', message: result.errorMessage ?? 'evaluation failed' };
        if (result.value === undefined || result.variant === undefined) return { kind: 'none' };
        return { kind: 'match', variant: result.variant, value: result.value as JsonValue };
      },
    },
    errors: [],
  };
}

/**
 * The context a targeting rule sees. The caller's context comes first and the customer's stored
 * traits over it, then the reserved keys, so a caller cannot claim another plan or identity.
 */
export function targetingContext(input: {
  customer: { id: string; name: string | null; email: string | null; traits: JsonObject };
  planKey: string | null;
  subscriptionStatus: string | null;
  callerContext?: JsonObject | undefined;
}): JsonObject {
  const { customer } = input;
  return {
    ...input.callerContext,
    ...customer.traits,
    targetingKey: customer.id,
    customer: { id: customer.id, name: customer.name, email: customer.email, traits: customer.traits },
    plan: input.planKey,
    subscription_status: input.subscriptionStatus,
  };
}
