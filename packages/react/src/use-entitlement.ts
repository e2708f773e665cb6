import type { Decision } from '@keymaster/sdk';
import { useMemo, useRef, useSyncExternalStore } from 'react';
import { useCustomerStore } from './keymaster-context.js';

/** What `useEntitlement` answers. */
export interface EntitlementState {
  /** The SDK's decision: `reason`, `limit`, `usage`, `balance`, `resets_at`, `value`, ... */
  decision: Decision;
  /** `decision.allowed`. While loading, the failure policy's answer (denied by default). */
  allowed: boolean;
  /** The customer's entitlements have not arrived yet: show a placeholder rather than a "no". */
  loading: boolean;
  /** Answered from a snapshot the SDK could not confirm fresh (the server is unreachable). */
  stale: boolean;
}

/**
 * May the provider's customer use `feature` (and `quantity` more of it, default 1)? Decided
 * locally by the SDK from the customer's cached entitlements, and re-rendered when they change:
 * the stream pushes grants, plan changes and usage as they happen.
 *
 * @example
 * const { allowed, loading, decision } = useEntitlement('exports', { quantity: rows.length });
 * if (loading) return <Spinner />;
 * return <button disabled={!allowed}>Export ({decision.balance} left)</button>;
 */
export function useEntitlement(feature: string, options: { quantity?: number } = {}): EntitlementState {
  const store = useCustomerStore('useEntitlement');
  const quantity = options.quantity ?? 1;
  const last = useRef<Decision | null>(null);
  // useSyncExternalStore needs the same object back while nothing changed. Cached answers are
  // shared objects already; fallback answers are made per call, so equal ones are folded here.
  const read = () => {
    const next = store.check(feature, quantity);
    if (last.current === null || !sameDecision(last.current, next)) last.current = next;
    return last.current;
  };
  const decision = useSyncExternalStore(store.subscribe, read, read);
  return useMemo(
    () => ({
      decision,
      allowed: decision.allowed,
      loading: decision.source === 'fallback' && decision.reason === 'loading',
      stale: decision.stale,
    }),
    [decision],
  );
}

function sameDecision(a: Decision, b: Decision): boolean {
  if (a === b) return true;
  for (const key of Object.keys(b) as (keyof Decision)[]) {
    if (!Object.is(a[key], b[key])) return false;
  }
  return true;
}
