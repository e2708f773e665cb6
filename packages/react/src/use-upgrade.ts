import type { Decision } from '@keymaster/sdk';
import { useEffect, useState } from 'react';
import { useCustomerStore } from './keymaster-context.js';
import { useEntitlement } from './use-entitlement.js';

/** A plan that would allow the feature, as `POST /v1/check` suggests it (price in minor units). */
export type UpgradePlan = NonNullable<Decision['upgrade']>['plans'][number];

/** What `useUpgrade` answers. */
export interface UpgradeState {
  /** False when allowed or still loading: there is nothing to upsell. */
  denied: boolean;
  /** The cheapest published plans that would allow it; empty while asking and when there are none. */
  plans: UpgradePlan[];
  /** Denied, and the server's suggestions have not arrived yet. */
  pending: boolean;
  /** The server's decision the plans came from, or null. */
  remote: Decision | null;
  /** Why the server could not be asked (the paywall then shows no plans). */
  error: Error | null;
}

/**
 * The plans that would let the provider's customer use `feature`, for an upsell. The local
 * decision cannot know them (the SDK's snapshot has no catalog), so when it is a no this asks
 * the server (`checkRemote`, i.e. `POST /v1/check`): once, and again when the reason, limit or
 * balance of the no changes.
 *
 * @example
 * const { denied, plans } = useUpgrade('sso');
 * if (denied) return <p>Available on {plans.map((p) => p.name).join(' or ')}</p>;
 */
export function useUpgrade(feature: string, options: { quantity?: number } = {}): UpgradeState {
  const store = useCustomerStore('useUpgrade');
  const { decision, allowed, loading } = useEntitlement(feature, options);
  const denied = !loading && !allowed;
  const { client, customer } = store;
  const quantity = options.quantity;
  // Every snapshot pushed for the customer (a change to any feature) makes new decision objects;
  // only a different no is worth another request. Answers are tagged with the no they answer,
  // so one for an earlier no reads as pending at once.
  const asked = `${decision.reason}:${decision.limit}:${decision.balance}`;
  const [answer, setAnswer] = useState<{ for: string; remote: Decision | null; error: Error | null } | null>(null);

  useEffect(() => {
    if (!denied || client === null) return;
    let current = true;
    client.checkRemote({ customer, feature, ...(quantity === undefined ? {} : { quantity }) }).then(
      (remote) => current && setAnswer({ for: asked, remote, error: null }),
      (error: unknown) =>
        current &&
        setAnswer({ for: asked, remote: null, error: error instanceof Error ? error : new Error(String(error)) }),
    );
    return () => {
      current = false;
    };
  }, [denied, client, customer, feature, quantity, asked]);

  const answered = denied && answer !== null && answer.for === asked ? answer : null;
  return {
    denied,
    plans: answered?.remote?.upgrade?.plans ?? [],
    pending: denied && answered === null && client !== null,
    remote: answered?.remote ?? null,
    error: answered?.error ?? null,
  };
}
