import type { FeatureType } from '../catalog/feature.js';
import type { Overage, Reset } from '../catalog/plan.js';
import type { SubscriptionStatus } from '../customers/subscription.js';
import type { JsonValue } from '../json.js';
import type { BillingAnchor, Period } from './periods.js';

/**
 * Where the deciding terms of an entitlement came from; `default` is the feature's default
 * variant, answering when no layer above it did.
 */
export type EntitlementSource = 'plan' | 'addon' | 'targeting' | 'grant' | 'default';

/** Why an entitlement is not enabled. */
export type Denial = 'feature_disabled' | 'no_entitlement' | 'subscription_inactive';

/** What one customer may do with one feature at one instant: the result of `resolve`. */
export interface Entitlement {
  feature: string;
  type: FeatureType;
  enabled: boolean;
  denial: Denial | null;
  /** Units allowed per period (metered) or in total (gauge); null when unlimited or not counted. */
  limit: number | null;
  unlimited: boolean;
  reset: Reset | null;
  window: string | null;
  overage: Overage | null;
  value: JsonValue | null;
  source: EntitlementSource | null;
  /** The subscription's billing cycle, for `billing_period` resets. */
  billing: BillingAnchor | null;
  /**
   * The usage period containing the instant of resolution, for a metered feature that resets:
   * computed once here rather than on every decision (the snapshot expires at its end).
   */
  period: Period | null;
  /**
   * Units left on the customer's active one-off credit grants for this feature, on top of the
   * period's allowance and drawn after it (metered, limited, enabled entitlements; else 0).
   */
  credits: number;
}

/** Every feature's entitlement for one customer, valid until `validUntil` (epoch ms). */
export interface CustomerEntitlements {
  customerId: string;
  planKey: string | null;
  planVersion: number | null;
  subscriptionStatus: SubscriptionStatus | null;
  entitlements: ReadonlyMap<string, Entitlement>;
  /**
   * The first instant at which the answer may change by the passage of time alone (a grant
   * starts or expires, a trial or a scheduled cancellation ends). Infinity when none.
   */
  validUntil: number;
}
