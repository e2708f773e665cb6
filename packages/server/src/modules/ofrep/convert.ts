import type { OfrepError, OfrepEvaluation } from '@keymaster/contract';
import {
  type Decision,
  type EntitlementSource,
  type Feature,
  type FlagEvaluation,
  isQuantityType,
} from '@keymaster/core';
import type { ProblemInput } from '../../http/problems.js';

/**
 * A Keymaster check as an OFREP evaluation.
 *
 * - value: boolean, metered and gauge features answer `allowed` (metered and gauge: may one more
 *   unit be used); config features their value, left out when there is none so the client falls
 *   back to its default.
 * - reason: `DISABLED` for the kill switch; `TARGETING_MATCH` when a targeting rule or a grant
 *   (customer-specific terms) decided; `STATIC` when the customer's plan or add-ons did; `DEFAULT`
 *   when nothing did (no entitlement, inactive subscription, unknown customer).
 * - variant: `on`/`off` for allowed/denied, a config value's string form.
 * - metadata: the feature's own flag metadata, then Keymaster's own `reason`, `source` and `type`,
 *   and `limit`, `usage`, `balance`, `unlimited` when they apply (Keymaster's keys win).
 *
 * Unknown features are not evaluations: see `flagNotFound`.
 */
export function toOfrepEvaluation(input: {
  decision: Decision;
  source: EntitlementSource | null;
  flagMetadata?: Feature['metadata'];
}): OfrepEvaluation {
  const { decision, source } = input;
  const metadata: Record<string, string | number | boolean> = {
    ...(input.flagMetadata as Record<string, string | number | boolean> | null),
    reason: decision.reason,
  };
  if (source !== null) metadata.source = source;
  if (decision.type !== null) metadata.type = decision.type;
  if (decision.limit !== null) metadata.limit = decision.limit;
  if (decision.usage !== null) metadata.usage = decision.usage;
  if (decision.balance !== null) metadata.balance = decision.balance;
  if (decision.type === 'metered' || decision.type === 'gauge') metadata.unlimited = decision.unlimited;
  const reason =
    decision.reason === 'feature_disabled'
      ? 'DISABLED'
      : source === 'targeting' || source === 'grant'
        ? 'TARGETING_MATCH'
        : source === 'plan' || source === 'addon'
          ? 'STATIC'
          : 'DEFAULT'; // the default variant, or nothing
  const answer: OfrepEvaluation = { key: decision.feature, reason, metadata };
  if (decision.type === 'config') {
    if (decision.allowed && decision.value !== null) {
      answer.value = decision.value;
      answer.variant = typeof decision.value === 'string' ? decision.value : JSON.stringify(decision.value);
    }
  } else {
    answer.value = decision.allowed;
    answer.variant = decision.allowed ? 'on' : 'off';
  }
  return answer;
}

/**
 * A feature evaluated from its definition alone (no targeting key), as flagd's OFREP answers it:
 * `value` and `variant` as the evaluation gives them (left out when the caller's default applies:
 * DISABLED, or DEFAULT without a default variant), `metadata` the feature's own flag metadata.
 * Evaluation errors and counted features (they need a customer) are OFREP errors.
 */
export function toOfrepDefinition(input: {
  feature: Feature;
  evaluation: FlagEvaluation;
}): { status: 200; body: OfrepEvaluation } | { status: 400; body: OfrepError } {
  const { feature, evaluation } = input;
  if (isQuantityType(feature.type)) {
    const errorDetails = `${feature.type} feature "${feature.key}" is counted per customer: give context.targetingKey.`;
    return { status: 400, body: { key: feature.key, errorCode: 'TARGETING_KEY_MISSING', errorDetails } };
  }
  if (evaluation.reason === 'ERROR') {
    return { status: 400, body: { key: feature.key, errorCode: 'GENERAL', errorDetails: evaluation.error ?? '' } };
  }
  const body: OfrepEvaluation = { key: feature.key, reason: evaluation.reason };
  if (evaluation.value !== undefined) body.value = evaluation.value;
  if (evaluation.variant !== undefined) body.variant = evaluation.variant;
  if (feature.metadata !== null) body.metadata = feature.metadata as NonNullable<OfrepEvaluation['metadata']>;
  return { status: 200, body };
}

export const flagNotFound = (key: string): OfrepError => ({
  key,
  errorCode: 'FLAG_NOT_FOUND',
  errorDetails: `Feature "${key}" does not exist.`,
});

/** OFREP's error code for a problem the HTTP layer raised before the evaluation ran. */
function ofrepErrorCode(problem: ProblemInput): string {
  if (problem.code === 'malformed_request' || problem.code === 'unsupported_media_type') return 'PARSE_ERROR';
  // The body is the evaluation context: a body or context that is not an object, or holds what
  // no context may (NUL characters, nesting past the limit). Other fields (a header) are not.
  const inBody = problem.errors?.every((e) => !e.path.startsWith('/headers/') && !e.path.startsWith('/params/'));
  if (problem.code === 'validation_failed' && inBody) return 'INVALID_CONTEXT';
  return 'GENERAL';
}

/**
 * A problem on an OFREP route in OFREP's error shape (`errorCode`, `errorDetails`, and the flag's
 * `key` on the single-flag route), so an OpenFeature provider reads every refusal of bad input
 * the same way. Authentication and authorisation stay problem documents (401, 403): OFREP gives
 * them no body of its own.
 */
export function toOfrepErrorBody(input: { problem: ProblemInput; params: unknown }): OfrepError | undefined {
  const { problem } = input;
  if (problem.status === 401 || problem.status === 403) return undefined;
  const key = (input.params as { key?: unknown } | undefined)?.key;
  return {
    ...(typeof key === 'string' ? { key } : {}),
    errorCode: ofrepErrorCode(problem),
    errorDetails: problem.detail,
  };
}
