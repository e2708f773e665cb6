import type { OfrepError, OfrepEvaluation } from '@keymaster/contract';
import type { Decision, EntitlementSource } from '@keymaster/core';

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
 * - metadata: Keymaster's own `reason`, `source` and `type`, and `limit`, `usage`, `balance`,
 *   `unlimited` when they apply.
 *
 * Unknown features are not evaluations: see `flagNotFound`.
 */
export function toOfrepEvaluation(input: { decision: Decision; source: EntitlementSource | null }): OfrepEvaluation {
  const { decision, source } = input;
  const metadata: Record<string, string | number | boolean> = { reason: decision.reason };
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
          : 'DEFAULT';
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

export const flagNotFound = (key: string): OfrepError => ({
  key,
  errorCode: 'FLAG_NOT_FOUND',
  errorDetails: `Feature "${key}" does not exist.`,
});
