import { decisionProvenance } from '@keymaster/core';
import type { ConsumedDecision } from '../consume/service.js';
import type { CheckedDecision } from '../entitlements/service.js';
import type { DecisionLog } from './log.js';

/**
 * What the check and consume services tell the decision log: each decision their feature keeps
 * (they ask `keepsDecision` first), with its provenance worked out here — only for the decisions
 * kept, so a check the log does not keep costs nothing more.
 */
export function decisionListeners(log: DecisionLog) {
  return {
    checked(input: CheckedDecision): void {
      const { decision, feature, resolved, entitlement, grants, now } = input;
      log.record({
        kind: 'check',
        decision,
        quantity: input.request.quantity ?? null,
        at: now,
        provenance: decisionProvenance({ feature, resolved, entitlement, grants, now }),
      });
    },
    consumed(input: ConsumedDecision): void {
      const { decision, feature, snapshot, now } = input;
      const resolved = snapshot.resolved;
      log.record({
        kind: 'consume',
        decision,
        quantity: input.quantity,
        at: now,
        provenance: decisionProvenance({
          feature,
          resolved,
          entitlement: resolved?.entitlements.get(feature.key) ?? null,
          grants: snapshot.state?.grants ?? [],
          now,
        }),
      });
    },
  };
}
